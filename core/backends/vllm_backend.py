"""vLLM backend (CUDA): the same protocol on vLLM's engine. Untested on GPU so far.

    backend = VLLMBackend(resolve_model("smollm2-135m-instruct"))   # needs `pip install .[gpu]`

vllm is imported only when this class is built. One driver thread owns vLLM's
``LLMEngine``: callers from any thread add requests (chat template applied with the
model's own tokenizer, sent as token ids) and the driver steps the engine while work
remains, handing each request its cumulative output; vLLM's scheduler batches
everything in flight (continuous batching, paged KV cache). ``top_logprobs`` maps to
vLLM's ``logprobs=k``. The tests in tests/unit/test_backends.py marked ``gpu`` skip
themselves without CUDA; nobody has run them on a GPU yet.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator

from core.backends.chat import encode_chat
from core.backends.protocol import (
    BackendHealth,
    BackendInfo,
    GenerationResult,
    StreamChunk,
    text_deltas,
)
from core.errors import BackendError
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec

_STOP = object()


class VLLMBackend:
    """Continuous batching on vLLM; thread-safe through one engine-driver thread."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        dtype: str | None = None,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
    ) -> None:
        try:
            from vllm import EngineArgs, LLMEngine
        except ImportError as exc:
            raise BackendError(
                "vllm_missing", "vLLM is not installed", hint="pip install '.[gpu]'"
            ) from exc
        from transformers import AutoTokenizer

        from core.models import prepare_model

        path = str(prepare_model(spec).path)
        self.spec = spec
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        args = EngineArgs(
            model=path,
            dtype=dtype or "auto",
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
        )
        self.engine = LLMEngine.from_engine_args(args)
        self.context_length = self.engine.model_config.max_model_len
        self._inbox: queue.Queue = queue.Queue()
        self._ids = itertools.count()
        self._lock = threading.Lock()  # guards the tokenizer
        self._driver = threading.Thread(target=self._drive, name="stillhouse-vllm", daemon=True)
        self._driver.start()

    def info(self) -> BackendInfo:
        if self.engine is None:
            return self._closed_info
        return BackendInfo(
            name=self.spec.name,
            engine="vllm",
            device="cuda",
            dtype=str(self.engine.model_config.dtype).removeprefix("torch."),
        )

    def health(self) -> BackendHealth:
        if self.engine is None:
            return BackendHealth(ok=False, detail="closed")
        alive = self._driver.is_alive()
        return BackendHealth(ok=alive, detail="ready" if alive else "the engine thread stopped")

    def close(self) -> None:
        """Stop the driver thread and drop the engine, so its GPU memory can be freed."""
        if self.engine is None:
            return
        self._closed_info = self.info()
        self._inbox.put(_STOP)
        self._driver.join(timeout=30)
        self.engine = None
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]:
        outboxes = [self._submit(r, params) for r in requests]
        return [_result(list(_drain(outbox))[-1], params) for outbox in outboxes]

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        return text_deltas(self.stream_chunks(request, params))

    def stream_chunks(
        self, request: ChatRequest, params: GenerationParams
    ) -> Iterator[StreamChunk]:
        seen_text, seen_tokens = 0, 0
        for output in _drain(self._submit(request, params)):
            completion = output.outputs[0]
            text, tokens = completion.text[seen_text:], len(completion.token_ids) - seen_tokens
            seen_text, seen_tokens = len(completion.text), len(completion.token_ids)
            finish = _finish(completion) if output.finished else None
            if text or tokens or finish:
                yield StreamChunk(text=text, tokens=tokens, finish_reason=finish)

    def _submit(self, request: ChatRequest, params: GenerationParams) -> queue.Queue:
        from vllm import SamplingParams

        if self.engine is None:
            raise BackendError("backend_closed", f"the backend of {self.spec.name} is closed")
        ids = encode_chat(
            self.tokenizer,
            request,
            lock=self._lock,
            name=self.spec.name,
            context_length=self.context_length,
        )
        sampling = SamplingParams(
            max_tokens=min(params.max_new_tokens, self.context_length - len(ids)),
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=params.stop or None,
            logprobs=params.top_logprobs or None,
        )
        outbox: queue.Queue = queue.Queue()
        self._inbox.put((str(next(self._ids)), {"prompt_token_ids": ids}, sampling, outbox))
        return outbox

    def _drive(self) -> None:
        outboxes: dict[str, queue.Queue] = {}
        while True:
            block = not outboxes
            while True:
                try:
                    item = self._inbox.get(block=block)
                except queue.Empty:
                    break
                if item is _STOP:
                    for waiting in outboxes.values():
                        waiting.put(BackendError("backend_closed", "backend closed"))
                    return
                request_id, prompt, sampling, outbox = item
                self.engine.add_request(request_id, prompt, sampling)
                outboxes[request_id] = outbox
                block = False
            try:
                outputs = self.engine.step()
            except Exception as exc:
                for outbox in outboxes.values():
                    outbox.put(BackendError("generation_failed", f"vLLM failed: {exc}"))
                outboxes.clear()
                continue
            for output in outputs:
                box = outboxes.get(output.request_id)
                if box is not None:
                    box.put(output)
                    if output.finished:
                        del outboxes[output.request_id]


def _drain(outbox: queue.Queue):
    while True:
        item = outbox.get()
        if isinstance(item, BaseException):
            raise item
        yield item
        if item.finished:
            return


def _finish(completion) -> str:
    return "length" if completion.finish_reason == "length" else "stop"


def _result(output, params: GenerationParams) -> GenerationResult:
    completion = output.outputs[0]
    top = None
    if params.top_logprobs and completion.logprobs:
        top = [
            sorted(((int(t), float(lp.logprob)) for t, lp in step.items()), key=lambda p: -p[1])[
                : params.top_logprobs
            ]
            for step in completion.logprobs
        ]
    return GenerationResult(
        text=completion.text,
        tokens=len(completion.token_ids),
        finish_reason=_finish(completion),
        token_ids=list(completion.token_ids),
        top_logprobs=top,
        prompt_tokens=len(output.prompt_token_ids or []),
    )
