"""Attacks on serve-api (issue 14, problems 2, 6 and 7), replayed over raw HTTP on loopback."""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import pytest

from core.generation import ChatRequest, GenerationParams

pytestmark = pytest.mark.timeout(300)
HELLO = [{"role": "user", "content": "Hello"}]


def post(server, body: dict, **kwargs) -> httpx.Response:
    full = {"model": "tiny-llama", "messages": HELLO, "max_tokens": 4, **body}
    return httpx.post(f"{server.url}/v1/chat/completions", json=full, timeout=60, **kwargs)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"temperature": 1e-300}, "temperature"),
        ({"temperature": 6}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "at least 1"),
        ({"max_completion_tokens": 0}, "at least 1"),
        ({"seed": 2**64}, "seed"),
        ({"seed": 10**30}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_sampling_parameters_are_a_400_in_openai_form(api, change, needle):
    for stream in (False, True):
        response = post(api, {**change, "stream": stream})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert needle in error["message"] and error["type"] == "invalid_request_error"


def test_nan_temperature_is_a_400(api):
    raw = json.dumps({"model": "tiny-llama", "messages": HELLO}).replace(
        "}", ', "temperature": NaN}'
    )
    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        content=raw[: raw.rindex("}") + 1],
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 400 and "temperature" in response.json()["error"]["message"]


def test_one_bad_request_does_not_fail_the_others_in_its_batch(api):
    """Problem 2: temperature 1e-300 used to turn every concurrent answer into a 500."""
    bodies = [{"temperature": 0.7, "seed": i, "max_tokens": 24} for i in range(3)]
    bodies.insert(1, {"temperature": 1e-300, "max_tokens": 24})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda b: post(api, b), bodies))
    assert [r.status_code for r in responses] == [200, 400, 200, 200]


def test_a_deliberately_broken_row_fails_alone(backend):
    """A row whose sampling fails inside the engine (parameters that bypassed the edge
    checks) gets an error; the rows batched with it finish with their normal answers."""
    request = ChatRequest.from_prompt("Paris is")
    good = GenerationParams(max_new_tokens=12)
    expected = backend.generate([request], good)[0].text
    broken = GenerationParams.model_construct(**{**good.model_dump(), "temperature": 1e-300})
    ids = backend.encode(request)
    jobs = [backend.engine.submit(ids, good, 12) for _ in range(2)]
    jobs.insert(1, backend.engine.submit(ids, broken, 12))
    results, errors = [], []
    for job in jobs:
        try:
            results.append(job.result().text)
        except Exception as error:
            errors.append(str(error))
    assert results == [expected, expected]
    assert len(errors) == 1 and "for this request" in errors[0]


def test_a_row_whose_prefill_fails_fails_alone(backend):
    """A prompt the model cannot run (a token id outside its vocabulary) fails its own
    request; the prompts that arrived in the same group are prefilled one by one and finish."""
    request = ChatRequest.from_prompt("One, two, three")
    params = GenerationParams(max_new_tokens=8)
    expected = backend.generate([request], params)[0].text
    ids = backend.encode(request)
    vocab = backend.model.config.vocab_size
    jobs = [backend.engine.submit(i, params, 8) for i in (ids, [*ids[:-1], vocab + 7], ids)]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result().text)
        except Exception as error:
            outcomes.append(f"error: {error}")
    assert outcomes[0] == outcomes[2] == expected and outcomes[1].startswith("error")


def test_bodies_over_the_limit_are_refused_before_parsing(api):
    big = "x" * 2_000_000
    response = post(api, {"messages": [{"role": "user", "content": big}]})
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: refused once 1 MB has arrived
        yield b'{"model": "tiny-llama", "messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 100_000

    response = httpx.post(f"{api.url}/v1/chat/completions", content=chunks(), timeout=60)
    assert response.status_code == 413


def test_deeply_nested_json_is_a_clean_400(api):
    body = '{"model": "tiny-llama", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 400 and "nested" in response.json()["error"]["message"]


def steps_settle(engine, wait_s: float = 0.3) -> int:
    """Engine steps once they stop moving."""
    last = -1
    while engine.steps != last:
        last = engine.steps
        time.sleep(wait_s)
    return last


def test_a_client_that_disconnects_mid_stream_stops_its_generation(slow_api, slow_backend):
    """Problem 6: an abandoned stream used to keep generating for 70 s."""
    engine = slow_backend.engine
    start = steps_settle(engine)
    body = {"model": "tiny-llama", "messages": HELLO, "max_tokens": 400, "stream": True}
    with httpx.stream("POST", f"{slow_api.url}/v1/chat/completions", json=body) as response:
        for index, _ in enumerate(response.iter_lines()):
            if index >= 6:
                break  # hang up
    gone = time.monotonic()
    end = steps_settle(engine, wait_s=0.2)
    assert end - start < 20, f"{end - start} decode steps for a stream left after ~3 tokens"
    assert time.monotonic() - gone < 3


def test_a_client_that_disconnects_before_a_plain_answer_stops_it(slow_api, slow_backend):
    engine = slow_backend.engine
    start = steps_settle(engine)
    body = {"model": "tiny-llama", "messages": HELLO, "max_tokens": 400}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{slow_api.url}/v1/chat/completions", json=body, timeout=0.5)
    end = steps_settle(engine, wait_s=0.2)
    assert end - start < 40, f"{end - start} decode steps for an answer nobody waits for"
