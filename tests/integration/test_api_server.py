"""Our OpenAI-compatible endpoint on loopback, talked to by OpenAIBackend, the official client and
curl-like HTTP.

Also OpenAIBackend against misbehaving servers: unreachable, silent, malformed SSE,
flaky (503 then fine), and one that wants an API key. Each failure must be a clear
BackendError quickly, never a hang (pytest-timeout guards every test).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.api_server import create_app
from core.backends import backend_for
from core.backends.openai_backend import OpenAIBackend
from core.errors import BackendError, InputError
from core.generation import ChatRequest, GenerationParams
from core.models import resolve_model
from core.specs import ModelSpec
from tests.live_server import Server as LiveServer
from tests.live_server import free_port

pytestmark = pytest.mark.timeout(300)
PARAMS = GenerationParams(max_new_tokens=10, temperature=1.0, seed=2)


class Server(LiveServer):
    """The live server with its url at the OpenAI base path, ``/v1``."""

    def __init__(self, app) -> None:
        super().__init__(app, path="/v1")


def client_for(url: str, **kwargs) -> OpenAIBackend:
    spec = ModelSpec(
        name="remote",
        source="openai",
        base_url=url,
        api_model=kwargs.pop("api_model", "tiny-llama"),
    )
    return OpenAIBackend(spec, **{"timeout_s": 30, "retries": 1, "backoff_s": 0.05, **kwargs})


@pytest.fixture(scope="module")
def local(tiny_model_dir):
    backend = backend_for(resolve_model(str(tiny_model_dir)))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def served(local):
    with Server(create_app(local, model_name="tiny-llama")) as server:
        yield server


def ask(prompt: str) -> ChatRequest:
    return ChatRequest.from_prompt(prompt)


def test_openai_backend_gets_the_local_answer(served, local):
    remote = client_for(served.url)
    expected = local.generate([ask("Hello")], PARAMS)[0]
    got = remote.generate([ask("Hello")], PARAMS)[0]
    assert got.text == expected.text and got.tokens == expected.tokens == 10
    assert got.finish_reason == "length" and got.prompt_tokens == expected.prompt_tokens
    assert "".join(remote.stream(ask("Hello"), PARAMS)) == expected.text
    chunks = list(remote.stream_chunks(ask("Hello"), PARAMS))
    assert sum(c.tokens for c in chunks) == 10 and chunks[-1].finish_reason == "length"
    assert remote.health().ok
    remote.close()
    assert not remote.health().ok
    with pytest.raises(BackendError, match="closed"):
        remote.generate([ask("Hello")], PARAMS)
    assert not client_for("http://127.0.0.1:9/v1").health().ok  # nothing listens there


def test_concurrent_remote_requests_are_batched_by_the_server(served, local):
    prompts = ["Hello", "Paris is", "One, two, three", "def add(a, b):", "The quick brown fox"] * 2
    greedy = GenerationParams(max_new_tokens=16)
    expected = [local.generate([ask(p)], greedy)[0].text for p in prompts]
    steps = local.engine.steps
    got = client_for(served.url).generate([ask(p) for p in prompts], greedy)
    assert [r.text for r in got] == expected
    assert (
        local.engine.steps - steps < len(prompts) * 15 / 3
    )  # shared steps, not one request at a time


def test_official_openai_client(served, local):
    import openai

    client = openai.OpenAI(base_url=served.url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["tiny-llama"]
    messages = [{"role": "user", "content": "Hello"}]
    expected = local.generate([ask("Hello")], PARAMS)[0].text
    reply = client.chat.completions.create(
        model="tiny-llama", messages=messages, max_tokens=10, temperature=1.0, seed=2
    )
    assert reply.choices[0].message.content == expected and reply.usage.completion_tokens == 10
    stream = client.chat.completions.create(
        model="tiny-llama", messages=messages, max_tokens=10, temperature=1.0, seed=2, stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert chunks[-1].choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    "change, status, needle",
    [
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "empty"),
        ({"temperature": -1}, 400, "temperature"),
        ({"top_p": 0}, 400, "top_p"),
        ({"top_p": 1.5}, 400, "top_p"),
        ({"messages": [{"role": "user", "content": "fox " * 600}]}, 400, "512"),
        ({"model": "gpt-5"}, 404, "tiny-llama"),
        ({"messages": "hi"}, 400, "messages"),
    ],
)
def test_bad_requests_get_openai_style_errors(served, change, status, needle):
    body = {
        "model": "tiny-llama",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 4,
        **change,
    }
    for stream in (False, True):
        response = httpx.post(
            f"{served.url}/chat/completions", json={**body, "stream": stream}, timeout=60
        )
        assert response.status_code == status
        assert needle in response.json()["error"]["message"]


def test_bad_input_through_openai_backend_is_an_input_error(served):
    with pytest.raises(InputError, match="512"):
        client_for(served.url).generate([ask("fox " * 600)], PARAMS)


def test_sse_wire_format(served):
    body = {
        "model": "tiny-llama",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{served.url}/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    usage = events[-1]["usage"]
    assert usage["completion_tokens"] == 5 and usage["prompt_tokens"] > 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5


# -- misbehaving servers ----------------------------------------------------------------
def test_unreachable_server_is_a_clear_error_within_the_timeout():
    started = time.monotonic()
    with pytest.raises(BackendError) as error:
        client_for(f"http://127.0.0.1:{free_port()}/v1", connect_timeout_s=1).generate(
            [ask("Hi")], PARAMS
        )
    assert error.value.code == "server_unreachable" and "cannot reach" in error.value.message
    assert time.monotonic() - started < 20


def test_silent_server_times_out_instead_of_hanging():
    with socket.socket() as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        started = time.monotonic()
        with pytest.raises(BackendError) as error:
            list(client_for(url, timeout_s=1, retries=0).stream(ask("Hi"), PARAMS))
        assert error.value.code == "server_timeout"
        assert time.monotonic() - started < 20


def fake_server(
    lines: list[str],
    *,
    hang_after: bool = False,
    status: list[int] | None = None,
    key: str | None = None,
):
    """An app answering /v1/chat/completions with the given SSE lines (or statuses, or a key
    check)."""
    app = FastAPI()
    app.state.calls = 0

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        app.state.calls += 1
        if key and request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        if status and app.state.calls <= len(status):
            return JSONResponse(
                {"error": {"message": "busy"}}, status_code=status[app.state.calls - 1]
            )

        async def events():
            import asyncio

            for line in lines:
                yield line + "\n\n"
            if hang_after:
                await asyncio.sleep(60)

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def chunk(text: str, finish: str | None = None) -> str:
    return "data: " + json.dumps(
        {"choices": [{"delta": {"content": text}, "finish_reason": finish}]}
    )


GOOD = [chunk("Hel"), chunk("lo", "stop"), "data: [DONE]"]


@pytest.mark.parametrize(
    "lines, hang, needle",
    [
        ([chunk("Hel"), "data: {not json"], False, "not JSON"),
        (["<html><body>502 Bad Gateway</body></html>"], False, "not an event"),
        ([chunk("Hel")], False, "without a finish reason"),
        ([chunk("Hel")], True, "read timeout"),
        (['data: {"error": {"message": "out of memory"}}'], False, "out of memory"),
    ],
)
def test_malformed_streams_are_clear_errors(lines, hang, needle):
    with Server(fake_server(lines, hang_after=hang)) as server:
        backend = client_for(server.url, timeout_s=2, retries=0)
        with pytest.raises(BackendError, match=needle):
            list(backend.stream(ask("Hi"), PARAMS))


def test_busy_server_is_retried_with_backoff():
    app = fake_server(GOOD, status=[503, 503])
    with Server(app) as server:
        assert "".join(client_for(server.url, retries=2).stream(ask("Hi"), PARAMS)) == "Hello"
    assert app.state.calls == 3
    with Server(fake_server(GOOD, status=[503, 503, 503])) as server:
        with pytest.raises(BackendError, match="503"):
            list(client_for(server.url, retries=2).stream(ask("Hi"), PARAMS))


def test_api_key_comes_from_the_environment(monkeypatch):
    with Server(fake_server(GOOD, key="sekrit")) as server:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("STILLHOUSE_OPENAI_API_KEY", raising=False)
        with pytest.raises(BackendError, match="STILLHOUSE_OPENAI_API_KEY"):
            list(client_for(server.url).stream(ask("Hi"), PARAMS))
        monkeypatch.setenv("OPENAI_API_KEY", "sekrit")
        assert "".join(client_for(server.url).stream(ask("Hi"), PARAMS)) == "Hello"
        monkeypatch.setenv("STILLHOUSE_OPENAI_API_KEY", "sekrit")
        monkeypatch.setenv("OPENAI_API_KEY", "wrong")
        assert "".join(client_for(server.url).stream(ask("Hi"), PARAMS)) == "Hello"


# -- the command ----------------------------------------------------------------------------
def test_serve_api_command_answers_a_completion(tiny_model_dir, local):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "serve-api",
            "--model",
            str(tiny_model_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                models = httpx.get(f"{url}/models", timeout=2).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve-api did not come up"
                time.sleep(0.3)
        name = models["data"][0]["id"]
        body = {
            "model": name,
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 10,
            "temperature": 1.0,
            "seed": 2,
        }
        reply = httpx.post(f"{url}/chat/completions", json=body, timeout=60).json()
        assert reply["object"] == "chat.completion" and reply["usage"]["completion_tokens"] == 10
        assert (
            reply["choices"][0]["message"]["content"]
            == local.generate([ask("Hello")], PARAMS)[0].text
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_default_teacher_through_the_endpoint_answers_sensibly(default_teacher):
    import openai

    with Server(create_app(default_teacher)) as server:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="smollm2-135m-instruct",
            max_tokens=40,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        )
    assert "paris" in reply.choices[0].message.content.lower()
