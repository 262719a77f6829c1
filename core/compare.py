"""Two models answer the same chat at once, side by side.

    for event in compare(request, teacher, student, GenerationParams(max_new_tokens=64)):
        if event.kind == "delta":
            print(event.side, event.text)          # new text for side "a" or "b"
        elif event.kind == "done":
            print(event.side, event.stats.ttft_s, event.stats.tokens_per_s)
        else:                                      # "error": that side failed, the other goes on
            print(event.side, event.error)

Each side streams in its own thread into one queue, so events come out in the
order they happen and a slow (or stuck, or failing) side never holds back the
other. Per side: time to first token (from the start of the comparison), tokens,
tokens per second after the first token, and the full text.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.backends.protocol import Backend
from core.generation import ChatRequest, GenerationParams

Side = Literal["a", "b"]


class SideStats(BaseModel):
    """How one side did."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name (from the backend's info).")
    text: str = Field(default="", description="The whole answer.")
    tokens: int = Field(default=0, description="Generated tokens.")
    ttft_s: float | None = Field(
        default=None, description="Seconds from the start to the first token."
    )
    total_s: float = Field(default=0.0, description="Seconds from the start to the last token.")
    tokens_per_s: float = Field(
        default=0.0,
        description="Decoding speed: tokens after the first per second after the first.",
    )
    finish_reason: str | None = Field(default=None, description="stop, length or error.")


class CompareEvent(BaseModel):
    """Something that happened on one side: new text, the end, or an error."""

    model_config = ConfigDict(extra="forbid")

    side: Side = Field(description="a or b.")
    kind: Literal["delta", "done", "error"] = Field(description="delta, done or error.")
    text: str = Field(default="", description="New text (delta events).")
    stats: SideStats | None = Field(
        default=None, description="The side's figures (done and error events)."
    )
    error: str | None = Field(default=None, description="What went wrong (error events).")


class CompareResult(BaseModel):
    """Both sides, finished."""

    model_config = ConfigDict(extra="forbid")

    a: SideStats = Field(description="Side a.")
    b: SideStats = Field(description="Side b.")


def compare(
    request: ChatRequest, backend_a: Backend, backend_b: Backend, params: GenerationParams
) -> Iterator[CompareEvent]:
    """Stream both backends' answers at once; events in the order they happen."""
    request.check()
    events: queue.Queue[CompareEvent] = queue.Queue()
    stop = threading.Event()
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=_run_side,
            args=(side, backend, request, params, events, stop, start),
            name=f"compare-{side}",
            daemon=True,
        )
        for side, backend in (("a", backend_a), ("b", backend_b))
    ]
    for thread in threads:
        thread.start()
    finished = 0
    try:
        while finished < 2:
            event = events.get()
            finished += event.kind != "delta"
            yield event
    finally:
        stop.set()  # a consumer that walks away stops both sides at their next token


def compare_all(
    request: ChatRequest, backend_a: Backend, backend_b: Backend, params: GenerationParams
) -> CompareResult:
    """Run ``compare`` to the end and return both sides' figures."""
    stats: dict[str, SideStats] = {}
    for event in compare(request, backend_a, backend_b, params):
        if event.stats is not None:
            stats[event.side] = event.stats
    return CompareResult(a=stats["a"], b=stats["b"])


def _run_side(
    side: Side,
    backend: Backend,
    request: ChatRequest,
    params: GenerationParams,
    events: queue.Queue,
    stop: threading.Event,
    start: float,
) -> None:
    stats = SideStats(name=_name(backend))
    seen_first = False
    parts: list[str] = []
    chunks = backend.stream_chunks(request, params)
    try:
        for chunk in chunks:
            if stop.is_set():
                return
            now = time.perf_counter()
            if not seen_first and (chunk.tokens or chunk.text):
                seen_first = True
                stats.ttft_s = now - start
            stats.tokens += chunk.tokens
            stats.total_s = now - start
            stats.finish_reason = chunk.finish_reason or stats.finish_reason
            if chunk.text:
                parts.append(chunk.text)
                events.put(CompareEvent(side=side, kind="delta", text=chunk.text))
    except Exception as exc:  # the other side goes on; this one reports why it stopped
        stats.text, stats.finish_reason = "".join(parts), "error"
        message = str(exc) or exc.__class__.__name__
        events.put(CompareEvent(side=side, kind="error", error=message, stats=stats))
        return
    finally:
        getattr(chunks, "close", lambda: None)()
    stats.text = "".join(parts)
    ttft = stats.ttft_s
    if ttft is not None and stats.tokens > 1 and stats.total_s > ttft:
        stats.tokens_per_s = (stats.tokens - 1) / (stats.total_s - ttft)
    elif stats.total_s > 0:
        stats.tokens_per_s = stats.tokens / stats.total_s
    events.put(CompareEvent(side=side, kind="done", stats=stats))


def _name(backend: Backend) -> str:
    try:
        return backend.info().name
    except Exception:
        return backend.__class__.__name__
