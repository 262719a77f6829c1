"""Continuous batching for a transformers causal LM: one scheduler thread, many callers.

    engine = BatchEngine(model, eos_ids={2}, pad_id=2, decode=decode)
    job = engine.submit(prompt_ids, params, max_new_tokens=64)
    for chunk in job.chunks():            # StreamChunk(text, tokens, finish_reason)
        ...

Callers in any thread ``submit`` tokenized prompts. The scheduler thread keeps one
left-padded batch and its KV cache. Each step it (1) prefills whatever arrived since
the last step as one padded group and splices those rows into the running batch's
cache (so a request that arrives while others decode joins them at the next step);
a prompt longer than ``prefill_chunk`` tokens is prefilled instead in pieces into its own
cache, one piece between decode steps, so that other rows keep decoding meanwhile;
the start all those prompts share, such as the chat template's system prompt, is
computed once and kept for later groups (``core.backends.prefix``);
(2) runs one decode step for every row, (3) samples each row with its own
parameters and seeded generator, and (4) drops finished rows from the cache and
trims padding columns no row needs any more, so the batch never carries dead rows.
The KV cache grows in place (``core.backends.kvcache``). After ``idle_exit_s`` with
nothing to do the scheduler thread ends, so that its OpenMP workers do not slow other
threads' torch work (``core.backends.threads``); the next ``submit`` starts a new one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.backends.protocol import GenerationResult, StreamChunk
from core.backends.text import TextTracker
from core.errors import BackendError
from core.generation import GenerationParams

_STOP = object()
_IDLE = object()  # what _collect returns when nothing arrived for idle_exit_s


@dataclass(eq=False)
class Job:
    """One request in flight: its prompt, parameters and an outbox of chunks."""

    prompt_ids: list[int]
    params: GenerationParams
    max_new_tokens: int
    tracker: TextTracker
    generator: Any = None
    outbox: queue.Queue = field(default_factory=queue.Queue)
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)
    cancelled: bool = False
    finish_reason: str | None = None
    alive: Callable[[], bool] = lambda: True

    def chunks(self) -> Iterator[StreamChunk]:
        """Chunks as the scheduler produces them; raises the scheduler's error if it failed."""
        try:
            while True:
                try:
                    item = self.outbox.get(timeout=5)
                except queue.Empty:
                    if self.alive():
                        continue
                    raise BackendError("backend_stopped", "the generation thread stopped") from None
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            self.cancelled = True  # a consumer that stops early frees its row

    def result(self) -> GenerationResult:
        """Wait for the whole answer."""
        for _ in self.chunks():
            pass
        return GenerationResult(
            text=self.tracker.text,
            tokens=len(self.tracker.ids),
            finish_reason=self.finish_reason or "stop",
            token_ids=list(self.tracker.ids),
            prompt_tokens=len(self.prompt_ids),
            top_logprobs=self.top_logprobs if self.params.top_logprobs else None,
        )


def new_job(
    model,
    decode: Callable[[list[int]], str],
    prompt_ids: list[int],
    params: GenerationParams,
    max_new_tokens: int,
    alive: Callable[[], bool],
) -> Job:
    """A ``Job`` for one request, with its own seeded generator when it samples."""
    import torch

    generator = None
    if params.temperature > 0 and params.seed is not None:
        generator = torch.Generator(device=model.device).manual_seed(params.seed)
    return Job(
        prompt_ids=list(prompt_ids),
        params=params,
        max_new_tokens=max_new_tokens,
        tracker=TextTracker(decode, params.stop),
        generator=generator,
        alive=alive,
    )


def fail_job(job: Job, error: BaseException) -> None:
    """End ``job`` with ``error`` unless it already finished."""
    if job.finish_reason is None:
        job.finish_reason = "error"
        job.outbox.put(error)


def final_chunk(job: Job, reason: str, tokens: int, delta: str = "") -> StreamChunk:
    """The last chunk of ``job``: ``delta`` and the text its tracker held back, the reason."""
    return StreamChunk(
        text=delta + job.tracker.finish(),
        tokens=tokens,
        finish_reason=reason,
        prompt_tokens=len(job.prompt_ids),
    )


