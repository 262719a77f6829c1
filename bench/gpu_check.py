"""Serving half of bench/gpu_check.sh: the default teacher and its quick student on one GPU.

    python bench/gpu_check.py serve --student smollm2-distilled [--requests 32] [--tokens 64]

With vllm installed: both models in vLLM engines in this one process (GPU memory split by weight
size, ``core.backends.memory``), 32 concurrent requests to each, then both engines closed (the
freed memory is printed), then HF ``generate`` on the same GPU with the same 32 prompts as one
batch. Prints tokens/s of each and, last, ``vllm/hf tokens/s: R.Rx`` (the teacher's). Without
vllm: says so, and compares the transformers batching backend in bf16 with HF ``generate``
(``transformers/hf tokens/s: R.Rx``). Greedy, fixed prompts, no network.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Write a short poem about a lighthouse.",
    "List three ways to save water at home.",
    "What is the difference between a list and a tuple in Python?",
    "Give me a recipe for a simple tomato soup.",
    "Summarise the plot of Romeo and Juliet in three sentences.",
    "How do vaccines train the immune system?",
    "Describe a good morning routine for a student.",
]


def concurrent_tokens_per_s(backend, n: int, tokens: int) -> float:
    """n requests at once from n threads; generated tokens / wall seconds."""
    from core.generation import ChatRequest, GenerationParams

    params = GenerationParams(max_new_tokens=tokens, temperature=0.0)
    backend.generate([ChatRequest.from_prompt("Hello")], GenerationParams(max_new_tokens=4))
    counts: list[int] = []

    def ask(i: int) -> None:
        request = ChatRequest.from_prompt(PROMPTS[i % len(PROMPTS)] + f" (#{i})")
        counts.append(backend.generate([request], params)[0].tokens)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def hf_generate_tokens_per_s(spec, n: int, tokens: int) -> float:
    """The same n prompts as one left-padded batch through HF generate, bf16 on the GPU."""
    import torch

    from core.models import load_causal_lm

    model, tokenizer = load_causal_lm(spec, device="cuda", dtype="bfloat16")
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": PROMPTS[i % len(PROMPTS)] + f" (#{i})"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for i in range(n)
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    batch = batch.to("cuda")
    with torch.inference_mode():
        model.generate(**batch, max_new_tokens=4, do_sample=False)
        torch.cuda.synchronize()
        started = time.perf_counter()
        out = model.generate(**batch, max_new_tokens=tokens, do_sample=False)
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    new = out[:, batch["input_ids"].shape[1] :]
    eos = tokenizer.eos_token_id
    generated = int(sum(int((row != eos).sum()) for row in new))
    del model
    from core.backends.memory import free_cuda_memory

    free_cuda_memory()
    return generated / wall


def serve(student: str, n: int, tokens: int) -> int:
    import torch

    from core.backends.memory import free_cuda_memory, served_shares
    from core.models import resolve_model

    teacher_spec, student_spec = resolve_model("smollm2-135m-instruct"), resolve_model(student)
    if importlib.util.find_spec("vllm") is not None:
        from core.backends.vllm_backend import VLLMBackend

        specs = served_shares([teacher_spec, student_spec])
        print(
            "GPU memory shares: "
            + ", ".join(f"{s.name} {s.gpu_memory_utilization:.2f}" for s in specs),
            flush=True,
        )
        engines = [VLLMBackend(s) for s in specs]  # two engines, one process, one GPU
        rates = [concurrent_tokens_per_s(b, n, tokens) for b in engines]
        for spec, rate in zip(specs, rates, strict=True):
            print(f"vllm   {spec.name}: {rate:,.0f} tokens/s ({n} concurrent requests)")
        before = torch.cuda.mem_get_info()[0]
        for engine in engines:
            engine.close()
        free_cuda_memory()
        freed = (torch.cuda.mem_get_info()[0] - before) / 2**30
        print(f"close(): {freed:.1f} GiB of GPU memory back")
        hf = hf_generate_tokens_per_s(teacher_spec, n, tokens)
        print(f"hf     {teacher_spec.name}: {hf:,.0f} tokens/s (generate, batch {n}, bf16)")
        print(f"vllm/hf tokens/s: {rates[0] / hf:.1f}x")
        return 0
    print("vllm not installed: skipping the vLLM serving check (pip install '.[gpu]')")
    from core.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(teacher_spec, device="cuda", dtype="bfloat16")
    ours = concurrent_tokens_per_s(backend, n, tokens)
    backend.close()
    free_cuda_memory()
    hf = hf_generate_tokens_per_s(teacher_spec, n, tokens)
    print(f"transformers batching {teacher_spec.name}: {ours:,.0f} tokens/s ({n} concurrent, bf16)")
    print(f"hf generate           {teacher_spec.name}: {hf:,.0f} tokens/s (batch {n}, bf16)")
    print(f"transformers/hf tokens/s: {ours / hf:.1f}x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["serve"])
    parser.add_argument("--student", default="smollm2-distilled")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device; nothing to serve")
        return 0
    return serve(args.student, args.requests, args.tokens)


if __name__ == "__main__":
    sys.exit(main())
