"""The student the app serves: its default name, and its first distillation in the background.

    name = default_student("smollm2-135m-instruct", "quick")   # what the preset names it
    prepare_teacher(config)                                    # before the page is served
    job = FirstDistill(config, store, preset="quick")
    job.start()                                                # a thread; the page serves on
    job.view().line        # "student training: step 80/160, about 3 min left"

``stillhouse app`` and the Space entry (root ``app.py``) prepare the teacher, serve the page,
and, when the student is not cached, run ``FirstDistill`` in a thread: the same licence
pre-flight gate as ``stillhouse distill``, recorded in the ledger, then the same
``core.distill.run.distill`` call. Its progress goes to the terminal and to ``view()``, which
the Distill, Arena and Battle tabs show; a refused pre-flight or a failed run is kept as a
message (and logged), and the app goes on serving the teacher.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.errors import InputError, NotFoundError, StillhouseError
from ui.config import AppConfig

if TYPE_CHECKING:
    from audit.ledger.store import Store

log = logging.getLogger("stillhouse.app")
STAGES = {  # the engine's progress descriptions, as a visitor reads them
    "teacher answers": "teacher answers",
    "teacher top-k cache": "top-k cache",
    "training step": "training",
    "held-out evaluation": "evaluation",
}
_STEP = re.compile(r"training step (\d+)")


class StudentView(BaseModel):
    """Where the first distillation stands, for the page."""

    state: str = Field(description="idle, running, done, refused or failed.")
    stage: str = Field(default="", description="teacher answers, top-k cache, training, ...")
    percent: float = Field(default=0.0, description="Of the current stage, 0-100.")
    step: int | None = Field(default=None, description="Training step done, while training.")
    steps: int | None = Field(default=None, description="Training steps in all.")
    eta_s: float | None = Field(default=None, description="Seconds left in the stage.")
    message: str = Field(default="", description="Why it was refused or failed; the result.")

    @property
    def line(self) -> str:
        """One line: "student training: step 80/160, about 3 min left"."""
        if self.state == "done":
            return "student ready"
        if self.state in ("refused", "failed"):
            return f"no student: {self.message}"
        if self.state == "idle" or not self.stage:
            return "student on its way: starting"
        left = "" if self.eta_s is None else f", about {_minutes(self.eta_s)} left"
        if self.step:
            return f"student {self.stage}: step {self.step}/{self.steps}{left}"
        return f"student on its way: {self.stage} {self.percent:.0f}%{left}"


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min" if seconds >= 60 else f"{int(seconds)} s"


def default_student(teacher: str, preset: str) -> str:
    """The name core.distill gives the student of ``teacher`` under ``preset``."""
    from core.distill.config import load_preset

    return load_preset(preset, [f"teacher={teacher}"]).student_name


def prepare_teacher(config: AppConfig) -> None:
    """Prepare (convert, verify) the teacher before anything is served."""
    from core.models import prepare_model, resolve_model

    print(f"stillhouse: preparing teacher {config.teacher}", flush=True)
    prepare_model(resolve_model(config.teacher), progress=True)


def student_cached(config: AppConfig) -> bool:
    from core.models import resolve_model

    try:
        resolve_model(config.student)
    except NotFoundError:
        return False
    return True


class FirstDistill:
    """The app's first distillation of its student, in a background thread.

    ``on_saved`` runs once the student is saved (the app records and serves it then).
    ``overrides`` are extra ``key=value`` preset overrides (tests use few steps).
    """

    def __init__(
        self,
        config: AppConfig,
        store: Store,
        *,
        preset: str,
        overrides: Sequence[str] = (),
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        self.config, self.store, self.preset = config, store, preset
        self.overrides, self.on_saved = list(overrides), on_saved
        self._lock = threading.Lock()
        self._view = StudentView(state="idle")
        self._stage_started = time.monotonic()
        self.thread: threading.Thread | None = None

    def view(self) -> StudentView:
        with self._lock:
            return self._view.model_copy()

    def start(self) -> threading.Thread:
        # Import the training stack here, on the caller's thread: transformers' lazy module is
        # not safe to import from two threads at once (the app imports it while serving), and a
        # first import in this thread alone failed with "cannot import name 'Trainer'".
        import core.distill.run
        import core.distill.trainer  # noqa: F401  (transformers.Trainer and TrainingArguments)

        self.thread = threading.Thread(
            target=self.run, name="stillhouse-first-distill", daemon=True
        )
        self.thread.start()
        return self.thread

    def run(self) -> None:
        """Pre-flight, distill, save; never raises (the app serves on whatever happens)."""
        self._set(state="running")
        try:
            result = self._distill()
        except StillhouseError as error:
            state = "refused" if error.code == "preflight_blocked" else "failed"
            self._finish(state, error.message)
            return
        except Exception as error:  # the server must not go down with its first distillation
            log.exception("first distillation failed")
            self._finish("failed", f"{error.__class__.__name__}: {error}")
            return
        print(
            f"stillhouse: student saved in {result.student_dir} (run {result.run_id})", flush=True
        )
        print(result.table, flush=True)
        if self.on_saved is not None:
            try:
                self.on_saved()
            except Exception as error:
                log.exception("serving the new student failed")
                self._finish("failed", f"saved, but could not be served: {error}")
                return
        self._finish("done", f"{result.student_name} saved (run {result.run_id})")

    def _distill(self):
        from audit.licences.gate import preflight_gate
        from core.distill.config import load_preset
        from core.distill.run import check_inputs
        from core.distill.run import distill as run_distill
        from ui.services.distill import preflight_request

        print(
            f"stillhouse: no student cached: distilling {self.config.student} from "
            f"{self.config.teacher} with the '{self.preset}' preset in the background "
            "(once; later starts reuse it)",
            flush=True,
        )
        dconfig = load_preset(
            self.preset,
            [f"teacher={self.config.teacher}", f"student_name={self.config.student}"]
            + self.overrides,
        )
        check_inputs(dconfig)  # a bad prompt file fails before the pre-flight is recorded
        gate = preflight_gate(self.store, preflight_request(dconfig, "commercial"))
        print(f"stillhouse: licence pre-flight: {gate.result.verdict}", flush=True)
        if gate.refused:
            raise InputError(
                "preflight_blocked",
                "licence pre-flight verdict is blocked: not distilling (recorded in the ledger)",
                hint="see `stillhouse audit` or run `stillhouse distill` with --override-reason",
            )
        return run_distill(dconfig, recorder=gate.recorder, progress=self.report)

    def report(self, fraction: float | None, desc: str = "") -> None:
        """``core.distill``'s progress callable: stage, percent, step i/N and ETA."""
        if fraction is None:  # a note, not a stage
            return
        stage = next((name for key, name in STAGES.items() if desc.startswith(key)), desc)
        now = time.monotonic()
        with self._lock:
            if stage != self._view.stage:
                self._stage_started = now
            step = steps = None
            if (match := _STEP.match(desc)) and fraction > 0:
                step = int(match.group(1))
                steps = max(step, round(step / fraction))
            elapsed = now - self._stage_started
            eta = elapsed * (1 - fraction) / fraction if 0 < fraction < 1 else None
            self._view = self._view.model_copy(
                update=dict(stage=stage, percent=100 * fraction, step=step, steps=steps, eta_s=eta)
            )

    def _set(self, **fields) -> None:
        with self._lock:
            self._view = self._view.model_copy(update=fields)

    def _finish(self, state: str, message: str) -> None:
        line = f"stillhouse: first distillation {state}: {message}"
        print(line, flush=True)
        if state != "done":
            log.warning(line)
            print("stillhouse: serving the teacher alone until a student is saved", flush=True)
        self._set(state=state, message=message, eta_s=None)
