"""transformers backend (CPU or CUDA): chat template, continuous batching, streaming.

    backend = TransformersBackend(resolve_model("smollm2-135m-instruct"))
    results = backend.generate([ChatRequest.from_prompt("Hi")] * 8, GenerationParams())
    for delta in backend.stream(ChatRequest.from_prompt("Hi"), GenerationParams()):
        print(delta, end="")

Thread-safe: every call, from any thread, goes to one scheduler thread
(``core.backends.batching.BatchEngine``) that runs all waiting and running requests
as one left-padded batch with a KV cache; requests that arrive while others decode
join them at the next step. ``batching="library"`` runs transformers' own continuous
batching (paged cache) instead (``core.backends.library_batching``), same contract.
Greedy (temperature 0) or seeded sampling, EOS and stop strings, per-token top-k
log-probabilities.

Context policy: a prompt that leaves no room for one new token in the model's
context (``max_position_embeddings``) is refused with ``InputError("prompt_too_long")``;
otherwise the answer is capped so that prompt + answer fit (finish_reason "length").
Nothing is truncated silently.

dtype: ``core.dtype.serving_dtype`` picks bfloat16 on CUDA and on CPUs with native bf16
(AMX / AVX512-BF16), where it runs about 1.5-4x faster, and float32 elsewhere; ``dtype=``
(``--dtype``) or ``$STILLHOUSE_DTYPE`` overrides. Greedy bf16 answers differ from float32
ones after a few tokens on some prompts (as float32 batched vs unbatched already do); the
held-out perplexity differs by well under 1%; see docs/serving.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from core.backends.chat import encode_chat, eos_id_set
from core.backends.protocol import (
    BackendHealth,
    BackendInfo,
    GenerationResult,
    StreamChunk,
    text_deltas,
)
from core.errors import BackendError, InputError
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec

BATCHING = ("ours", "library")
# Our scheduler (core.backends.batching) measured faster than the library's continuous
# batching on CPU (bench/bench_generation.py; docs/serving.md), so it stays the default.
DEFAULT_BATCHING = "ours"


class TransformersBackend:
    """Serve a causal LM with continuous batching; safe to call from many threads at once."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_batch: int = 64,
        gather_s: float = 0.01,
        batching: str = DEFAULT_BATCHING,
    ) -> None:
        from core.backends.threads import in_fresh_thread
        from core.dtype import default_device, serving_dtype

        device = device or default_device()
        dtype = serving_dtype(dtype, device)
        # Loaded in a thread that ends, so that no idle OpenMP pool slows the scheduler
        # thread's decode steps (core.backends.threads).
        model, tokenizer, self.prepacked = in_fresh_thread(_load_packed, spec, device, dtype)
        self._setup(
            spec, model, tokenizer, max_batch=max_batch, gather_s=gather_s, batching=batching
        )

    @classmethod
    def from_model(
        cls,
        model,
        tokenizer,
        spec: ModelSpec | None = None,
        *,
        name: str | None = None,
        max_batch: int = 64,
        gather_s: float = 0.01,
        batching: str = DEFAULT_BATCHING,
        prepack: bool = False,
    ) -> TransformersBackend:
        """Serve an already loaded model (a student in training, a model made in a test).

        ``prepack=True`` packs its bf16 weights as loading a spec does
        (``core.backends.prepack``): only for a model whose weights no longer change."""
        from core.backends.prepack import prepack_linears
        from core.backends.threads import in_fresh_thread

        spec = spec or ModelSpec(name=name or "in-memory", source="local")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        backend = cls.__new__(cls)
        backend.prepacked = in_fresh_thread(prepack_linears, model) if prepack else 0
        backend._setup(
            spec, model.eval(), tokenizer, max_batch=max_batch, gather_s=gather_s, batching=batching
        )
        return backend

    def _setup(
        self, spec: ModelSpec, model, tokenizer, *, max_batch: int, gather_s: float, batching: str
    ) -> None:
        from core.backends.batching import BatchEngine
        from core.backends.text import Detokenizer

        if batching not in BATCHING:
            raise InputError(
                "bad_batching", f"batching must be one of {', '.join(BATCHING)}, got {batching}"
            )

        self.spec, self.model, self.tokenizer = spec, model, tokenizer
        self._tokenizer_lock = threading.Lock()  # fast tokenizers are not safe across threads
        self._detokenizer = Detokenizer(tokenizer, self._tokenizer_lock)
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        self.batching = batching
        if batching == "library":
            from core.backends.library_batching import LibraryEngine

            self.engine: Any = LibraryEngine(
                model,
                eos_ids=_eos_ids(model, tokenizer),
                decode=self._detokenizer,
                max_batch=max_batch,
            )
            return
        self.engine = BatchEngine(
            model,
            eos_ids=_eos_ids(model, tokenizer),
            pad_id=tokenizer.pad_token_id,
            decode=self._detokenizer,  # one DecodeStream per request: one step per token
            max_batch=max_batch,
            gather_s=gather_s,
        )

    def info(self) -> BackendInfo:
        if self.model is None:
            return self._closed_info
        return BackendInfo(
            name=self.spec.name,
            engine="transformers",
            parameters=self.model.num_parameters(),
            device=str(self.model.device.type),
            dtype=str(self.model.dtype).removeprefix("torch."),
        )

    def health(self) -> BackendHealth:
        if self.model is None:
            return BackendHealth(ok=False, detail="closed")
        return BackendHealth(ok=True, detail="ready")

    def close(self) -> None:
        """Stop the scheduler thread and drop the model, so its memory can be freed."""
        if self.model is None:
            return
        self._closed_info = self.info()
        self.engine.close()
        self.engine.model = self.engine.prefixes = self.model = None

    # -- the protocol ---------------------------------------------------------------
    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]:
        """Answer every request; they are batched with each other and with other callers'."""
        encoded = [self.encode(r) for r in requests]  # refuse bad input before queuing any
        jobs = [self.engine.submit(ids, params, self._budget(ids, params)) for ids in encoded]
        return [job.result() for job in jobs]

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        """Text deltas as they are decided; stop strings are never shown."""
        return text_deltas(self.stream_chunks(request, params))

    def stream_chunks(
        self, request: ChatRequest, params: GenerationParams
    ) -> Iterator[StreamChunk]:
        """One chunk per generated token (text may be empty), the last with its finish_reason."""
        ids = self.encode(request)
        job = self.engine.submit(ids, params, self._budget(ids, params))
        yield from job.chunks()

    # -- helpers ----------------------------------------------------------------------
    def encode(self, request: ChatRequest) -> list[int]:
        """Token ids of the chat with the template and the assistant turn opened."""
        if self.model is None:
            raise BackendError("backend_closed", f"the backend of {self.spec.name} is closed")
        return encode_chat(
            self.tokenizer,
            request,
            lock=self._tokenizer_lock,
            name=self.spec.name,
            context_length=self.context_length,
        )

    def _budget(self, ids: list[int], params: GenerationParams) -> int:
        if not self.context_length:
            return params.max_new_tokens
        return min(params.max_new_tokens, self.context_length - len(ids))

    def _decode(self, ids: list[int]) -> str:
        return self._detokenizer(ids)


def _load_packed(spec: ModelSpec, device: str, dtype: str):
    """The model and tokenizer of ``spec``, bf16 weights packed once for CPU serving
    (``core.backends.prepack``), and how many layers were packed."""
    from core.backends.prepack import prepack_linears
    from core.models import load_causal_lm

    model, tokenizer = load_causal_lm(spec, device=device, dtype=dtype)
    return model, tokenizer, prepack_linears(model)


def _eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends an answer: the tokenizer's EOS and the generation config's."""
    return eos_id_set(
        (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None))
    )
