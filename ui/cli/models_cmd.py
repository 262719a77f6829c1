"""``stillhouse models list|prepare`` and ``stillhouse generate``."""

from __future__ import annotations

import sys

import typer

models_app = typer.Typer(
    help="List and prepare models (bundled defaults, local folders, GGUF files).",
    no_args_is_help=True,
)


@models_app.command("list")
def list_models() -> None:
    """List the models stillhouse knows by name, with source and licence."""
    from core.models import known_models

    rows = [(s.name, s.kind, s.source, s.license, s.description) for s in known_models()]
    width = max(len(r[0]) for r in rows)
    for name, kind, source, license, description in rows:
        print(f"{name:<{width}}  {kind:<10} {source:<8} {license:<12} {description}")


@models_app.command("prepare")
def prepare(
    name: str = typer.Argument(
        "smollm2-135m-instruct", help="Model name, folder, .gguf file or HF id."
    ),
) -> None:
    """Make a model ready to load (convert a GGUF once); print its folder and weights SHA-256."""
    from core.models import offline_env, prepare_model, resolve_model

    offline_env()
    spec = resolve_model(name)
    prepared = prepare_model(spec, progress=True)
    print(f"path    {prepared.path}")
    print(f"sha256  {prepared.weights_sha256}")
    if spec.kind == "embedding":
        _export_onnx(prepared.path)


def _export_onnx(folder) -> None:
    """Export an embedding model to ONNX once, where the onnx extra is installed."""
    from audit.similarity.metrics import embedding_backends, onnx_available

    if not onnx_available():
        print(f"onnx    not exported: {embedding_backends()['onnx']}")
        return
    from audit.similarity.onnx_embedder import export_onnx

    print(f"onnx    {export_onnx(folder)}")


def generate(
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Model to answer."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="The user's message."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="Most tokens to generate."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 is greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass in (0, 1]."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for sampling."),
) -> None:
    """Answer one prompt with the chat template applied, streaming the text to stdout."""
    from core.generation import ChatRequest, GenerationParams
    from core.models import offline_env, resolve_model

    params = GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
    )
    request = ChatRequest.from_prompt(prompt)
    spec = resolve_model(model)
    offline_env()
    from core.backends import backend_for

    backend = backend_for(spec)
    for delta in backend.stream(request, params):
        sys.stdout.write(delta)
        sys.stdout.flush()
    sys.stdout.write("\n")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("generate")(generate)
