"""TransformersBackend: batching keeps answers, concurrent callers share steps, sampling, stops,
limits.

Tiny random 2-layer Llama (max_position_embeddings 512), float32, CPU: seconds.
"""

from __future__ import annotations

import threading

import pytest

from core.backends import Backend, backend_for
from core.backends.transformers_backend import TransformersBackend
from core.errors import InputError
from core.generation import ChatRequest, GenerationParams
from core.models import resolve_model

PROMPTS = [
    "Hello",
    "The quick brown fox jumps over the lazy dog.",
    "Paris is",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
    "def add(a, b):",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir) -> TransformersBackend:
    backend = backend_for(resolve_model(str(tiny_model_dir)))
    yield backend
    backend.close()


def ask(prompt: str) -> ChatRequest:
    return ChatRequest.from_prompt(prompt)


def solo(backend, prompt: str, params: GenerationParams):
    return backend.generate([ask(prompt)], params)[0]


def test_backend_follows_the_protocol(tiny):
    assert isinstance(tiny, Backend)
    info = tiny.info()
    assert info.engine == "transformers" and info.dtype == "float32" and info.parameters > 0


def test_batched_greedy_answers_equal_one_at_a_time(tiny):
    params = GenerationParams(max_new_tokens=12)
    alone = [solo(tiny, p, params) for p in PROMPTS]
    together = tiny.generate([ask(p) for p in PROMPTS], params)
    assert [r.token_ids for r in together] == [r.token_ids for r in alone]
    assert all(r.tokens == 12 and r.finish_reason == "length" for r in together)
    assert all(r.prompt_tokens and r.prompt_tokens > 3 for r in together)


def test_concurrent_callers_share_decode_steps_and_keep_their_answers(tiny):
    params = GenerationParams(max_new_tokens=24)
    expected = {p: solo(tiny, p, params).token_ids for p in PROMPTS}
    start = threading.Barrier(len(PROMPTS) * 2)
    answers: dict[int, list[int]] = {}

    def caller(i: int) -> None:
        start.wait()
        answers[i] = solo(tiny, PROMPTS[i % len(PROMPTS)], params).token_ids

    steps_before = tiny.engine.steps
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(PROMPTS) * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(answers[i] == expected[PROMPTS[i % len(PROMPTS)]] for i in range(len(threads)))
    one_by_one = len(threads) * (params.max_new_tokens - 1)
    assert tiny.engine.steps - steps_before < one_by_one / 3  # batched, not queued one by one


def test_a_request_arriving_mid_batch_joins_and_keeps_its_answer(tiny):
    long_params, short_params = (
        GenerationParams(max_new_tokens=60),
        GenerationParams(max_new_tokens=8),
    )
    expected = solo(tiny, PROMPTS[3], short_params).token_ids
    stream = tiny.stream_chunks(ask(PROMPTS[1]), long_params)
    next(stream)  # the long answer is decoding now
    late = solo(tiny, PROMPTS[3], short_params)
    rest = list(stream)
    assert late.token_ids == expected
    assert rest[-1].finish_reason == "length"
    assert tiny.engine.peak_rows >= 2


def test_stream_concatenates_to_the_generated_text(tiny):
    params = GenerationParams(max_new_tokens=20, temperature=1.0, seed=5)
    deltas = list(tiny.stream(ask("Hello"), params))
    assert len(deltas) > 1
    assert "".join(deltas) == solo(tiny, "Hello", params).text


def test_same_seed_same_text_other_seed_other_text(tiny):
    first = solo(tiny, "Paris is", GenerationParams(max_new_tokens=20, temperature=1.0, seed=7))
    again = solo(tiny, "Paris is", GenerationParams(max_new_tokens=20, temperature=1.0, seed=7))
    other = solo(tiny, "Paris is", GenerationParams(max_new_tokens=20, temperature=1.0, seed=8))
    assert first.token_ids == again.token_ids
    assert first.token_ids != other.token_ids


def test_stop_string_ends_the_answer_and_is_never_streamed(tiny):
    params = GenerationParams(max_new_tokens=30, temperature=1.0, seed=11)
    full = solo(tiny, "Hello", params).text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert len(stop) == 2 and stop.strip(), full
    cut = full[: full.index(stop)]
    stopped = params.model_copy(update={"stop": [stop]})
    result = solo(tiny, "Hello", stopped)
    deltas = list(tiny.stream(ask("Hello"), stopped))
    assert result.text == cut and result.finish_reason == "stop"
    assert "".join(deltas) == cut


def test_eos_ends_the_answer(tiny):
    params = GenerationParams(max_new_tokens=12, temperature=1.0, seed=3)
    ids = solo(tiny, "Hello", params).token_ids
    end = next(
        i for i, t in enumerate(ids) if i >= 2 and t not in ids[:i]
    )  # first new token after 2
    saved = set(tiny.engine.eos_ids)
    tiny.engine.eos_ids = saved | {ids[end]}  # pretend that token is the model's end-of-answer
    try:
        result = solo(tiny, "Hello", params)
    finally:
        tiny.engine.eos_ids = saved
    assert result.token_ids == ids[:end] and result.finish_reason == "stop"
    # the text is what those tokens decode to (minus half a character at the very end, if any)
    assert result.text == tiny.tokenizer.decode(ids[:end], skip_special_tokens=True).rstrip(
        "\ufffd"
    )


