"""VLLMBackend's lifecycle on CPU, through a test double of vLLM's engine (tests/unit/vllm_fake.py):
a refused request fails only its caller, a failing step fails only the requests in flight, waits
time out and abort, a dropped stream aborts its request, and close() shuts the engine down and
lets go of it. Also the GPU memory split for two engines on one GPU.
"""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from core.backends import Backend
from core.backends.memory import GiB, split_gpu_memory
from core.backends.vllm_backend import VLLMBackend
from core.errors import BackendError, InputError
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec
from tests.unit.vllm_fake import FakeEngine, SamplingParams


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir):
    from core.models import load_causal_lm, resolve_model

    return load_causal_lm(resolve_model(str(tiny_model_dir)))


def make(tiny_lm, *, timeout_s: float = 60.0, **engine_kw):
    model, tokenizer = tiny_lm
    engine = FakeEngine(model, tokenizer, **engine_kw)
    backend = VLLMBackend.from_engine(
        engine,
        tokenizer,
        ModelSpec(name="tiny", source="local"),
        sampling_params=SamplingParams,
        eos_ids={tokenizer.eos_token_id},
        timeout_s=timeout_s,
        poll_s=0.05,
    )
    return backend, engine


def ask(prompt: str = "Hello") -> ChatRequest:
    return ChatRequest.from_prompt(prompt)


def test_backend_follows_the_protocol_and_answers(tiny_lm):
    backend, _ = make(tiny_lm)
    try:
        assert isinstance(backend, Backend)
        assert backend.info().engine == "vllm" and backend.health().ok
        result = backend.generate([ask()], GenerationParams(max_new_tokens=5))[0]
        assert result.tokens == 5 and result.finish_reason == "length" and result.prompt_tokens
    finally:
        backend.close()


def test_a_refused_request_fails_its_caller_and_the_driver_survives(tiny_lm):
    backend, engine = make(tiny_lm)
    bad = backend.encode(ask("Paris is"))
    engine.refuse = lambda ids: ValueError("token id out of range") if ids == bad else None
    try:
        with pytest.raises(BackendError, match="refused the request: token id out of range"):
            backend.generate([ask("Paris is")], GenerationParams(max_new_tokens=3))
        assert backend.health().ok
        # the next caller is served as if nothing happened
        assert backend.generate([ask()], GenerationParams(max_new_tokens=3))[0].tokens == 3
    finally:
        backend.close()


def test_a_failing_step_fails_the_requests_in_flight_not_later_ones(tiny_lm):
    backend, engine = make(tiny_lm)
    engine.fail_next_step = RuntimeError("CUDA error: illegal memory access")
    try:
        with pytest.raises(BackendError, match="vLLM failed: CUDA error"):
            backend.generate([ask()], GenerationParams(max_new_tokens=3))
        assert backend.generate([ask()], GenerationParams(max_new_tokens=3))[0].tokens == 3
        assert backend.health().ok
    finally:
        backend.close()


def test_a_wait_times_out_with_a_clear_error_and_aborts_its_request(tiny_lm):
    backend, engine = make(tiny_lm, timeout_s=0.5)
    engine.stall = True
    try:
        with pytest.raises(BackendError, match="no answer within"):
            backend.generate([ask()], GenerationParams(max_new_tokens=3))
        engine.stall = False
        assert backend.generate([ask()], GenerationParams(max_new_tokens=2))[0].tokens == 2
        assert engine.aborted == ["0"]
    finally:
        backend.close()


def test_a_dropped_stream_aborts_its_request(tiny_lm):
    backend, engine = make(tiny_lm)
    try:
        stream = backend.stream_chunks(ask(), GenerationParams(max_new_tokens=200))
        next(stream)
        stream.close()  # the browser went away
        backend.generate([ask()], GenerationParams(max_new_tokens=1))  # the driver has caught up
        assert engine.aborted == ["0"] and not engine.requests
    finally:
        backend.close()


def test_many_threads_at_once_all_get_their_answers(tiny_lm):
    backend, _ = make(tiny_lm)
    params = GenerationParams(max_new_tokens=4)
    alone = backend.generate([ask("Paris is")], params)[0].token_ids
    answers: list[list[int]] = []

    def call() -> None:
        answers.append(backend.generate([ask("Paris is")], params)[0].token_ids)

    threads = [threading.Thread(target=call) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert answers == [alone] * 8
    finally:
        backend.close()


def test_close_shuts_the_engine_down_and_lets_go_of_it(tiny_lm):
    backend, engine = make(tiny_lm)
    ref = weakref.ref(engine)
    backend.close()
    assert engine.shut_down and not backend.health().ok
    assert backend.info().name == "tiny"  # still describes what it served
    backend.close()  # twice is fine
    del engine
    gc.collect()
    assert ref() is None  # nothing holds the engine (and so its GPU memory) any more
    with pytest.raises(BackendError, match="closed"):
        backend.generate([ask()], GenerationParams(max_new_tokens=2))


def test_a_prompt_longer_than_the_context_is_refused_before_queuing(tiny_lm):
    backend, engine = make(tiny_lm, max_model_len=16)
    try:
        with pytest.raises(InputError, match="reads at most 16"):
            backend.generate(
                [ask("The quick brown fox jumps over the lazy dog.")], GenerationParams()
            )
        assert engine.added == []
    finally:
        backend.close()


def test_memory_split_gives_both_models_their_weights_and_kv_room():
    teacher, student = 15 * GiB, 1 * GiB
    shares = split_gpu_memory([teacher, student], 80 * GiB, budget=0.9)
    assert sum(shares) == pytest.approx(0.9)
    room = [s * 80 * GiB - w for s, w in zip(shares, (teacher, student), strict=True)]
    assert min(room) >= GiB  # KV cache for both
    # what is left after weights and the KV floor goes by weight size
    assert (room[0] - GiB) / teacher == pytest.approx((room[1] - GiB) / student)


def test_memory_split_refuses_models_that_cannot_share_the_gpu():
    with pytest.raises(InputError, match="need 32.0 GiB") as caught:
        split_gpu_memory([15 * GiB, 15 * GiB], 24 * GiB, budget=0.9)
    assert caught.value.hint