@dataclass(eq=False)
class _LongPrefill:
    """A long prompt being prefilled piece by piece into its own cache."""

    job: Job
    cache: Any = None
    done: int = 0


class _Batch:
    """The running batch: rows, KV cache, attention mask, next positions, last tokens."""

    def __init__(self, jobs, cache, mask, positions, last):
        self.jobs, self.cache, self.mask, self.positions, self.last = (
            jobs,
            cache,
            mask,
            positions,
            last,
        )


class BatchEngine:
    """Scheduler thread that batches every waiting and running request into one forward pass."""

    def __init__(
        self,
        model,
        *,
        eos_ids: set[int],
        pad_id: int,
        decode: Callable[[list[int]], str],
        max_batch: int = 64,
        gather_s: float = 0.01,
        share_prefix: bool = True,
        prefill_chunk: int = 512,
        idle_exit_s: float = 1.0,
    ) -> None:
        from core.backends.prefix import PrefixCache

        self.model = model
        self.prefixes = PrefixCache(model) if share_prefix else None
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.decode = decode
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.idle_exit_s = idle_exit_s  # the scheduler thread ends after this long idle
        self.prefill_chunk = prefill_chunk  # longer prompts are prefilled this many at a time
        self._long: list[_LongPrefill] = []  # long prompts being prefilled, oldest first
        self._next_chunk_at = 0.0  # while rows decode, the next chunk waits until then
        self._piece = prefill_chunk  # tokens in the next piece: shrinks while rows decode
        self._step_s = 0.0  # recent decode step time (moving average)
        self._inbox: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.steps = 0  # decode steps run, for tests and benchmarks
        self.peak_rows = 0  # largest batch seen
        self.prefill_tokens = 0  # prompt tokens run through the model (shared starts once)

    # -- callers -----------------------------------------------------------------
    def submit(self, prompt_ids: list[int], params: GenerationParams, max_new_tokens: int) -> Job:
        job = new_job(self.model, self.decode, prompt_ids, params, max_new_tokens, self._alive)
        with self._start_lock:  # never between an idle thread's last look and its exit
            self._ensure_thread()
            self._inbox.put(job)
        return job

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._inbox.put(_STOP)
            self._thread.join(timeout=30)

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_thread(self) -> None:
        """Start the scheduler thread unless it runs (the caller holds ``_start_lock``)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="stillhouse-batcher", daemon=True
            )
            self._thread.start()

    def _retire(self) -> bool:
        """End the idle scheduler thread unless work arrived meanwhile: its OpenMP workers
        leave with it (``core.backends.threads``); the next ``submit`` starts a new one."""
        with self._start_lock:
            if not self._inbox.empty():
                return False
            self._thread = None
            return True

    # -- scheduler thread ---------------------------------------------------------
    def _loop(self) -> None:
        import torch

        batch: _Batch | None = None
        while True:
            arrived = self._collect(block=batch is None and not self._long)
            if arrived is _IDLE:
                if self._retire():
                    return
                continue
            if arrived is None:
                self._fail(
                    batch.jobs if batch else [], BackendError("backend_closed", "backend closed")
                )
                return
            try:
                with torch.inference_mode():
                    batch = self._step(batch, arrived)
            except Exception as exc:  # one bad step fails its rows, never the thread
                jobs = (batch.jobs if batch else []) + arrived
                self._fail(jobs, BackendError("generation_failed", f"generation failed: {exc}"))
                batch = None

    def _collect(self, *, block: bool) -> Any:
        """New jobs; when idle, wait for one (``_IDLE`` after ``idle_exit_s`` without one),
        then gather arrivals for up to ``gather_s``. ``None`` when the engine closes."""
        jobs: list[Job] = []
        try:
            item = self._inbox.get(timeout=self.idle_exit_s) if block else self._inbox.get_nowait()
        except queue.Empty:
            return _IDLE if block else jobs
        deadline = time.monotonic() + (self.gather_s if block else 0)
        while True:
            if item is _STOP:
                self._fail(jobs, BackendError("backend_closed", "backend closed"))
                return None
            jobs.append(item)
            try:
                item = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return [j for j in jobs if not j.cancelled]

    def _step(self, batch: _Batch | None, arrived: list[Job]) -> _Batch | None:
        if self._chunkable():
            self._long += [
                _LongPrefill(j) for j in arrived if len(j.prompt_ids) > self.prefill_chunk
            ]
            arrived = [j for j in arrived if len(j.prompt_ids) <= self.prefill_chunk]
        room = self.max_batch - (len(batch.jobs) if batch else 0)
        if len(arrived) > room:  # the rest wait for a free row, first come first served
            for job in arrived[room:]:
                self._inbox.put(job)
            arrived = arrived[:room]
        if arrived and (batch is None or _mergeable(batch.cache)):
            for fresh in self._prefill_isolated(arrived):
                batch = fresh if batch is None else _merge(batch, fresh)
        elif arrived:
            for job in arrived:  # this cache cannot take new rows: they wait for the next batch
                self._inbox.put(job)
        ready = self._long_chunk(decoding=batch is not None)
        if ready is not None:
            batch = ready if batch is None else _merge(batch, ready)
        if batch is None:
            return None
        self.peak_rows = max(self.peak_rows, len(batch.jobs))
        batch = self._drop_finished(batch)
        if batch is not None:
            batch = self._decode_step(batch)
            batch = self._drop_finished(batch)
        return batch

    def _chunkable(self) -> bool:
        """Long prompts can be prefilled in pieces only into plain dynamic caches."""
        if not hasattr(self, "_can_chunk"):
            from core.backends.kvcache import growing_cache

            self._can_chunk = _mergeable(growing_cache(self.model.config))
        return self._can_chunk

    def _long_chunk(self, *, decoding: bool) -> _Batch | None:
        """Prefill the next piece of the oldest long prompt, when it is its turn; return its
        row once the whole prompt is in.

        Fairness: after a piece that took ``d`` seconds, the next one waits until the rows
        already decoding have had ``2 d`` seconds of decode steps, so a long prompt arriving
        makes everyone else's tokens at most about 1.5 times slower (and its own first token
        up to 3 times later while others decode). While rows decode, pieces shrink (to 32
        tokens at least) until one takes no more than a few decode steps, so a newcomer
        never waits long behind a piece; with nobody decoding they grow back."""
        if not self._long or (decoding and time.monotonic() < self._next_chunk_at):
            return None
        item = self._long[0]
        if item.job.cancelled:
            self._long.pop(0)
            return None
        started = time.monotonic()
        try:
            ready = self._prefill_piece(item)
        except Exception as exc:  # this prompt fails alone
            self._long.pop(0)
            self._fail([item.job], _row_error(exc))
            return None
        spent = time.monotonic() - started
        self._next_chunk_at = time.monotonic() + 2.0 * spent
        if not decoding:
            self._piece = self.prefill_chunk
        elif spent > 4 * self._step_s:  # keep each piece to a few decode steps' time
            self._piece = max(32, self._piece // 2)
        elif spent < 2 * self._step_s:
            self._piece = min(self.prefill_chunk, self._piece * 2)
        if ready is not None:
            self._long.pop(0)
        return ready

    def _prefill_piece(self, item: _LongPrefill) -> _Batch | None:
        import torch

        from core.backends.kvcache import growing_cache

        device = self.model.device
        if item.cache is None:
            item.cache = growing_cache(self.model.config)
        ids = item.job.prompt_ids
        end = min(len(ids), item.done + self._piece)
        out = self.model(
            input_ids=torch.tensor([ids[item.done : end]], device=device),
            attention_mask=torch.ones((1, end), dtype=torch.long, device=device),
            position_ids=torch.arange(item.done, end, device=device)[None, :],
            cache=item.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.prefill_tokens += end - item.done
        item.done = end
        if end < len(ids):
            return None
        mask = torch.ones((1, end), dtype=torch.long, device=device)
        batch = _Batch([item.job], item.cache, mask, torch.tensor([end], device=device), None)
        batch.last = self._sample(batch.jobs, out.logits[:, -1, :])
        return batch

    def _prefill_isolated(self, jobs: list[Job]) -> list[_Batch]:
        """Prefill the arrivals together; if that fails, each alone, so that one bad prompt
        (too long for memory, say) fails only its own request. Rows already decoding are
        not touched: a prefill builds a fresh cache."""
        try:
            return [self._prefill(jobs)]
        except Exception as exc:
            if len(jobs) == 1:
                self._fail(jobs, _row_error(exc))
                return []
        groups: list[_Batch] = []
        for job in jobs:
            if groups and not _mergeable(groups[0].cache):
                self._inbox.put(job)  # this cache cannot take more rows: next batch
                continue
            try:
                groups.append(self._prefill([job]))
            except Exception as exc:
                self._fail([job], _row_error(exc))
        return groups

    def _prefill(self, jobs: list[Job]) -> _Batch:
        """Prefill new rows as ``[shared prefix][padding][own prompt]``; sample their first
        token."""
        import torch

        from core.backends.kvcache import growing_cache

        device = self.model.device
        cache = growing_cache(self.model.config)
        prefix: list[int] = []
        if _mergeable(cache) and self.prefixes is not None:
            prefix = self.prefixes.choose([j.prompt_ids for j in jobs])
            if prefix:
                self.prefixes.fill(cache, prefix, rows=len(jobs))
        own = [j.prompt_ids[len(prefix) :] for j in jobs]
        self.prefill_tokens += sum(len(tokens) for tokens in own)
        width = max(len(ids) for ids in own)
        ids = torch.full((len(jobs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), len(prefix) + width), dtype=torch.long)
        mask[:, : len(prefix)] = 1
        for row, tokens in enumerate(own):
            ids[row, width - len(tokens) :] = torch.tensor(tokens)
            mask[row, mask.shape[1] - len(tokens) :] = 1
        positions = len(prefix) + (mask[:, len(prefix) :].cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        batch = _Batch(jobs, cache, mask.to(device), positions[:, -1].to(device) + 1, None)
        batch.last = self._sample(batch.jobs, out.logits[:, -1, :])
        return batch

    def _decode_step(self, batch: _Batch) -> _Batch:
        import torch

        started = time.monotonic()
        ones = torch.ones((len(batch.jobs), 1), dtype=batch.mask.dtype, device=batch.mask.device)
        mask = torch.cat([batch.mask, ones], dim=1)
        out = self.model(
            input_ids=batch.last[:, None],
            attention_mask=mask,
            position_ids=batch.positions[:, None],
            cache=batch.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.steps += 1
        took = time.monotonic() - started
        self._step_s = 0.8 * self._step_s + 0.2 * took if self._step_s else took
        batch.mask, batch.positions = mask, batch.positions + 1  # the cache grew in place
        batch.last = self._sample(batch.jobs, out.logits[:, -1, :])
        return batch

    def _sample(self, jobs: list[Job], logits) -> Any:
        """Pick each row's next token, record it, and push the new text to its outbox."""
        import torch

        logits = logits.float()
        chosen = logits.argmax(dim=-1)
        want_top = max((j.params.top_logprobs for j in jobs), default=0)
        if want_top or any(j.params.temperature > 0 for j in jobs):
            logprobs = torch.log_softmax(logits, dim=-1)
        if want_top:
            top_vals, top_ids = logprobs.topk(want_top, dim=-1)
        for row, job in enumerate(jobs):
            try:
                if job.params.temperature > 0:
                    chosen[row] = _sample_row(logits[row], job.params, job.generator)
                if job.params.top_logprobs:
                    k = job.params.top_logprobs
                    job.top_logprobs.append(
                        list(
                            zip(top_ids[row, :k].tolist(), top_vals[row, :k].tolist(), strict=True)
                        )
                    )
            except Exception as exc:  # this row's sampling failed: it fails alone
                self._fail([job], _row_error(exc))
        for job, token in zip(jobs, chosen.tolist(), strict=True):
            try:
                self._advance(job, token)
            except Exception as exc:  # e.g. its stop strings or decoding: fails alone
                self._fail([job], _row_error(exc))
        return chosen.to(self.model.device)

    def _advance(self, job: Job, token: int) -> None:
        if job.finish_reason is not None:
            return
        if token in self.eos_ids:
            if job.top_logprobs:
                job.top_logprobs.pop()  # the EOS is not part of the answer
            self._finish(job, "stop", 0)
            return
        delta = job.tracker.add(token)
        if job.tracker.stopped:
            self._finish(job, "stop", 1)
        elif len(job.tracker.ids) >= job.max_new_tokens:
            self._finish(job, "length", 1, delta)
        elif delta:
            job.outbox.put(StreamChunk(text=delta, tokens=1))
        else:
            job.outbox.put(StreamChunk(text="", tokens=1))

    def _finish(self, job: Job, reason: str, tokens: int, delta: str = "") -> None:
        job.finish_reason = reason
        job.outbox.put(final_chunk(job, reason, tokens, delta))

    def _drop_finished(self, batch: _Batch) -> _Batch | None:
        import torch

        keep = [i for i, j in enumerate(batch.jobs) if j.finish_reason is None and not j.cancelled]
        if len(keep) == len(batch.jobs):
            return batch
        if not keep:
            return None
        index = torch.tensor(keep, device=batch.mask.device)
        for layer in batch.cache.layers:
            layer.batch_select_indices(index)
        batch.jobs = [batch.jobs[i] for i in keep]
        batch.mask, batch.positions, batch.last = (
            batch.mask[index],
            batch.positions[index],
            batch.last[index],
        )
        if _mergeable(batch.cache):  # cut padding columns that no remaining row attends to
            used = batch.mask.any(dim=0).nonzero()
            start = int(used[0]) if len(used) else 0
            if start > 0:
                for layer in batch.cache.layers:
                    layer.keys, layer.values = (
                        layer.keys[..., start:, :],
                        layer.values[..., start:, :],
                    )
                batch.mask = batch.mask[:, start:]
        return batch

    def _fail(self, jobs: list[Job], error: BaseException) -> None:
        for job in jobs:
            fail_job(job, error)


