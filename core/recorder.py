"""What the engine reports about its work, and to whom.

The engine (distillation, teacher data, probes) never talks to the ledger
directly: it calls a ``Recorder``. ``audit.ledger.store.Store`` implements this protocol and
writes every call into the hash-chained DuckDB ledger; ``NullRecorder`` serves tests
and library use without a database. Because the CLI and the app both hand the same
store in, a run cannot skip the ledger.

    run_id = recorder.start_run(
        "distill", config=cfg, seed=0, code_version=code_version(),
        inputs=[ArtifactRef(role="teacher", kind="model", name=..., sha256=...)]
    )
    ...
    recorder.finish_run(run_id, outputs=[...], metrics={...}, status="succeeded")
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

ArtifactKind = Literal["model", "dataset", "checkpoint", "file"]
RunStatus = Literal["succeeded", "failed", "interrupted"]


class ArtifactRef(BaseModel):
    """One thing a run used or made, named and hashed."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(
        description="teacher, student_base, train_data, heldout, student, teacher_data, ..."
    )
    kind: ArtifactKind = Field(description="model, dataset, checkpoint or file.")
    name: str = Field(description="Name in the catalogue or file name.")
    sha256: str | None = Field(default=None, description="Weights hash, Merkle root or file hash.")
    license: str | None = Field(default=None, description="Licence id, when known.")
    path: str | None = Field(default=None, description="Local path or URI.")
    records: int | None = Field(default=None, description="Record count for datasets.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Spec, config and other facts."
    )


@runtime_checkable
class Recorder(Protocol):
    """Receives the facts of every run. Implemented by ``audit.ledger.store.Store``."""

    def start_run(
        self,
        kind: str,
        *,
        config: dict[str, Any],
        seed: int | None,
        code_version: str,
        inputs: list[ArtifactRef],
    ) -> str: ...

    def finish_run(
        self,
        run_id: str,
        *,
        outputs: list[ArtifactRef],
        metrics: dict[str, Any],
        status: RunStatus,
    ) -> None: ...


class NullRecorder:
    """Records nothing; hands out run ids so the engine can run without a ledger."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}

    def start_run(self, kind, *, config, seed, code_version, inputs) -> str:
        run_id = uuid.uuid4().hex[:12]
        self.runs[run_id] = {"kind": kind, "config": config, "seed": seed, "inputs": inputs}
        return run_id

    def finish_run(self, run_id, *, outputs, metrics, status) -> None:
        self.runs[run_id].update(outputs=outputs, metrics=metrics, status=status)


def code_version() -> str:
    """stillhouse's version plus the git commit when run from a checkout (``0.1.0+abc1234``)."""
    from core import __version__

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return f"{__version__}+{commit}{'.dirty' if dirty else ''}"
