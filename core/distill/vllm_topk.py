"""The teacher's top-k cache from vLLM: ``prompt_logprobs`` on the teacher-forced sequences.

    rows = vllm_topk_rows(backend, k=64)                  # backend: a VLLMBackend
    cache = build_topk_cache(None, sequences, folder, k=64, topk_rows=rows, vocab=V, ...)

One vLLM pass per sequence, no second copy of the teacher in transformers. The cache stores, for
position ``j``, the teacher's distribution over the token at ``j + 1``. vLLM's
``prompt_logprobs[i]`` is the distribution over prompt token ``i`` given the tokens before it
(entry 0 is ``None``), so row ``j`` is ``prompt_logprobs[j + 1]`` for ``j < n - 1``; the last row
comes from the one generated token's ``logprobs[0]``. Each vLLM entry holds the top-k plus the
actual token (k + 1 entries when it is outside the top k); ``rows_from_output`` keeps the k most
likely and folds the rest into the tail bucket, exactly as ``core.distill.losses.topk_of``.
vLLM must be started with ``max_logprobs >= k`` (``VLLMBackend`` passes 64 by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import BackendError


def rows_from_output(output, n: int, k: int) -> tuple[Any, Any, Any]:
    """(ids ``[n, k]`` int64, log-probs ``[n, k]`` float32, tail ``[n]`` float32) of one
    sequence of ``n`` tokens from a vLLM ``RequestOutput``."""
    import numpy as np

    prompt = output.prompt_logprobs or []
    last = (output.outputs[0].logprobs or [None])[0]
    steps = [prompt[j + 1] if j + 1 < len(prompt) else None for j in range(n - 1)] + [last]
    ids = np.zeros((n, k), dtype=np.int64)
    logprobs = np.zeros((n, k), dtype=np.float32)
    for j, step in enumerate(steps):
        if not step or len(step) < k:
            raise BackendError(
                "vllm_logprobs_missing",
                f"vLLM returned {len(step or {})} log-probs at position {j}, fewer than top-k {k}",
                hint="start vLLM with max_logprobs >= topk",
            )
        best = sorted(step.items(), key=lambda item: -float(item[1].logprob))[:k]
        ids[j] = [int(t) for t, _ in best]
        logprobs[j] = [float(lp.logprob) for _, lp in best]
    return ids, logprobs, tail_logprob(logprobs)


def tail_logprob(logprobs) -> Any:
    """log(1 - sum exp(top-k)) per row, clamped away from log(0) as ``losses.topk_of`` does."""
    import numpy as np

    top = logprobs.astype(np.float64)
    peak = top.max(axis=-1, keepdims=True)
    head = np.minimum(peak[..., 0] + np.log(np.exp(top - peak).sum(axis=-1)), -1e-7)
    return np.log(-np.expm1(head)).astype(np.float32)


def vllm_topk_rows(backend, *, k: int) -> Callable[[list], list[tuple[Any, Any, Any]]]:
    """A ``topk_rows`` function for ``build_topk_cache`` that asks ``backend.score_prompts``."""

    def rows(batch: list) -> list[tuple[Any, Any, Any]]:
        outputs = backend.score_prompts([s.input_ids for s in batch], k)
        return [
            rows_from_output(out, len(s.input_ids), k)
            for out, s in zip(outputs, batch, strict=True)
        ]

    return rows


def cache_with_vllm(engine, teacher_spec, config, data, progress):
    """Build the run's top-k cache with the vLLM engine that wrote the teacher data (before it
    is closed), into the folder ``training.build_dataset`` then finds complete. ``engine()``
    returns the backend; it is called only when the cache is missing (other ranks, and a
    second run, find it complete and start no engine)."""
    import time

    from core.distill.cache import MANIFEST, build_topk_cache
    from core.distill.data import read_teacher_data
    from core.distill.placement import teacher_tokenizer
    from core.distill.training import topk_cache_folder, training_sequences

    tokenizer = teacher_tokenizer(teacher_spec)
    sequences = training_sequences(config, tokenizer, read_teacher_data(data.path))
    folder = topk_cache_folder(config, data, sequences)
    if (folder / MANIFEST).is_file():
        return None
    backend = engine()
    started = time.perf_counter()
    cache = build_topk_cache(
        None,
        sequences,
        folder,
        k=config.topk,
        batch_size=config.gen_batch_size,
        progress=progress,
        topk_rows=vllm_topk_rows(backend, k=config.topk),
        vocab=len(tokenizer),
    )
    progress.note(
        f"top-k cache from vLLM: k={cache.k}, {cache.tokens} tokens "
        f"({time.perf_counter() - started:.1f} s) in {folder}"
    )
    return cache