def test_top_logprobs_rank_the_greedy_choice_first(tiny):
    result = solo(tiny, "Hello", GenerationParams(max_new_tokens=6, top_logprobs=3))
    assert result.top_logprobs is not None and len(result.top_logprobs) == 6
    for chosen, top in zip(result.token_ids, result.top_logprobs, strict=True):
        assert len(top) == 3 and top[0][0] == chosen
        values = [lp for _, lp in top]
        assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
    assert solo(tiny, "Hello", GenerationParams(max_new_tokens=2)).top_logprobs is None


def test_greedy_and_sampled_requests_in_one_batch(tiny):
    greedy = GenerationParams(max_new_tokens=10)
    expected = solo(tiny, "Paris is", greedy).token_ids
    out: dict[str, list[int]] = {}
    sampler = threading.Thread(
        target=lambda: out.setdefault(
            "s",
            solo(
                tiny, "Hello", GenerationParams(max_new_tokens=10, temperature=1.5, seed=1)
            ).token_ids,
        )
    )
    sampler.start()
    out["g"] = solo(tiny, "Paris is", greedy).token_ids
    sampler.join(timeout=60)
    assert out["g"] == expected and len(out["s"]) == 10


def test_prompt_longer_than_the_context_is_refused(tiny):
    with pytest.raises(InputError) as error:
        tiny.generate([ask("fox " * 600)], GenerationParams(max_new_tokens=4))
    assert error.value.code == "prompt_too_long" and "512" in error.value.message


def test_answer_is_capped_to_fit_the_context(tiny):
    prompt = "fox " * 470
    room = 512 - len(tiny.encode(ask(prompt)))
    assert 0 < room < 64
    result = solo(tiny, prompt, GenerationParams(max_new_tokens=64))
    assert result.tokens == room and result.finish_reason == "length"


def test_bad_input_is_refused_before_anything_runs(tiny):
    with pytest.raises(InputError, match="empty"):
        tiny.generate(
            [ask("fine"), ChatRequest(messages=[{"role": "user", "content": "  "}])],
            GenerationParams(),
        )
    for bad in ({"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}, {"max_new_tokens": 0}):
        with pytest.raises(InputError):
            GenerationParams(**bad)


def test_a_stream_abandoned_early_frees_its_row(tiny):
    stream = tiny.stream(ask("Hello"), GenerationParams(max_new_tokens=200))
    next(stream)
    stream.close()
    after = solo(tiny, "Paris is", GenerationParams(max_new_tokens=5))
    assert after.tokens == 5


def test_bfloat16_backend_answers(tiny_model_dir):
    backend = TransformersBackend(resolve_model(str(tiny_model_dir)), dtype="bfloat16")
    try:
        result = solo(backend, "Hello", GenerationParams(max_new_tokens=5))
        assert backend.info().dtype == "bfloat16" and result.tokens == 5
    finally:
        backend.close()


@pytest.mark.gpu
def test_vllm_backend_answers_like_the_protocol_says(tiny_model_dir):
    pytest.importorskip("vllm")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from core.backends.vllm_backend import VLLMBackend

    backend = VLLMBackend(resolve_model(str(tiny_model_dir)))
    params = GenerationParams(max_new_tokens=8, top_logprobs=2)
    results = backend.generate([ask(p) for p in PROMPTS], params)
    assert [r.tokens for r in results] == [8] * len(PROMPTS)
    assert all(len(r.top_logprobs or []) == 8 for r in results)
    streamed = "".join(backend.stream(ask(PROMPTS[0]), GenerationParams(max_new_tokens=8)))
    assert (
        streamed == backend.generate([ask(PROMPTS[0])], GenerationParams(max_new_tokens=8))[0].text
    )
    assert backend.info().engine == "vllm"


def test_shared_prompt_start_is_computed_once_and_answers_do_not_change(tiny_model_dir):
    system = "You are a helpful assistant. Answer briefly and kindly."
    requests = [ChatRequest.from_prompt(p, system=system) for p in PROMPTS]
    params = GenerationParams(max_new_tokens=8)
    sharing = TransformersBackend(resolve_model(str(tiny_model_dir)))
    plain = TransformersBackend(resolve_model(str(tiny_model_dir)))
    plain.engine.prefixes = None
    try:
        together = sharing.generate(requests, params)
        later = sharing.generate(requests[:1], params)[0]
        assert sharing.engine.prefixes.hits == 1  # the lone request reused the stored start
        assert [r.token_ids for r in together] == [
            r.token_ids for r in plain.generate(requests, params)
        ]
        assert later.token_ids == together[0].token_ids
    finally:
        sharing.close()
        plain.close()


def _batcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "stillhouse-batcher"]


def test_close_stops_the_scheduler_thread_and_frees_the_model(tiny_model_dir):
    import gc
    import weakref

    from core.errors import BackendError

    before = set(_batcher_threads())
    backend = TransformersBackend(resolve_model(str(tiny_model_dir)))
    assert backend.health().ok
    solo(backend, "Hello", GenerationParams(max_new_tokens=2))
    [thread] = set(_batcher_threads()) - before
    model = weakref.ref(backend.model)
    backend.close()
    gc.collect()
    assert not thread.is_alive() and model() is None
    assert not backend.health().ok and backend.info().engine == "transformers"
    with pytest.raises(BackendError, match="closed"):
        solo(backend, "Hello", GenerationParams(max_new_tokens=2))
    backend.close()  # twice is fine
