"""``TimeBudget``: stop training once a wall-clock budget is spent (a Trainer callback).

    trainer.add_callback(TimeBudget(300))   # at most ~300 s of optimizer steps

The step that crosses the budget finishes; the model is then saved and evaluated as after
``max_steps``. Used by ``bench/bench_frontier.py`` to give every student shape the same
training time.
"""

from __future__ import annotations

import time

from transformers import TrainerCallback


class TimeBudget(TrainerCallback):
    """Stop after ``seconds`` of training (None: never)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.started: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self.seconds and self.started is not None:
            if time.perf_counter() - self.started >= self.seconds:
                control.should_training_stop = True
        return control
