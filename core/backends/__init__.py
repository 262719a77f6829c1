"""Generation backends behind one protocol (``core.backends.protocol``), and the factory.

    backend = backend_for(resolve_model("smollm2-135m-instruct"))
    try:
        for delta in backend.stream(ChatRequest.from_prompt("Hi"), GenerationParams()):
            print(delta, end="")
    finally:
        backend.close()

``backend_for`` picks vLLM when CUDA and vllm are present, an OpenAI-compatible
client for ``source="openai"`` specs, and transformers otherwise. It imports the backend
modules inside the function; they import ``core.backends.protocol``, never this package.
"""

from __future__ import annotations

from core.backends.protocol import (
    Backend,
    BackendHealth,
    BackendInfo,
    GenerationResult,
    StreamChunk,
    chunks_from_deltas,
    text_deltas,
)
from core.specs import ModelSpec

__all__ = [
    "Backend",
    "BackendHealth",
    "BackendInfo",
    "GenerationResult",
    "StreamChunk",
    "backend_for",
    "chunks_from_deltas",
    "text_deltas",
]


def backend_for(spec: ModelSpec, *, engine: str | None = None, **kwargs) -> Backend:
    """The right backend for a spec: openai for servers, vLLM on CUDA when installed, else
    transformers. The caller closes it."""
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
