"""Guards for serve-api: body size and JSON depth before parsing, and cancellation on
client disconnect.

    app.add_middleware(BodyLimit, max_bytes=1_000_000, max_depth=64)
    result = await collect_until_disconnect(chunks, request)   # non-streamed answer
    events = stream_until_disconnect(sse_events, chunks)       # streamed answer

``BodyLimit`` answers 413 as soon as the declared or received body passes ``max_bytes``
(nothing is parsed, at most ``max_bytes`` are held), and 400 for JSON nested deeper than
``max_depth`` (Python's parser would otherwise hit its recursion limit). The backend's
chunks are pulled one at a time in a worker thread; when the client goes away the
iterator is closed after the chunk in progress, which frees the request's batch row
within one decode step.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from core.backends import GenerationResult, StreamChunk

_END = object()
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deeply the JSON text nests arrays and objects (string contents ignored)."""
    if body.count(b"[") + body.count(b"{") < 2:
        return body.count(b"[") + body.count(b"{")
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def error_body(message: str, code: str) -> bytes:
    """OpenAI's error shape."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return json.dumps({"error": error}).encode("utf-8")


class BodyLimit:
    """ASGI middleware: refuse oversized or too deeply nested request bodies before parsing."""

    def __init__(self, app: Any, *, max_bytes: int, max_depth: int) -> None:
        self.app, self.max_bytes, self.max_depth = app, max_bytes, max_depth

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_big = f"request body is over the limit of {self.max_bytes} bytes"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _reject(send, 413, too_big, "body_too_large")
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_bytes:
                await _reject(send, 413, too_big, "body_too_large")
                return
            parts.append(part)
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        if json_depth(body) > self.max_depth:
            nested = f"JSON is nested more than {self.max_depth} levels deep"
            await _reject(send, 400, nested, "too_deep")
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: waits for the client's disconnect

        await self.app(scope, replay, send)


async def _reject(send: Any, status: int, message: str, code: str) -> None:
    payload = error_body(message, code)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def pull(items: Iterator[Any]) -> Any:
    """The next item of a blocking iterator, from a worker thread (``_END`` when done).

    If the caller is cancelled, the wait lasts until the item in progress is ready, so the
    iterator can be closed safely afterwards."""
    import anyio

    return await anyio.to_thread.run_sync(next, items, _END)


async def stream_until_disconnect(
    events: Iterator[str], chunks: Iterator[StreamChunk]
) -> AsyncIterator[str]:
    """Server-sent events from a blocking generator; closing (a disconnect) frees the row."""
    try:
        while (event := await pull(events)) is not _END:
            yield event
    finally:
        _close(events)
        _close(chunks)


async def collect_until_disconnect(chunks: Iterator[StreamChunk], request: Any) -> GenerationResult:
    """The whole answer from ``chunks``; if the client disconnects first, the generation is
    cancelled (after the chunk in progress) and an empty result comes back."""
    import anyio

    text: list[str] = []
    tokens, prompt, finish = 0, None, "stop"
    failure: BaseException | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        try:
            while (chunk := await pull(chunks)) is not _END:
                text.append(chunk.text)
                tokens += chunk.tokens
                prompt = chunk.prompt_tokens or prompt
                finish = chunk.finish_reason or finish
        except Exception as error:  # raised after the task group, not inside a group
            failure = error
        finally:
            _close(chunks)
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return GenerationResult(
        text="".join(text), tokens=tokens, finish_reason=finish, prompt_tokens=prompt
    )


def _close(items: Iterator[Any]) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        try:
            close()
        except ValueError:  # still running in its thread: it is dropped when that returns
            pass
