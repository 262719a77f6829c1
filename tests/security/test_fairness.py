"""One huge prompt must not stall everyone (issue 14, problem 6): with an 8k-token prompt
arriving, another user's 64-token answer takes at most 2x its time alone.

A random 2-layer Llama with an 8k context; both timings are taken side by side in this
process (the machine may be loaded: the ratio is what is asserted).
"""

from __future__ import annotations

import time

import pytest

from core.generation import GenerationParams

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def long_context_model():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def engine_for(model, **kwargs):
    from core.backends.batching import BatchEngine

    return BatchEngine(model, eos_ids=set(), pad_id=0, decode=lambda ids: "x" * len(ids), **kwargs)


def answer_time(engine, long_prompt: list[int] | None) -> float:
    """Seconds for a 64-token answer, alone or while ``long_prompt`` is being prefilled."""
    params = GenerationParams(max_new_tokens=64)
    long_job = None
    if long_prompt is not None:
        before = engine.prefill_tokens
        long_job = engine.submit(long_prompt, params, 4)
        while engine.prefill_tokens == before:  # the long prefill has started
            time.sleep(0.001)
    started = time.perf_counter()
    result = engine.submit(list(range(5, 37)), params, 64).result()
    spent = time.perf_counter() - started
    assert result.tokens == 64
    if long_job is not None:
        long_job.result()
    return spent


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine, idle OpenMP threads spinning after the
    big prefill matmuls would otherwise slow the small decode steps that follow."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_long_prompt_does_not_stall_other_users(long_context_model, one_thread):
    prompt = [(i * 7) % 500 + 3 for i in range(8000)]
    chunked = engine_for(long_context_model)
    whole = engine_for(long_context_model, prefill_chunk=10**9)  # no chunking: the old way
    try:
        answer_time(chunked, None)  # warm up
        alone = min(answer_time(chunked, None) for _ in range(2))
        with_long = min(answer_time(chunked, prompt) for _ in range(2))
        stalled = answer_time(whole, prompt)
    finally:
        chunked.close()
        whole.close()
    print(
        f"64-token answer: alone {alone:.3f} s, with an 8k prompt arriving {with_long:.3f} s "
        f"(x{with_long / alone:.2f}); unchunked {stalled:.3f} s (x{stalled / alone:.2f})"
    )
    assert with_long <= 2 * alone
