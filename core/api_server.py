"""An OpenAI-compatible HTTP endpoint over any ``Backend``.

    app = create_app(backend)                       # FastAPI app
    serve(backend, host="127.0.0.1", port=8011)     # blocking, uvicorn

Routes: ``GET /v1/models``, ``POST /v1/chat/completions`` (with ``"stream": true``
answers as server-sent events: ``data: {chat.completion.chunk}`` lines, then
``data: [DONE]``), ``GET /health``. Handlers are plain (sync) functions, so FastAPI
runs each request in its thread pool: concurrent requests reach the backend at once
and a batching backend answers them together. Errors come back in OpenAI's shape,
``{"error": {"message", "type", "code"}}``: 400 for bad input (empty prompt, prompt
too long, temperature < 0, top_p outside (0, 1]), 404 for an unknown model, 500
when generation fails. Unsupported: n > 1, tools, logprobs in the response.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.backends.protocol import Backend, GenerationResult, StreamChunk
from core.errors import InputError, NotFoundError, StillhouseError
from core.generation import ChatMessage, ChatRequest, GenerationParams


class StreamOptions(BaseModel):
    """OpenAI's stream_options."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(default=False, description="Send a last chunk with token usage.")


class ChatCompletionRequest(BaseModel):
    """The body of POST /v1/chat/completions (fields we do not use are ignored, as OpenAI clients
    send many)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="Served model name (see /v1/models).")
    messages: list[ChatMessage] = Field(description="The conversation, oldest first.")
    max_tokens: int | None = Field(default=None, description="Most tokens to generate.")
    max_completion_tokens: int | None = Field(default=None, description="Newer name of max_tokens.")
    temperature: float | None = Field(default=None, description="0 for greedy (the default here).")
    top_p: float | None = Field(default=None, description="Nucleus sampling mass in (0, 1].")
    seed: int | None = Field(default=None, description="Seed for sampling.")
    stop: str | list[str] | None = Field(default=None, description="Stop string(s).")
    stream: bool = Field(default=False, description="Answer as server-sent events.")
    stream_options: StreamOptions | None = Field(default=None, description="Streaming options.")
    n: int = Field(default=1, description="Number of answers; only 1 is supported.")


def to_internal(
    body: ChatCompletionRequest, default_max_tokens: int
) -> tuple[ChatRequest, GenerationParams]:
    """Our request and parameters from an OpenAI body; raises InputError on bad values."""
    if body.n != 1:
        raise InputError("unsupported_n", f"n must be 1, got {body.n}")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    params = GenerationParams(
        max_new_tokens=body.max_completion_tokens or body.max_tokens or default_max_tokens,
        temperature=0.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        seed=body.seed,
        stop=stop,
    )
    return ChatRequest(messages=body.messages).check(), params


def create_app(backend: Backend, *, model_name: str | None = None, default_max_tokens: int = 256):
    """A FastAPI app serving ``backend`` under ``model_name`` (default: the backend's name)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    name = model_name or backend.info().name
    created = int(time.time())
    app = FastAPI(title="stillhouse OpenAI-compatible API")

    @app.exception_handler(StillhouseError)
    def _stillhouse_error(request: Request, exc: StillhouseError) -> JSONResponse:
        status = (
            404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, InputError) else 500
        )
        kind = "invalid_request_error" if status < 500 else "server_error"
        return JSONResponse(_error(exc.message, kind, exc.code), status_code=status)

    @app.exception_handler(RequestValidationError)
    def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"invalid request: {where}: {first.get('msg', 'bad value')}"
        return JSONResponse(
            _error(message, "invalid_request_error", "bad_request"), status_code=400
        )

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": name}

    @app.get("/v1/models")
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": created, "owned_by": "stillhouse"}],
        }

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatCompletionRequest):
        if body.model != name:
            raise NotFoundError(
                "model_not_found",
                f"model '{body.model}' is not served here; this server serves '{name}'",
            )
        request, params = to_internal(body, default_max_tokens)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if not body.stream:
            result = backend.generate([request], params)[0]
            return _completion(completion_id, name, result)
        chunks = backend.stream_chunks(request, params)
        first = next(chunks)  # bad input fails here, as a 400, before any event is sent
        usage = bool(body.stream_options and body.stream_options.include_usage)
        events = _sse(completion_id, name, first, chunks, usage)
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return app


def serve(
    backend: Backend,
    *,
    host: str = "127.0.0.1",
    port: int = 8011,
    model_name: str | None = None,
    log_level: str = "info",
) -> None:
    """Run the endpoint with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        create_app(backend, model_name=model_name), host=host, port=port, log_level=log_level
    )


def _error(message: str, kind: str, code: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _completion(completion_id: str, name: str, result: GenerationResult) -> dict:
    prompt = result.prompt_tokens or 0
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": result.tokens,
            "total_tokens": prompt + result.tokens,
        },
    }


def _sse(
    completion_id: str,
    name: str,
    first: StreamChunk,
    rest: Iterator[StreamChunk],
    include_usage: bool,
) -> Iterator[str]:
    """chat.completion.chunk events: the role, then text deltas, the finish reason, [DONE]."""
    created = int(time.time())

    def event(delta: dict, finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(payload)}\n\n"

    yield event({"role": "assistant", "content": ""})
    tokens, prompt = 0, 0
    try:
        for chunk in _chain(first, rest):
            tokens += chunk.tokens
            prompt = chunk.prompt_tokens or prompt
            if chunk.text or chunk.finish_reason:
                yield event({"content": chunk.text} if chunk.text else {}, chunk.finish_reason)
    except StillhouseError as exc:  # mid-stream failure: say so in the stream, then end it
        yield f"data: {json.dumps(_error(exc.message, 'server_error', exc.code))}\n\n"
    if include_usage:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": tokens,
                "total_tokens": prompt + tokens,
            },
        }
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"


def _chain(first: StreamChunk, rest: Iterator[StreamChunk]) -> Iterator[StreamChunk]:
    yield first
    yield from rest