def _row_error(exc: BaseException) -> BackendError:
    return BackendError("generation_failed", f"generation failed for this request: {exc}")


def _sample_row(logits, params: GenerationParams, generator) -> int:
    """Temperature and nucleus (top-p) sampling for one row, with its own generator."""
    import torch

    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs >= params.top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def _mergeable(cache) -> bool:
    """Rows can be added or padding trimmed only on plain (non-sliding) dynamic layers."""
    from transformers.cache_utils import DynamicLayer

    from core.backends.kvcache import GrowingLayer

    return all(type(layer) in (DynamicLayer, GrowingLayer) for layer in cache.layers)


def _merge(batch: _Batch, fresh: _Batch) -> _Batch:
    """Splice freshly prefilled rows into the running batch, left-padding the shorter cache."""
    import torch

    width = max(batch.mask.shape[1], fresh.mask.shape[1])

    def pad(tensor, dim_from_end: int):
        missing = width - tensor.shape[-dim_from_end]
        if missing == 0:
            return tensor
        shape = list(tensor.shape)
        shape[-dim_from_end] = missing
        return torch.cat([tensor.new_zeros(shape), tensor], dim=-dim_from_end)

    for old, new in zip(batch.cache.layers, fresh.cache.layers, strict=True):
        old.keys = torch.cat([pad(old.keys, 2), pad(new.keys, 2)], dim=0)
        old.values = torch.cat([pad(old.values, 2), pad(new.values, 2)], dim=0)
    batch.mask = torch.cat([pad(batch.mask, 1), pad(fresh.mask, 1)], dim=0)
    batch.positions = torch.cat([batch.positions, fresh.positions])
    batch.last = torch.cat([batch.last, fresh.last])
    batch.jobs = batch.jobs + fresh.jobs
    return batch
