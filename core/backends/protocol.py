"""The one engine protocol every generation backend follows, and the types it speaks.

    from core.backends.protocol import Backend, StreamChunk

    def answer(backend: Backend, request, params) -> str:
        try:
            return "".join(c.text for c in backend.stream_chunks(request, params))
        finally:
            backend.close()

A backend batches (``generate``), streams text (``stream``) and chunks with token counts
(``stream_chunks``), describes itself (``info``), reports whether it can still answer
(``health``) and lets go of what it holds (``close``: threads, models, HTTP clients). Backend
modules import this module, never the ``core.backends`` package, so the package's factory can
import them without a cycle. ``text_deltas`` makes ``stream`` out of ``stream_chunks``;
``chunks_from_deltas`` goes the other way, for backends (and test doubles) that only know
text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.generation import ChatRequest, GenerationParams


class BackendInfo(BaseModel):
    """What a backend serves, for the UI and the ledger."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name.")
    engine: str = Field(description="transformers, vllm or openai.")
    parameters: int | None = Field(default=None, description="Parameter count, when known.")
    device: str = Field(default="cpu", description="cpu, cuda or remote.")
    dtype: str | None = Field(default=None, description="Weights dtype, when known.")


class BackendHealth(BaseModel):
    """Whether a backend can answer now, and if not, why."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(description="True when the backend can take requests.")
    detail: str = Field(default="", description="Why not (or what was checked), in one line.")


class GenerationResult(BaseModel):
    """One finished answer."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The generated text.")
    tokens: int = Field(description="Number of generated tokens.")
    finish_reason: str = Field(default="stop", description="stop (EOS or stop string) or length.")
    token_ids: list[int] = Field(default_factory=list, description="Generated token ids.")
    top_logprobs: list[list[tuple[int, float]]] | None = Field(
        default=None, description="Per generated token, the top-k (token id, log-prob) pairs."
    )
    prompt_tokens: int | None = Field(default=None, description="Tokens in the prompt, when known.")


class StreamChunk(BaseModel):
    """A piece of a streamed answer: new text, how many tokens it covers, and the end."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", description="New text since the last chunk (may be empty).")
    tokens: int = Field(default=0, description="Generated tokens this chunk accounts for.")
    finish_reason: str | None = Field(
        default=None, description="Set on the last chunk: stop (EOS or stop string) or length."
    )
    prompt_tokens: int | None = Field(
        default=None, description="Tokens in the prompt (last chunk, when known)."
    )


@runtime_checkable
class Backend(Protocol):
    """One engine protocol: batched generation, streaming, health, and closing."""

    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]:
        """Answer every request (batched where the engine can)."""
        ...

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        """Text deltas of one answer as they are decided."""
        ...

    def stream_chunks(
        self, request: ChatRequest, params: GenerationParams
    ) -> Iterator[StreamChunk]:
        """Chunks of one answer with token counts; the last one carries the finish reason."""
        ...

    def info(self) -> BackendInfo:
        """What this backend serves."""
        ...

    def health(self) -> BackendHealth:
        """Whether the backend can take requests now (cheap; never raises)."""
        ...

    def close(self) -> None:
        """Let go of threads, models and connections; later calls fail. Safe to call twice."""
        ...


def text_deltas(chunks: Iterable[StreamChunk]) -> Iterator[str]:
    """The non-empty texts of a chunk stream: ``stream`` for any backend with ``stream_chunks``."""
    for chunk in chunks:
        if chunk.text:
            yield chunk.text


def chunks_from_deltas(deltas: Iterable[str]) -> Iterator[StreamChunk]:
    """One chunk per text delta (one token each, as far as anyone can tell), then a stop."""
    for delta in deltas:
        yield StreamChunk(text=delta, tokens=1)
    yield StreamChunk(finish_reason="stop")
