"""What one distillation run carries from step to step, and what it hands back.

    ctx = RunContext(config=config, args=args, folder=folder, run_id=run_id, recorder=recorder,
                     progress=prog, teacher_spec=spec, data=data, heldout=heldout, started=t0)
    ctx.student, ctx.kept = training.make_student(ctx)
    result: DistillResult = training.finish(ctx, trainer)

``core.distill.run`` builds the context and calls the steps in ``core.distill.training`` in
order; both import this module and neither imports the other's module back, so the run's
state travels by name, not as a dozen positional values. The fields after ``started`` are
filled in as the run goes (the models exist only after the teacher data is made).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.distill.config import DistillConfig
from core.distill.data import TeacherData
from core.distill.progress import Progress
from core.recorder import Recorder
from core.specs import ModelSpec


class RunContext(BaseModel):
    """A distillation run's state, handed from ``run.py`` to each step in ``training.py``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    config: DistillConfig = Field(description="The run's validated settings.")
    args: Any = Field(description="transformers TrainingArguments (output dir, process index).")
    folder: Path = Field(description="The run folder: checkpoints, loss curve, evaluation JSON.")
    checkpoint: Path | None = Field(default=None, description="Checkpoint to resume from.")
    run_id: str = Field(description="Run id given by the recorder.")
    recorder: Recorder = Field(description="Where the run is recorded (the ledger, or nowhere).")
    progress: Progress = Field(description="Progress bars and notes for this process.")
    teacher_spec: ModelSpec = Field(description="The resolved teacher.")
    data: TeacherData = Field(description="The teacher-data JSONL file the student learns from.")
    heldout: list[str] = Field(description="Held-out texts, never trained on.")
    started: float = Field(description="time.perf_counter() when the run began.")
    teacher: Any = Field(default=None, description="The teacher model (loaded for training).")
    tokenizer: Any = Field(default=None, description="The tokenizer teacher and student share.")
    student: Any = Field(default=None, description="The student model being trained.")
    kept: list[int] | None = Field(
        default=None, description="Teacher layers the pruned student kept (None: given model)."
    )
    baseline: dict[str, float] = Field(
        default_factory=dict, description="Held-out figures of the untrained student."
    )
    resumed_step: int = Field(default=0, description="Step the run resumed from (0: fresh).")

    @property
    def main(self) -> bool:
        """True in the process that records, saves and evaluates (rank 0)."""
        return bool(self.args.process_index == 0)


class DistillResult(BaseModel):
    """What a finished run made and how good it is."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(description="Run id given by the recorder.")
    run_dir: str = Field(description="Folder of checkpoints, loss curve and evaluation JSON.")
    student_name: str = Field(description="Name the student is saved under.")
    student_dir: str = Field(description="Folder of the saved student checkpoint.")
    student_sha256: str = Field(description="SHA-256 of the student's weights.")
    evaluation: dict[str, Any] = Field(description="EvalReport as a dict, plus kl_reduction.")
    table: str = Field(description="The evaluation as a plain-text table.")
    eval_json: str = Field(description="Path of evaluation.json.")
    loss_curve_png: str | None = Field(default=None, description="Path of the loss-curve picture.")
    teacher_data: str = Field(description="Path of the teacher-data JSONL file.")
    kept_layers: list[int] | None = Field(
        default=None, description="Teacher layers the student kept."
    )
    wall_s: float = Field(description="Seconds the run took.")
    resumed_from_step: int = Field(default=0, description="Step the run resumed from (0: fresh).")
    state_sha256: str = Field(
        default="",
        description="SHA-256 of the trained weights in memory "
        "(every process computes it: equal under DDP).",
    )


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as sorted, indented JSON, atomically."""
    from core.paths import atomic_file

    with atomic_file(path, "w") as handle:
        handle.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
