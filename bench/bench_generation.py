"""Generation throughput on the default teacher: by hand vs both continuous-batching engines.

    .venv/bin/python bench/bench_generation.py [--prompts 32] [--new-tokens 64]

Side by side in one process, greedy, the same 32 chat prompts x 64 new tokens:
  (a) with ``--solo``: one prompt at a time through ``model.generate`` (float32);
  (b) ``model.generate`` on all prompts as one left-padded batch (float32), what a user
      would write by hand: the baseline;
  (c) ``TransformersBackend`` in its default config (``core.dtype.serving_dtype``: bf16 on
      CPUs with native bf16, else float32; the default batching engine) serving the
      prompts as concurrent requests from threads, the way the arena and the API server
      send them;
  (d) the same with the other batching engine (ours in ``core.backends.batching`` or
      transformers' continuous batching, ``core.backends.library_batching``), same dtype;
  (e) ours in float32, the old default, when the default dtype is not float32.
(b), (c) and (d) run interleaved ``--repeats`` times (2) and the faster run of each is kept,
because the CPU is shared and one slow moment should not decide the ratio.
Tokens/s counts answer tokens up to EOS (what a user receives), so padding and rows
that run on after their EOS count as waste. The GFLOP/s counts the matrix products
each run really needed: 2 x parameters per answer token, 2 x (parameters - output
head) per prompt token actually computed (padding excluded; a prompt start shared by
ours counted once). TTFT is when a request's first token is available to its caller:
(a) and (b) return nothing before the end. The share of this machine's matrix-multiply
peak is measured here, in the same run and dtype.
Then teacher vs a layer-dropped student through ``core.compare``: each side's time to
first token alone and in the pair. The last line is ``default/batched-fp32: R.Rx`` (c over b).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from core.backends.threads import in_fresh_thread  # noqa: E402
from core.backends.transformers_backend import (  # noqa: E402
    DEFAULT_BATCHING,
    TransformersBackend,
)
from core.compare import compare_all  # noqa: E402
from core.dtype import native_bf16, serving_dtype  # noqa: E402
from core.generation import ChatRequest, GenerationParams  # noqa: E402
from core.models import DEFAULT_TEACHER, load_causal_lm, resolve_model  # noqa: E402

TOPICS = [
    "the water cycle",
    "photosynthesis",
    "how a bicycle works",
    "why we sleep",
    "the moon's phases",
    "compound interest",
    "how vaccines work",
    "the French revolution",
    "black holes",
    "recycling",
    "the internet",
    "volcanoes",
    "a healthy breakfast",
    "learning a language",
    "the stock market",
    "electric cars",
    "rainbows",
    "bees",
    "the pyramids",
    "chess openings",
    "climate change",
    "coffee",
    "the human heart",
    "earthquakes",
    "solar panels",
    "sourdough bread",
    "the Olympics",
    "tides",
    "password safety",
    "jazz",
    "glaciers",
    "the printing press",
]


def prompts(n: int) -> list[ChatRequest]:
    styles = [
        "Explain {} to a ten-year-old.",
        "Give three facts about {}.",
        "Write a short paragraph about {}.",
        "What should everyone know about {}?",
    ]
    return [
        ChatRequest.from_prompt(styles[i % 4].format(TOPICS[i % len(TOPICS)])) for i in range(n)
    ]


def matmul_peak(dtype: torch.dtype, size: int = 1024, seconds: float = 2.0) -> float:
    """GFLOP/s of a square matrix product in this dtype, now, on this machine."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - start) / 1e9


def answer_tokens(rows: torch.Tensor, eos: int) -> int:
    """Tokens up to and without the first EOS in each row."""
    total = 0
    for row in rows.tolist():
        total += row.index(eos) if eos in row else len(row)
    return total


