"""The Distill tab's service: choices, the licence pre-flight, the running job, the scorecard.

    distill = DistillService(config, store)
    view = distill.preflight("quick", {"teacher": "smollm2-135m-instruct"}, "commercial")
    for update in distill.run("quick", overrides, "commercial", override_reason=None):
        ...                                              # progress, loss points, then the result
    distill.latest()                                     # newest finished run's scorecard

The job runs ``core.distill.run.distill`` in a thread, behind ``audit.licences.gate.preflight_gate``
(the same gate ``stillhouse distill`` uses), and reads the loss history from the
Trainer's checkpoints as they are written. One job at a time per app.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import InputError
from ui.config import AppConfig

if TYPE_CHECKING:
    from audit.ledger.store import Store
    from audit.licences.preflight import PreflightRequest
    from core.distill.config import DistillConfig
    from core.recorder import Recorder

VERDICT_TEXT = {
    "allowed": "**Allowed.** Nothing in the licences stands in the way.",
    "allowed_with_conditions": (
        "**Allowed with conditions.** See the findings and obligations below."
    ),
    "needs_review": "**Needs review.** Ask legal before shipping the student.",
    "blocked": (
        "**Blocked.** The run is refused unless an admin writes an override reason "
        "(it is recorded)."
    ),
}


class DistillChoices(BaseModel):
    """What the Distill form offers."""

    teachers: list[str] = Field(description="Causal LMs stillhouse knows by name.")
    presets: list[str] = Field(description="Preset names under data/presets/.")
    prompt_sets: list[str] = Field(description="Prompt sets under data/prompts/.")
    licenses: list[str] = Field(description="Licence ids in the knowledge base.")


class PreflightView(BaseModel):
    """The pre-flight as the tab shows it."""

    verdict: str = Field(description="allowed, allowed_with_conditions, needs_review or blocked.")
    summary: str = Field(description="Markdown line for the verdict.")
    findings: list[list[str]] = Field(
        description="Severity, licence, clause, message, verified rows."
    )
    obligations: str = Field(description="Markdown list of what the student inherits.")


class DistillUpdate(BaseModel):
    """One step of a running job."""

    fraction: float | None = Field(default=None, description="Share of the current stage done.")
    desc: str = Field(default="", description="What is happening now.")
    loss: list[dict[str, float]] = Field(
        default_factory=list, description="{step, loss} points so far."
    )
    result: dict[str, Any] | None = Field(
        default=None, description="DistillResult as a dict, at the end."
    )


def distill_choices() -> DistillChoices:
    from audit.licences.knowledge import known_license_ids
    from core.distill.config import PRESETS_DIR, PROJECT_ROOT
    from core.models import known_models

    prompts = sorted(
        str(p.relative_to(PROJECT_ROOT))
        for p in (PROJECT_ROOT / "data" / "prompts").glob("*.jsonl")
        if "heldout" not in p.name
    )
    return DistillChoices(
        teachers=[m.name for m in known_models() if m.kind == "causal-lm"],
        presets=sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")),
        prompt_sets=prompts,
        licenses=known_license_ids(),
    )


def distill_config(preset: str, overrides: dict[str, Any]) -> DistillConfig:
    """The preset with the form's values applied (``None`` values keep the preset's)."""
    from core.distill.config import load_preset

    pairs = [
        f"{key}={json.dumps(value)}" for key, value in overrides.items() if value not in (None, "")
    ]
    return load_preset(preset, pairs)


def preflight_request(config: DistillConfig, use: str) -> PreflightRequest:
    """The licence question for a config: teacher, data and student base licences, and the use."""
    from audit.licences.preflight import PreflightRequest
    from core.distill.texts import texts_license
    from core.models import resolve_model

    teacher = resolve_model(config.teacher)
    base = resolve_model(config.student_from).license if config.student_from else teacher.license
    data = [config.prompts_license, texts_license(config)]  # what the student trains on
    return PreflightRequest(
        teacher_license=teacher.license,
        data_licenses=[license for license in dict.fromkeys(data) if license],
        use=use,
        student_name=config.student_name,
        student_base_license=base,
        **config.preflight.model_dump(),
    )


def preflight_view(request: PreflightRequest) -> PreflightView:
    from audit.licences.preflight import preflight

    result = preflight(request)
    rows = [
        [f.severity, f.license, f.clause or "", f.message, "yes" if f.verified else "NO"]
        for f in result.findings
    ]
    groups = [
        ("Unmet now", result.unmet_now()),
        ("Due now", result.due("now")),
        ("Due on release", result.due("on_release")),
        ("Due on hosting", result.due("on_hosting")),
    ]
    duties = "\n".join(
        f"**{title}**\n\n"
        + "\n".join(
            f"- **{o.license}** ({o.source}): {o.text}" + ("" if o.binding else " *(advice)*")
            for o in items
        )
        + "\n"
        for title, items in groups
        if items
    )
    return PreflightView(
        verdict=result.verdict,
        summary=VERDICT_TEXT[result.verdict],
        findings=rows,
        obligations=duties or "*No obligations carry over to the student.*",
    )


class LatestRun(BaseModel):
    """The newest finished distillation, for the Distill tab."""

    run_id: str = Field(description="Ledger run id.")
    rows: list[list[str]] = Field(description="Scorecard rows.")
    loss_png: str | None = Field(
        default=None, description="The run's loss-curve picture, if still on disk."
    )


class DistillService:
    """What the Distill tab asks of the app: pre-flight, run, scorecards."""

    def __init__(self, config: AppConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.job = DistillJob(store)

    def preflight(self, preset: str, overrides: dict, use: str) -> PreflightView:
        """The licence pre-flight for the form (nothing is recorded yet)."""
        return preflight_view(preflight_request(distill_config(preset, overrides), use))

    def run(
        self, preset: str, overrides: dict, use: str, override_reason: str | None
    ) -> Iterator[DistillUpdate]:
        """Gate and run a distillation (one at a time per app), recorded in the ledger."""
        config = distill_config(preset, overrides)
        return self.job.run(config, preflight_request(config, use), override_reason=override_reason)

    def scorecard(self, result: dict) -> list[list[str]]:
        """Scorecard rows for a finished run's evaluation and the ledger's votes."""
        from ui.services.scorecard import scorecard

        return scorecard(result["evaluation"], self.store.votes(), self.config.cost_per_hour)

    def latest(self) -> LatestRun | None:
        """The newest succeeded distill run with an evaluation file: its scorecard and loss
        curve."""
        for run in reversed(self.store.runs(kind="distill")):
            if run.get("status") != "succeeded":
                continue
            files = {a.get("role"): a.get("path") for a in self.store.run(run["run_id"])["outputs"]}
            evaluation, curve = files.get("evaluation"), files.get("loss_curve")
            if evaluation and Path(evaluation).is_file():
                rows = self.scorecard({"evaluation": json.loads(Path(evaluation).read_text())})
                return LatestRun(
                    run_id=run["run_id"],
                    rows=rows,
                    loss_png=curve if curve and Path(curve).is_file() else None,
                )
        return None


class DistillJob:
    """Runs one distillation at a time for the app, recorded in the ledger."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._busy = threading.Lock()

    def run(
        self,
        config: DistillConfig,
        request: PreflightRequest,
        *,
        override_reason: str | None = None,
        poll_s: float = 2.0,
    ) -> Iterator[DistillUpdate]:
        """Gate, then distill in a thread; yield progress, loss points and finally the result."""
        from audit.licences.gate import preflight_gate
        from core.distill.run import check_inputs

        if not self._busy.acquire(blocking=False):
            raise InputError("distill_busy", "a distillation is already running in this app")
        try:
            check_inputs(config)  # a bad prompt file fails before the pre-flight is recorded
            gate = preflight_gate(self.store, request, (override_reason or "").strip() or None)
            if gate.refused:
                raise InputError(
                    "preflight_blocked",
                    "pre-flight verdict is blocked: run refused "
                    "(recorded in the ledger); write an override reason to run anyway",
                )
            yield from self._watch(config, gate.recorder, poll_s)
        finally:
            self._busy.release()

    def _watch(
        self, config: DistillConfig, recorder: Recorder, poll_s: float
    ) -> Iterator[DistillUpdate]:
        from core.distill.run import distill, run_folder

        events: queue.Queue = queue.Queue()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = distill(
                    config, recorder=recorder, progress=lambda f, desc="": events.put((f, desc))
                )
            except BaseException as error:  # re-raised in the caller's thread below
                box["error"] = error
            events.put(None)

        threading.Thread(target=work, name="stillhouse-distill", daemon=True).start()
        folder, update = run_folder(config), DistillUpdate(desc="starting")
        while True:
            try:
                event = events.get(timeout=poll_s)
            except queue.Empty:
                event = ()
            if event is None:
                break
            if event:
                update.fraction, update.desc = event[0], event[1] or update.desc
            update.loss = loss_points(folder) or update.loss
            yield update.model_copy()
        if "error" in box:
            raise box["error"]
        result = box["result"]
        yield DistillUpdate(
            fraction=1.0,
            desc=f"Done: student {result.student_name} saved, run {result.run_id} "
            f"recorded in the ledger ({result.wall_s:.0f} s)",
            loss=loss_points(folder) or update.loss,
            result=result.model_dump(),
        )


def loss_points(folder: Path) -> list[dict[str, float]]:
    """Training loss per logged step, from the newest checkpoint's trainer_state.json."""
    states = sorted(
        Path(folder).glob("checkpoints/checkpoint-*/trainer_state.json"),
        key=lambda p: int(p.parent.name.split("-")[-1]),
    )
    if not states:
        return []
    try:
        history = json.loads(states[-1].read_text()).get("log_history", [])
    except (OSError, ValueError):
        return []
    return [{"step": float(h["step"]), "loss": float(h["loss"])} for h in history if "loss" in h]


class Eta:
    """Time left in the current stage, from its fraction done and its elapsed time."""

    def __init__(self) -> None:
        self.stage, self.started = "", time.monotonic()

    def __call__(self, fraction: float | None, desc: str) -> str:
        stage = desc.split(" step")[0]
        if stage != self.stage:
            self.stage, self.started = stage, time.monotonic()
        if not fraction or fraction >= 1:
            return desc
        left = (time.monotonic() - self.started) * (1 - fraction) / fraction
        return f"{desc} · about {int(left // 60)} min {int(left % 60):02d} s left"
