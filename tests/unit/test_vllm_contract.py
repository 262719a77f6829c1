"""One contract, two backends: TransformersBackend and VLLMBackend (over the CPU engine double in
tests/unit/vllm_fake.py, which decodes with the same tiny model) give the same answers, token
counts, finish reasons, usage and per-token log-probs, EOS and stop strings included.
"""

from __future__ import annotations

import pytest

from core.backends.transformers_backend import TransformersBackend
from core.backends.vllm_backend import VLLMBackend
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec
from tests.unit.vllm_fake import FakeEngine, SamplingParams

PROMPTS = ["Hello", "Paris is", "def add(a, b):"]


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir):
    from core.models import load_causal_lm, resolve_model

    return load_causal_lm(resolve_model(str(tiny_model_dir)))


def pair(tiny_lm, eos_ids: set[int] | None = None):
    model, tokenizer = tiny_lm
    eos = eos_ids or {tokenizer.eos_token_id}
    hf = TransformersBackend.from_model(model, tokenizer, name="tiny")
    hf.engine.eos_ids = set(eos)
    vllm = VLLMBackend.from_engine(
        FakeEngine(model, tokenizer),
        tokenizer,
        ModelSpec(name="tiny", source="local"),
        sampling_params=SamplingParams,
        eos_ids=eos,
        poll_s=0.05,
    )
    return hf, vllm


def answers(backend, params: GenerationParams):
    return [backend.generate([ChatRequest.from_prompt(p)], params)[0] for p in PROMPTS]


def streamed(backend, params: GenerationParams):
    return [list(backend.stream_chunks(ChatRequest.from_prompt(p), params)) for p in PROMPTS]


def check_same(hf, vllm, params: GenerationParams) -> None:
    a, b = answers(hf, params), answers(vllm, params)
    for x, y in zip(a, b, strict=True):
        assert (y.text, y.token_ids, y.tokens, y.finish_reason, y.prompt_tokens) == (
            x.text,
            x.token_ids,
            x.tokens,
            x.finish_reason,
            x.prompt_tokens,
        )
    for backend, results in ((hf, a), (vllm, b)):
        for chunks, result in zip(streamed(backend, params), results, strict=True):
            last = chunks[-1]
            assert last.finish_reason == result.finish_reason
            assert last.prompt_tokens == result.prompt_tokens
            assert all(c.finish_reason is None for c in chunks[:-1])
            assert sum(c.tokens for c in chunks) == result.tokens
            assert "".join(c.text for c in chunks) == result.text


def test_length_limited_answers_match(tiny_lm):
    hf, vllm = pair(tiny_lm)
    try:
        check_same(hf, vllm, GenerationParams(max_new_tokens=8))
    finally:
        hf.close(), vllm.close()


def test_eos_is_not_part_of_the_answer_in_either_backend(tiny_lm):
    hf, _ = pair(tiny_lm)
    free = answers(hf, GenerationParams(max_new_tokens=8))
    hf.close()
    eos = {r.token_ids[3] for r in free}  # make a token the model does produce end the answer
    hf, vllm = pair(tiny_lm, eos)
    try:
        params = GenerationParams(max_new_tokens=8, top_logprobs=3)
        check_same(hf, vllm, params)
        for result in answers(vllm, params):
            assert result.finish_reason == "stop" and result.tokens <= 3
            assert not set(result.token_ids) & eos
            assert len(result.top_logprobs or []) == result.tokens
    finally:
        hf.close(), vllm.close()


def test_stop_strings_cut_the_text_the_same_way(tiny_lm):
    hf, vllm = pair(tiny_lm)
    try:
        free = answers(hf, GenerationParams(max_new_tokens=10))
        stop = free[0].text[len(free[0].text) // 2 :][:2]
        assert stop and stop in free[0].text
        check_same(hf, vllm, GenerationParams(max_new_tokens=10, stop=[stop]))
    finally:
        hf.close(), vllm.close()


def test_top_logprobs_match(tiny_lm):
    hf, vllm = pair(tiny_lm)
    try:
        params = GenerationParams(max_new_tokens=5, top_logprobs=4)
        for x, y in zip(answers(hf, params), answers(vllm, params), strict=True):
            assert [[t for t, _ in step] for step in y.top_logprobs] == [
                [t for t, _ in step] for step in x.top_logprobs
            ]
            flat = [lp for step in x.top_logprobs for _, lp in step]
            other = [lp for step in y.top_logprobs for _, lp in step]
            assert other == pytest.approx(flat, abs=1e-4)
    finally:
        hf.close(), vllm.close()