def by_hand(model, tok, requests, new_tokens: int, batch: bool) -> dict:
    texts = [
        tok.apply_chat_template(
            [m.model_dump() for m in r.messages], tokenize=False, add_generation_prompt=True
        )
        for r in requests
    ]
    groups = [texts] if batch else [[t] for t in texts]
    start, tokens, ttfts, prompt_tokens = time.perf_counter(), 0, [], 0
    for group in groups:
        enc = tok(group, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
        tokens += answer_tokens(out[:, enc["input_ids"].shape[1] :], tok.eos_token_id)
        prompt_tokens += int(enc["attention_mask"].sum())
        ttfts += [time.perf_counter() - start] * len(group)
    return {
        "seconds": time.perf_counter() - start,
        "tokens": tokens,
        "ttft": ttfts,
        "prompt_tokens": prompt_tokens,
    }


def serve_once(model, tok, batching: str, requests, new_tokens: int) -> dict:
    """One run of ``concurrent`` on a fresh, warmed-up backend, closed afterwards, so that
    its threads (and their OpenMP workers) do not outlive the run and slow the next side.
    Its bf16 weights are packed as loading a spec does (``core.backends.prepack``)."""
    backend = TransformersBackend.from_model(
        model, tok, name=DEFAULT_TEACHER, batching=batching, prepack=True
    )
    try:
        backend.generate(requests[:1], GenerationParams(max_new_tokens=4))  # warm
        return concurrent(backend, requests, new_tokens)
    finally:
        backend.close()


def concurrent(backend: TransformersBackend, requests, new_tokens: int) -> dict:
    params = GenerationParams(max_new_tokens=new_tokens)
    gate = threading.Barrier(len(requests) + 1)
    ttft: list[float] = [0.0] * len(requests)
    tokens: list[int] = [0] * len(requests)

    def client(i: int) -> None:
        gate.wait()
        for chunk in backend.stream_chunks(requests[i], params):
            if tokens[i] == 0 and chunk.tokens:
                ttft[i] = time.perf_counter() - start
            tokens[i] += chunk.tokens

    computed_before = _computed_prompt_tokens(backend)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    gate.wait()
    for thread in threads:
        thread.join()
    prompt_tokens = _computed_prompt_tokens(backend) - computed_before
    return {
        "seconds": time.perf_counter() - start,
        "tokens": sum(tokens),
        "ttft": ttft,
        "prompt_tokens": prompt_tokens,
    }


def _computed_prompt_tokens(backend: TransformersBackend) -> int:
    """Prompt tokens the backend really ran (a shared start counts once)."""
    engine = backend.engine
    return engine.prefill_tokens + (engine.prefixes.computed_tokens if engine.prefixes else 0)


def fastest(runs: list[dict]) -> dict:
    return max(runs, key=lambda run: run["tokens"] / run["seconds"])


def report(
    label: str,
    run: dict,
    flops_per_token: tuple[float, float] | None = None,
    peak: float | None = None,
) -> float:
    rate = run["tokens"] / run["seconds"]
    line = (
        f"{label:<34} {rate:8.1f} tokens/s  ({run['tokens']} tokens, {run['seconds']:.1f} s)  "
        f"TTFT median {statistics.median(run['ttft']):.2f} s, max {max(run['ttft']):.2f} s"
    )
    if flops_per_token and peak:
        per_prompt, per_answer = flops_per_token
        gflops = (
            (per_prompt * run["prompt_tokens"] + per_answer * run["tokens"]) / run["seconds"] / 1e9
        )
        line += f"  {gflops:.0f} GFLOP/s = {100 * gflops / peak:.0f}% of matmul peak"
    print(line, flush=True)
    return rate


def student_of(model, keep=(0, 4, 8, 12, 16, 20, 25, 29)):
    """The quick preset's starting student: the teacher with 8 of 30 layers kept (not trained)."""
    student = copy.deepcopy(model)
    student.model.layers = torch.nn.ModuleList(student.model.layers[i] for i in keep)
    for i, layer in enumerate(student.model.layers):
        layer.self_attn.layer_idx = i
    student.config.num_hidden_layers = len(keep)
    if hasattr(student.config, "layer_types") and student.config.layer_types:
        student.config.layer_types = [student.config.layer_types[i] for i in keep]
    return student


def pair_ttfts(teacher, student, new_tokens: int) -> None:
    params = GenerationParams(max_new_tokens=new_tokens)
    requests = prompts(3)
    alone = {"teacher": [], "student": []}
    paired = {"teacher": [], "student": []}
    for request in requests:
        alone["teacher"].append(compare_all(request, teacher, _Idle(), params).a.ttft_s)
        alone["student"].append(compare_all(request, _Idle(), student, params).b.ttft_s)
        both = compare_all(request, teacher, student, params)
        paired["teacher"].append(both.a.ttft_s)
        paired["student"].append(both.b.ttft_s)
        rates = f"tokens/s teacher {both.a.tokens_per_s:.1f}, student {both.b.tokens_per_s:.1f}"
    for side in ("teacher", "student"):
        print(
            f"compare TTFT {side:<8} alone {statistics.median(alone[side]):.3f} s, "
            f"in the pair {statistics.median(paired[side]):.3f} s (median of {len(requests)})"
        )
    print(f"compare last pair: {rates}")


class _Idle:
    """A side that answers nothing at once, to time the other side alone through compare()."""

    def info(self):
        from core.backends import BackendInfo

        return BackendInfo(name="idle", engine="none")

    def stream(self, request, params):
        return iter(())

    def stream_chunks(self, request, params):
        from core.backends import chunks_from_deltas

        return chunks_from_deltas(())

    def generate(self, requests, params):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument(
        "--repeats", type=int, default=2, help="Interleaved runs of (b), (c), (d); best kept."
    )
    parser.add_argument(
        "--solo", action="store_true", help="Also time (a), one prompt at a time (slow)."
    )
    args = parser.parse_args()
    # Every torch computation of this process runs in a thread that ends afterwards
    # (in_fresh_thread), as the backend does: an idle OpenMP pool left in this thread would
    # slow whichever side runs next (core.backends.threads).
    model, tok = in_fresh_thread(
        load_causal_lm, resolve_model(DEFAULT_TEACHER), device="cpu", dtype="float32"
    )
    requests = prompts(args.prompts)
    n_params, n_embed = model.num_parameters(), model.get_input_embeddings().weight.numel()
    # Per prompt token: every matmul but the output head; per answer token: all of them.
    flops = (2.0 * (n_params - n_embed), 2.0 * n_params)
    default = serving_dtype(device="cpu")
    print(
        f"default teacher {n_params / 1e6:.1f}M parameters; {args.prompts} prompts x "
        f"{args.new_tokens} new tokens, greedy; torch threads {torch.get_num_threads()}; "
        f"machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    print(
        f"default config: dtype {default} (native bf16: {native_bf16('cpu')}), "
        f"batching '{DEFAULT_BATCHING}'",
        flush=True,
    )
    peaks = {
        "float32": in_fresh_thread(matmul_peak, torch.float32),
        "bfloat16": in_fresh_thread(matmul_peak, torch.bfloat16),
    }
    print(
        f"matmul peak now: float32 {peaks['float32']:.0f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s",
        flush=True,
    )
    if args.solo:
        report(
            "(a) one at a time, model.generate",
            in_fresh_thread(by_hand, model, tok, requests, args.new_tokens, False),
        )
    served = (
        model
        if default == "float32"
        else in_fresh_thread(lambda: copy.deepcopy(model).to(getattr(torch, default)))
    )
    pair = in_fresh_thread(lambda: (copy.deepcopy(served), student_of(served)))  # unpacked
    other = "library" if DEFAULT_BATCHING == "ours" else "ours"
    weights = {DEFAULT_BATCHING: served, other: in_fresh_thread(lambda: copy.deepcopy(served))}
    runs: dict[str, list[dict]] = {"b": [], DEFAULT_BATCHING: [], other: []}
    for _ in range(args.repeats):  # interleaved, best of each: the CPU is shared and noisy
        runs["b"].append(in_fresh_thread(by_hand, model, tok, requests, args.new_tokens, True))
        for name, weights_of in weights.items():
            runs[name].append(serve_once(weights_of, tok, name, requests, args.new_tokens))
    rate_b = report(
        "(b) padded batch, model.generate fp32", fastest(runs["b"]), flops, peaks["float32"]
    )
    rates = {
        name: report(
            f"({'c' if name == DEFAULT_BATCHING else 'd'}) {name} batching, {default}"
            + (" (default)" if name == DEFAULT_BATCHING else ""),
            fastest(runs[name]),
            flops,
            peaks[default],
        )
        for name in weights
    }
    best = max(rates.values())
    print(
        f"library/ours, same dtype ({default}): {rates['library'] / rates['ours']:.2f}x;  "
        f"default engine / best engine: {rates[DEFAULT_BATCHING] / best:.2f}x",
        flush=True,
    )
    if default != "float32":
        fp32 = TransformersBackend.from_model(model, tok, name=DEFAULT_TEACHER)
        rate32 = report(
            "(e) ours, float32 (the old default)",
            concurrent(fp32, requests, args.new_tokens),
            flops,
            peaks["float32"],
        )
        print(f"old default (float32 ours)/batched-fp32: {rate32 / rate_b:.1f}x", flush=True)
        fp32.close()
    teacher = TransformersBackend.from_model(pair[0], tok, name=DEFAULT_TEACHER, prepack=True)
    student = TransformersBackend.from_model(pair[1], tok, name="student-8-layers", prepack=True)
    pair_ttfts(teacher, student, args.new_tokens)
    print(f"default/batched-fp32: {rates[DEFAULT_BATCHING] / rate_b:.1f}x")


if __name__ == "__main__":
    main()
