"""Which threads run torch on CPU: only busy ones may keep OpenMP workers.

    model, tokenizer = in_fresh_thread(load_causal_lm, spec, device="cpu", dtype="bfloat16")

torch's CPU kernels run on OpenMP (libgomp), and libgomp keeps a pool of worker threads
for every thread that has run a parallel region, for as long as that thread lives. Once
the pools hold more threads than there are CPUs, libgomp stops its workers spinning
between parallel regions, and every one of the ~1,000 small regions of a decode step
then waits for a worker to wake up. Measured on this 2-core machine, one bf16 decode step
of the default teacher at batch 32: 49 ms in the thread that loaded the model, 84-90 ms in
a scheduler thread when the loading thread's pool was still alive, 52 ms when the model
had been loaded in a thread that had ended.

So the serving code keeps a thread's pool alive only while it computes: models are
loaded in a thread that ends (``in_fresh_thread``), and a batching engine's scheduler
thread ends after ``idle_exit_s`` without work (``core.backends.batching``); the next
request starts a fresh one. Two engines decoding at the same moment (a battle) still
share the CPUs, as they must.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_fresh_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` run in a new thread that ends with it; its result, or its
    exception raised here."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="stillhouse-loader", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
