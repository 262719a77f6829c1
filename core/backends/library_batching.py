"""transformers' own continuous batching (paged KV cache) behind our ``BatchEngine`` contract.

    engine = LibraryEngine(model, eos_ids={2}, decode=Detokenizer(tokenizer))
    job = engine.submit(prompt_ids, params, max_new_tokens=64)   # a core.backends.batching.Job
    for chunk in job.chunks():
        ...

``TransformersBackend(spec, engine="library")`` uses it instead of our scheduler. The
library (``model.init_continuous_batching``) schedules prefill and decode of every request
over a paged cache in its own thread; this module adds what the backend contract needs and
the library lacks:

- per-request sampling with a per-request seed and per-token top-k log-probabilities: a
  ``ContinuousBatchingLogitsProcessor`` (``_RowSampler``) sees each row's float32 logits,
  records its top-k, samples sampled rows with their own ``torch.Generator`` and masks the
  rest, so the library's greedy argmax takes our choice (greedy rows are untouched);
- stop strings and incremental text (``core.backends.text.TextTracker``), EOS and length,
  and cancellation (a consumer that stops early cancels its request in the library),
  done by one router thread that turns the library's streamed outputs into ``StreamChunk``s.

bench/bench_generation.py measures it against our scheduler; docs/serving.md says which
is the default and why.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from core.backends.batching import Job, _sample_row, fail_job, final_chunk, new_job
from core.backends.protocol import StreamChunk
from core.errors import BackendError
from core.generation import GenerationParams

PAGE_SIZE = 64


def _row_sampler_class() -> type:
    """``_RowSampler`` subclasses a library class, so it is made on first use (lazy import)."""
    import torch
    from transformers.generation.continuous_batching.cb_logits_processors import (
        ContinuousBatchingLogitsProcessor,
    )

    class _RowSampler(ContinuousBatchingLogitsProcessor):
        supported_kwargs: dict[str, type] = {}
        ignored_kwargs: tuple[str, ...] = ()

        def __init__(self, engine: LibraryEngine) -> None:
            self.engine = engine

        def fill_defaults(self, int32_tensor) -> None:
            int32_tensor.fill_(-1)

        def prepare_tensor_args(self, requests_with_new_token) -> Any:
            slots = self.engine._slots
            ids = [slots.get(r.state.request_id, -1) for r in requests_with_new_token]
            return torch.tensor(ids, dtype=torch.int32)

        def __call__(self, scores, tensor_arg):
            return self.engine._process(scores, tensor_arg[: scores.size(0)].tolist())

    return _RowSampler


class LibraryEngine:
    """The library's continuous-batching manager, with our sampling, stops and streaming."""

    def __init__(
        self,
        model,
        *,
        eos_ids: set[int],
        decode: Callable[[list[int]], str],
        max_batch: int = 64,
        cache_tokens: int = 16384,
        max_batch_tokens: int = 2048,
    ) -> None:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        self.model, self.eos_ids, self.decode = model, eos_ids, decode
        self.max_batch = max_batch
        self.steps = 0  # forward passes that produced tokens, for tests and benchmarks
        self.peak_rows = 0  # most rows that got a token in one pass
        self.prefill_tokens = 0  # prompt tokens submitted (the library may share prefixes)
        self.prefixes = None  # the library shares prefixes itself (block sharing)
        self._jobs: dict[str, Job] = {}
        self._slots: dict[str, int] = {}
        self._by_slot: dict[int, Job] = {}
        self._counter = itertools.count()
        self._lock = threading.Lock()
        config = GenerationConfig(do_sample=False, max_new_tokens=256, eos_token_id=-1)
        cb_config = ContinuousBatchingConfig(
            page_size=PAGE_SIZE,
            num_blocks=max(1, cache_tokens // PAGE_SIZE),
            max_batch_tokens=max_batch_tokens,
            max_requests_per_batch=max_batch,
        )
        self._manager = model.init_continuous_batching(
            generation_config=config, continuous_batching_config=cb_config
        )
        processors = self._manager.logit_processor
        processors.logits_processor.append(_row_sampler_class()(self))
        processors.tensors_required += 1
        processors.do_processing = True
        processors._retrieve_processors_kwargs()
        self._started = False
        self._stopped = threading.Event()
        self._router: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- callers -----------------------------------------------------------------
    def submit(self, prompt_ids: list[int], params: GenerationParams, max_new_tokens: int) -> Job:
        job = new_job(self.model, self.decode, prompt_ids, params, max_new_tokens, self._alive)
        self._ensure_started()
        slot = next(self._counter)
        request_id = f"sh-{slot}"
        job.request_id = request_id  # type: ignore[attr-defined]
        with self._lock:
            self._jobs[request_id], self._slots[request_id], self._by_slot[slot] = job, slot, job
        self.prefill_tokens += len(prompt_ids)
        self._manager.add_request(
            input_ids=list(prompt_ids),
            request_id=request_id,
            max_new_tokens=max_new_tokens,
            streaming=True,
            eos_token_id=sorted(self.eos_ids) or -1,
        )
        return job

    def close(self) -> None:
        """Stop the library's thread and the router; fail what is in flight; let go of the
        model."""
        with self._start_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        if self._started:
            self._manager.stop(block=True, timeout=30)
            if self._router is not None:
                self._router.join(timeout=30)
        with self._lock:
            jobs = list(self._jobs.values())
        self._fail(jobs, BackendError("backend_closed", "backend closed"))
        self._manager.destroy()
        self._manager = None

    def _alive(self) -> bool:
        manager = self._manager
        return (
            self._started
            and not self._stopped.is_set()
            and manager is not None
            and (manager.is_running())
        )

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._stopped.is_set():
                raise BackendError("backend_closed", "backend closed")
            if not self._started:
                self._manager.start()
                self._router = threading.Thread(
                    target=self._route, name="stillhouse-library-router", daemon=True
                )
                self._router.start()
                self._started = True

    # -- library thread: sampling -------------------------------------------------
    def _process(self, scores, slots: list[int]):
        """Per row: record top-k, sample sampled rows with their own generator."""
        import torch

        self.steps += 1
        self.peak_rows = max(self.peak_rows, len(slots))
        jobs = [self._by_slot.get(slot) for slot in slots]
        want_top = max((j.params.top_logprobs for j in jobs if j is not None), default=0)
        if want_top:
            top_vals, top_ids = torch.log_softmax(scores, dim=-1).topk(want_top, dim=-1)
        for row, job in enumerate(jobs):
            if job is None or job.finish_reason is not None:
                continue
            if job.params.top_logprobs:
                k = job.params.top_logprobs
                pairs = zip(top_ids[row, :k].tolist(), top_vals[row, :k].tolist(), strict=True)
                job.top_logprobs.append(list(pairs))
            if job.params.temperature > 0:
                chosen = _sample_row(scores[row], job.params, job.generator)
                scores[row].fill_(float("-inf"))
                scores[row, chosen] = 0.0
        return scores

    # -- router thread: outputs to chunks ------------------------------------------
    def _route(self) -> None:
        while not self._stopped.is_set():
            output = self._manager.get_result(timeout=0.1)
            if output is None:
                if not self._manager.is_running() and not self._stopped.is_set():
                    error = self._manager.background_thread_status.fatal_error
                    with self._lock:
                        jobs = list(self._jobs.values())
                    self._fail(
                        jobs, BackendError("generation_failed", f"generation failed: {error}")
                    )
                    return
                self._cancel_abandoned()
                continue
            job = self._jobs.get(output.request_id)
            if job is None:
                continue
            if output.error:
                self._fail([job], BackendError("generation_failed", str(output.error)))
                continue
            for token in output.generated_tokens[len(job.tracker.ids) :]:
                self._advance(job, token)
                if job.finish_reason is not None:
                    break
            if job.finish_reason is None and output.is_finished():
                self._finish(job, "length" if len(job.tracker.ids) else "stop", 0)
            if job.finish_reason is not None:
                self._forget(job, cancel=not output.is_finished())
            self._cancel_abandoned()

    def _advance(self, job: Job, token: int) -> None:
        if token in self.eos_ids:
            self._finish(job, "stop", 0)
            return
        delta = job.tracker.add(token)
        if job.tracker.stopped:
            self._finish(job, "stop", 1)
        elif len(job.tracker.ids) >= job.max_new_tokens:
            self._finish(job, "length", 1, delta)
        else:
            job.outbox.put(StreamChunk(text=delta, tokens=1))

    def _finish(self, job: Job, reason: str, tokens: int, delta: str = "") -> None:
        job.finish_reason = reason
        del job.top_logprobs[len(job.tracker.ids) :]  # the EOS, or steps past a stop string
        job.outbox.put(final_chunk(job, reason, tokens, delta))

    def _cancel_abandoned(self) -> None:
        with self._lock:
            gone = [job for job in self._jobs.values() if job.cancelled]
        for job in gone:
            self._forget(job, cancel=True)

    def _forget(self, job: Job, *, cancel: bool) -> None:
        request_id = job.request_id  # type: ignore[attr-defined]
        with self._lock:
            self._jobs.pop(request_id, None)
            slot = self._slots.pop(request_id, None)
            if slot is not None:
                self._by_slot.pop(slot, None)
        if cancel:
            self._manager.cancel_request(request_id)

    def _fail(self, jobs: list[Job], error: BaseException) -> None:
        for job in jobs:
            fail_job(job, error)
            self._forget(job, cancel=False)
