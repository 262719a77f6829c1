"""vLLM backend (CUDA): the same protocol on vLLM's engine. Not yet run on a GPU (see README).

    backend = VLLMBackend(resolve_model("smollm2-135m-instruct"), gpu_memory_utilization=0.4)
    try:
        print(backend.generate([ChatRequest.from_prompt("Hi")], GenerationParams())[0].text)
    finally:
        backend.close()                       # shuts the engine down and frees its GPU memory

vllm is imported only when this class is built. One driver thread owns vLLM's ``LLMEngine``:
callers from any thread hand it requests (chat template applied with the model's own tokenizer,
sent as token ids) and it steps the engine while work remains, handing each request its
cumulative output; vLLM's scheduler batches everything in flight (continuous batching, paged KV
cache).

Lifecycle and errors: a request the engine refuses (``add_request`` raises) fails only that
caller, with ``BackendError("bad_request")``; a failing ``step`` fails the requests in flight and
the driver goes on; every wait has a deadline (``timeout_s``), after which the request is aborted
and the caller gets ``BackendError("generation_timeout")``; a stream the caller drops early
aborts its request. ``close()`` stops the driver, calls vLLM's own shutdown and empties the CUDA
cache, so a second model (or training) can have the memory.

Contract (the same as ``TransformersBackend``, checked by tests/unit/test_vllm_contract.py): EOS
is not part of the answer (not in ``tokens``, ``token_ids`` or ``top_logprobs``); the last
stream chunk carries ``finish_reason`` and ``prompt_tokens``; the stream's token counts add up
to ``generate``'s ``tokens``.

``score_prompts`` runs teacher-forced sequences for the top-k logit cache (``prompt_logprobs``);
``core.distill.vllm_topk`` turns its outputs into cache rows.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from core.backends.chat import encode_chat, eos_id_set
from core.backends.memory import free_cuda_memory
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
DEFAULT_GPU_MEMORY = 0.85  # one model alone on a GPU; two models: core.backends.memory


class VLLMBackend:
    """Continuous batching on vLLM; thread-safe through one engine-driver thread."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        dtype: str | None = None,
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        max_logprobs: int = 64,
        timeout_s: float = 600.0,
    ) -> None:
        try:
            from vllm import EngineArgs, LLMEngine, SamplingParams
        except ImportError as exc:
            raise BackendError(
                "vllm_missing", "vLLM is not installed", hint="pip install '.[gpu]'"
            ) from exc
        from transformers import AutoTokenizer

        from core.models import prepare_model

        share = gpu_memory_utilization or spec.gpu_memory_utilization or DEFAULT_GPU_MEMORY
        path = str(prepare_model(spec).path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        args = EngineArgs(
            model=path,
            dtype=dtype or "auto",
            gpu_memory_utilization=share,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
            max_logprobs=max_logprobs,
        )
        try:
            engine = LLMEngine.from_engine_args(args)
        except Exception as exc:  # CUDA out of memory, bad model folder, ...
            raise BackendError(
                "vllm_start_failed",
                f"vLLM could not start {spec.name} with gpu_memory_utilization={share}: {exc}",
                hint="lower --gpu-memory, or close the other model on this GPU first",
            ) from exc
        self._setup(
            spec,
            engine,
            tokenizer,
            sampling_params=SamplingParams,
            eos_ids=_eos_ids(path, tokenizer),
            timeout_s=timeout_s,
            owns_runtime=True,
        )

    @classmethod
    def from_engine(
        cls,
        engine,
        tokenizer,
        spec: ModelSpec,
        *,
        sampling_params: Callable[..., Any],
        eos_ids: set[int],
        timeout_s: float = 600.0,
        poll_s: float = 0.5,
    ) -> VLLMBackend:
        """Drive an engine made elsewhere (anything with vLLM's add_request / step /
        abort_request surface, such as the test double in tests/unit)."""
        backend = cls.__new__(cls)
        backend._setup(
            spec,
            engine,
            tokenizer,
            sampling_params=sampling_params,
            eos_ids=eos_ids,
            timeout_s=timeout_s,
            owns_runtime=False,
            poll_s=poll_s,
        )
        return backend

    def _setup(
        self,
        spec,
        engine,
        tokenizer,
        *,
        sampling_params,
        eos_ids,
        timeout_s,
        owns_runtime,
        poll_s=0.5,
    ):
        self.spec, self.engine, self.tokenizer = spec, engine, tokenizer
        self.eos_ids = set(eos_ids)
        self.timeout_s, self._poll_s = timeout_s, poll_s
        self._sampling_params = sampling_params
        self._owns_runtime = owns_runtime
        self.context_length = int(engine.model_config.max_model_len)
        self._dtype = str(getattr(engine.model_config, "dtype", "")).removeprefix("torch.")
        self._inbox: queue.Queue = queue.Queue()
        self._ids = itertools.count()
        self._lock = threading.Lock()  # guards the tokenizer
        self._driver = threading.Thread(target=self._drive, name="stillhouse-vllm", daemon=True)
        self._driver.start()

    # -- the protocol -------------------------------------------------------------------
    def info(self) -> BackendInfo:
        if self.engine is None:
            return self._closed_info
        return BackendInfo(
            name=self.spec.name, engine="vllm", device="cuda", dtype=self._dtype or None
        )

    def health(self) -> BackendHealth:
        if self.engine is None:
            return BackendHealth(ok=False, detail="closed")
        alive = self._driver.is_alive()
        return BackendHealth(ok=alive, detail="ready" if alive else "the engine thread stopped")

    def close(self) -> None:
        """Stop the driver, shut the engine down and free its CUDA memory. Safe to call twice."""
        if self.engine is None:
            return
        self._closed_info = self.info()
        self._inbox.put(_STOP)
        self._driver.join(timeout=30)
        engine, self.engine = self.engine, None
        _shutdown(engine, self._owns_runtime)
        del engine
        free_cuda_memory()

    def generate(
        self, requests: list[ChatRequest], params: GenerationParams
    ) -> list[GenerationResult]:
        """Answer every request; vLLM batches them with each other and with other callers'."""
        encoded = [self.encode(r) for r in requests]  # refuse bad input before queuing any
        waits = [self._submit(ids, self._sampling(ids, params)) for ids in encoded]
        return [self._result(self._last(wait), params) for wait in waits]

    def stream(self, request: ChatRequest, params: GenerationParams) -> Iterator[str]:
        return text_deltas(self.stream_chunks(request, params))

    def stream_chunks(
        self, request: ChatRequest, params: GenerationParams
    ) -> Iterator[StreamChunk]:
        """Chunks as vLLM steps; the last carries finish_reason and prompt_tokens."""
        ids = self.encode(request)
        outputs = iter(self._submit(ids, self._sampling(ids, params)))
        try:
            yield from self._chunks(outputs, len(ids), params.stop)
        finally:
            outputs.close()  # type: ignore[attr-defined]  # a dropped stream aborts its request

    def _chunks(
        self, outputs: Iterator[Any], prompt_tokens: int, stop: list[str]
    ) -> Iterator[StreamChunk]:
        # Hold back what could still turn out to start a stop string (vLLM does too): text is
        # never shown and then taken back.
        hold = max((len(s) for s in stop if s), default=1) - 1
        seen_text, seen_tokens = 0, 0
        for output in outputs:
            completion = output.outputs[0]
            tokens = self._answer_ids(completion, output.finished)
            safe = len(completion.text) - (0 if output.finished else hold)
            text = completion.text[seen_text:safe] if safe > seen_text else ""
            new_tokens = len(tokens) - seen_tokens
            seen_text, seen_tokens = max(seen_text, safe), len(tokens)
            if output.finished:
                yield StreamChunk(
                    text=text,
                    tokens=new_tokens,
                    finish_reason=_finish(completion),
                    prompt_tokens=prompt_tokens,
                )
                return
            if text or new_tokens:
                yield StreamChunk(text=text, tokens=new_tokens)

    # -- teacher-forced scoring (top-k cache) ----------------------------------------------
    def score_prompts(self, sequences: list[list[int]], k: int) -> list[Any]:
        """vLLM outputs with the top-``k`` ``prompt_logprobs`` of each sequence and the top-k of
        the position after its end (one generated token); see ``core.distill.vllm_topk``."""
        sampling = self._sampling_params(
            max_tokens=1, temperature=0.0, logprobs=k, prompt_logprobs=k
        )
        waits = [self._submit(list(ids), sampling) for ids in sequences]
        return [self._last(wait, keep_prompt_logprobs=True) for wait in waits]

    # -- helpers --------------------------------------------------------------------------
    def encode(self, request: ChatRequest) -> list[int]:
        """Token ids of the chat with the template and the assistant turn opened."""
        if self.engine is None:
            raise BackendError("backend_closed", f"the backend of {self.spec.name} is closed")
        return encode_chat(
            self.tokenizer,
            request,
            lock=self._lock,
            name=self.spec.name,
            context_length=self.context_length,
        )

    def _sampling(self, ids: list[int], params: GenerationParams):
        return self._sampling_params(
            max_tokens=min(params.max_new_tokens, self.context_length - len(ids)),
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=params.stop or None,
            stop_token_ids=sorted(self.eos_ids) or None,
            logprobs=params.top_logprobs or None,
        )

    def _submit(self, ids: list[int], sampling) -> _Wait:
        if self.engine is None:
            raise BackendError("backend_closed", f"the backend of {self.spec.name} is closed")
        wait = _Wait(str(next(self._ids)), self)
        self._inbox.put((wait.request_id, {"prompt_token_ids": ids}, sampling, wait.outbox))
        return wait

    def _last(self, wait: _Wait, *, keep_prompt_logprobs: bool = False):
        last: Any = None
        prompt_logprobs = None
        for output in wait:
            last = output
            if keep_prompt_logprobs and getattr(output, "prompt_logprobs", None):
                prompt_logprobs = output.prompt_logprobs  # vLLM may send them only once
        if prompt_logprobs is not None and not last.prompt_logprobs:
            last.prompt_logprobs = prompt_logprobs
        return last

    def _answer_ids(self, completion, finished: bool) -> list[int]:
        """Generated ids without the EOS that ended the answer (as TransformersBackend)."""
        ids = list(completion.token_ids)
        if finished and ids and _ended_by_eos(completion) and ids[-1] in self.eos_ids:
            ids.pop()
        return ids

    def _result(self, output, params: GenerationParams) -> GenerationResult:
        completion = output.outputs[0]
        ids = self._answer_ids(completion, True)
        top = None
        if params.top_logprobs and completion.logprobs:
            top = [
                sorted(((int(t), float(lp.logprob)) for t, lp in step.items()), key=_by_logprob)[
                    : params.top_logprobs
                ]
                for step in completion.logprobs[: len(ids)]
            ]
        return GenerationResult(
            text=completion.text,
            tokens=len(ids),
            finish_reason=_finish(completion),
            token_ids=ids,
            top_logprobs=top,
            prompt_tokens=len(output.prompt_token_ids or []),
        )

    def _abort(self, request_id: str) -> None:
        self._inbox.put(("abort", request_id))

    # -- the driver thread ------------------------------------------------------------------
    def _drive(self) -> None:
        outboxes: dict[str, queue.Queue] = {}
        while True:
            if self._take_inbox(outboxes, block=not outboxes) is _STOP:
                for waiting in outboxes.values():
                    waiting.put(BackendError("backend_closed", "backend closed"))
                return
            if not outboxes:
                continue
            try:
                outputs = self.engine.step()
            except Exception as exc:  # one bad step fails the requests in flight, not the thread
                error = BackendError("generation_failed", f"vLLM failed: {exc}")
                self._abort_quietly(list(outboxes))
                for outbox in outboxes.values():
                    outbox.put(error)
                outboxes.clear()
                continue
            for output in outputs:
                box = outboxes.get(output.request_id)
                if box is not None:
                    box.put(output)
                    if output.finished:
                        del outboxes[output.request_id]

    def _take_inbox(self, outboxes: dict[str, queue.Queue], *, block: bool) -> object | None:
        """Add new requests and apply aborts; returns ``_STOP`` when asked to stop."""
        while True:
            try:
                item = self._inbox.get(block=block)
            except queue.Empty:
                return None
            block = False
            if item is _STOP:
                return _STOP
            if item[0] == "abort":
                if outboxes.pop(item[1], None) is not None:
                    self._abort_quietly([item[1]])
                continue
            request_id, prompt, sampling, outbox = item
            try:
                self.engine.add_request(request_id, prompt, sampling)
            except Exception as exc:  # this request only: the caller hears why
                outbox.put(BackendError("bad_request", f"vLLM refused the request: {exc}"))
                continue
            outboxes[request_id] = outbox

    def _abort_quietly(self, request_ids: list[str]) -> None:
        try:
            self.engine.abort_request(request_ids)
        except Exception:  # already finished or never added: nothing to free
            pass


class _Wait:
    """Iterate a request's cumulative outputs, with a deadline; stopping early aborts it."""

    def __init__(self, request_id: str, backend: VLLMBackend) -> None:
        self.request_id, self.backend = request_id, backend
        self.outbox: queue.Queue = queue.Queue()

    def __iter__(self) -> Iterator[Any]:
        backend, finished = self.backend, False
        deadline = time.monotonic() + backend.timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BackendError(
                        "generation_timeout",
                        f"{backend.spec.name} gave no answer within {backend.timeout_s:.0f} s",
                        hint="the GPU may be overloaded; try again or lower the load",
                    )
                try:
                    item = self.outbox.get(timeout=min(left, backend._poll_s))
                except queue.Empty:
                    if not backend._driver.is_alive():
                        raise BackendError(
                            "backend_stopped", "the vLLM engine thread stopped"
                        ) from None
                    continue
                if isinstance(item, BaseException):
                    finished = True  # the driver already forgot this request
                    raise item
                finished = bool(item.finished)
                yield item
                if finished:
                    return
        finally:
            if not finished and backend.engine is not None:
                backend._abort(self.request_id)  # dropped stream or timeout: free its slot


def _by_logprob(pair: tuple[int, float]) -> float:
    return -pair[1]


def _ended_by_eos(completion) -> bool:
    """vLLM's finish_reason "stop" with no stop string: an EOS (or a stop token id) ended it."""
    return completion.finish_reason == "stop" and not isinstance(
        getattr(completion, "stop_reason", None), str
    )


def _finish(completion) -> str:
    return "length" if completion.finish_reason == "length" else "stop"


def _eos_ids(path: str, tokenizer) -> set[int]:
    """The tokenizer's EOS and the generation config's (as TransformersBackend uses)."""
    values: list[Any] = [tokenizer.eos_token_id]
    try:
        from transformers import GenerationConfig

        values.append(GenerationConfig.from_pretrained(path).eos_token_id)
    except Exception:  # no generation_config.json: the tokenizer's EOS alone
        pass
    return eos_id_set(values)


def _shutdown(engine, owns_runtime: bool) -> None:
    """vLLM's own shutdown where the version has one, then its process groups."""
    for target in (engine, getattr(engine, "engine_core", None)):
        stop = getattr(target, "shutdown", None)
        if callable(stop):
            try:
                stop()
            except Exception:  # a half-started engine: freeing memory still matters more
                pass
    if not owns_runtime:
        return
    try:
        from vllm.distributed.parallel_state import (
            destroy_distributed_environment,
            destroy_model_parallel,
        )

        destroy_model_parallel()
        destroy_distributed_environment()
    except Exception:  # older or newer vLLM without these: the gc below still frees the weights
        pass
