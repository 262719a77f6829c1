"""``stillhouse serve-api`` (an OpenAI-compatible endpoint) and ``stillhouse compare`` (two models
side by side).

    stillhouse serve-api --model smollm2-135m-instruct --port 8011
    curl -s localhost:8011/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}]}'
    stillhouse compare --a smollm2-135m-instruct --b ./my-student --prompt "Name three colours."
"""

from __future__ import annotations

import sys

import typer

_DTYPE_HELP = (
    "Weights dtype for transformers models: float32, bfloat16 or float16 (default: bfloat16 "
    "on CUDA and on CPUs with native bf16, else float32)."
)


def _backend(name: str, dtype: str | None, gpu_memory: float | None = None):
    from core.models import offline_env, resolve_model

    spec = resolve_model(name)
    if gpu_memory is not None:
        spec = spec.model_copy(update={"gpu_memory_utilization": _check_share(gpu_memory)})
    offline_env()
    from core.backends import backend_for

    return backend_for(spec, **({"dtype": dtype} if dtype and spec.source != "openai" else {}))


def _check_share(share: float) -> float:
    from core.errors import InputError

    if not 0 < share <= 1:
        raise InputError("bad_gpu_memory", f"--gpu-memory must be in (0, 1], got {share}")
    return share


def _check_dtype(dtype: str | None) -> None:
    from core.errors import InputError

    if dtype not in (None, "float32", "bfloat16", "float16"):
        raise InputError("bad_dtype", f"--dtype must be float32, bfloat16 or float16, got {dtype}")


def serve_api(
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Model to serve."),
    port: int = typer.Option(8011, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for all)."),
    dtype: str | None = typer.Option(None, "--dtype", help=_DTYPE_HELP),
    name: str | None = typer.Option(
        None, "--name", help="Model name clients send (default: the model's)."
    ),
    gpu_memory: float | None = typer.Option(
        None, "--gpu-memory", help="Share of the GPU vLLM may take (default 0.85; vLLM only)."
    ),
    max_body_bytes: int = typer.Option(
        1_000_000, "--max-body-bytes", help="Larger request bodies get 413 before parsing."
    ),
) -> None:
    """Serve a model behind an OpenAI-compatible API (/v1/models, /v1/chat/completions,
    streaming)."""
    from core.errors import InputError

    _check_dtype(dtype)
    if not 0 < port < 65536:
        raise InputError("bad_port", f"--port must be in 1..65535, got {port}")
    if max_body_bytes < 1024:
        raise InputError("bad_max_body", f"--max-body-bytes must be >= 1024, got {max_body_bytes}")
    backend = _backend(model, dtype, gpu_memory)
    from core.api_server import serve

    served = name or backend.info().name
    print(
        f"stillhouse: serving {served} on http://{host}:{port}/v1 (OpenAI-compatible)", flush=True
    )
    serve(backend, host=host, port=port, model_name=served, max_body_bytes=max_body_bytes)


def compare_cmd(
    a: str = typer.Option(..., "--a", help="First model (name, folder or HF id)."),
    b: str = typer.Option(..., "--b", help="Second model."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="The user's message."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="Most tokens per answer."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 is greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass in (0, 1]."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for sampling."),
    dtype: str | None = typer.Option(None, "--dtype", help=_DTYPE_HELP),
) -> int:
    """Answer one prompt with two models at once; print both answers and their speed."""
    from core.generation import ChatRequest, GenerationParams

    _check_dtype(dtype)
    params = GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
    )
    request = ChatRequest.from_prompt(prompt)
    backend_a = _backend(a, dtype)
    backend_b = backend_a if b == a else _backend(b, dtype)
    from tqdm import tqdm

    from core.compare import compare

    bars = {
        side: tqdm(
            total=max_new_tokens,
            desc=f"{side}: {label}",
            unit="tok",
            position=i,
            leave=False,
            file=sys.stderr,
        )
        for i, (side, label) in enumerate((("a", a), ("b", b)))
    }
    stats, errors = {}, {}
    for event in compare(request, backend_a, backend_b, params):
        if event.kind == "delta":
            bars[event.side].update(1)
        else:
            stats[event.side] = event.stats
            errors[event.side] = event.error
    for bar in bars.values():
        bar.close()
    for side, label in (("a", a), ("b", b)):
        _print_side(side, label, stats[side], errors[side])
    return 1 if any(errors.values()) else 0


def _print_side(side: str, label: str, stats, error: str | None) -> None:
    print(f"== {side}: {label}")
    print(stats.text if not error else f"error: {error}")
    ttft = f"{stats.ttft_s:.2f} s" if stats.ttft_s is not None else "-"
    print(
        f"-- {stats.tokens} tokens, time to first token {ttft}, {stats.tokens_per_s:.1f} tokens/s, "
        f"finish {stats.finish_reason}\n"
    )


def register(app: typer.Typer) -> None:
    app.command("serve-api")(serve_api)
    app.command("compare")(compare_cmd)
