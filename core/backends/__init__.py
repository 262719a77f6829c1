"""Generation backends behind one protocol.

    backend = backend_for(resolve_model("smollm2-135m-instruct"))
    for delta in backend.stream(ChatRequest.from_prompt("Hi"), GenerationParams()):
        print(delta, end="")

``backend_for`` picks vLLM when CUDA and vllm are present, an OpenAI-compatible
client for ``source="openai"`` specs, and transformers otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec


class BackendInfo(BaseModel):
    """What a backend serves, for the UI and the ledger."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Model name.")
    engine: str = Field(description="transformers, vllm or openai.")
    parameters: int | None = Field(default=None, description="Parameter count, when known.")
    device: str = Field(default="cpu", description="cpu, cuda or remote.")
    dtype: str | None = Field(default=None, description="Weights dtype, when known.")


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
    """One engine protocol: batched generation, streaming, and a description of itself."""

    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]: ...

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]: ...

    def info(self) -> BackendInfo: ...


def backend_for(spec: ModelSpec, *, engine: str | None = None, **kwargs) -> Backend:
    """The right backend for a spec: openai for servers, vLLM on CUDA when installed, else
    transformers."""
    if spec.source == "openai" or engine == "openai":
        from core.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(spec, **kwargs)
    if engine == "vllm" or (engine is None and _vllm_usable()):
        from core.backends.vllm_backend import VLLMBackend

        return VLLMBackend(spec, **kwargs)
    from core.backends.transformers_backend import TransformersBackend

    return TransformersBackend(spec, **kwargs)


def _vllm_usable() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def stream_chunks(
    backend: Backend, request: ChatRequest, params: GenerationParams
) -> Iterator[StreamChunk]:
    """Chunks with token counts from any backend: its own ``stream_chunks`` or one chunk per
    delta."""
    native = getattr(backend, "stream_chunks", None)
    if native is not None:
        yield from native(request, params)
        return
    for delta in backend.stream(request, params):
        yield StreamChunk(text=delta, tokens=1)
    yield StreamChunk(finish_reason="stop")
