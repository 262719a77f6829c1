"""Service functions for the CLI and the web app: score, record in the ledger, draw the picture.

    outcome = score_and_record_files(store, "ref.jsonl", "cand.jsonl", ["base.jsonl"], plot="s.png")
    answers = core.probe.probe_models(...)            # generation: core (needs the backends)
    outcome = score_and_record_probe(store, answers, plot="s.png")
    outcome.report.risk.level, outcome.result_id, outcome.plot

``store`` is an ``audit.ledger.store.Store`` (anything with ``record_similarity``, and for
probes ``start_run`` / ``finish_run``). Every score is recorded; a probe is also a run
whose inputs are the models (with weights hashes) and the prompt set (with its hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit.similarity.io import read_rows
from audit.similarity.schema import SimilarityConfig, SimilarityReport
from audit.similarity.score import record_report, score_files, score_texts
from core.recorder import ArtifactRef, code_version


class SimilarityOutcome(BaseModel):
    """A score as recorded: the report, its ledger ids and the picture."""

    model_config = ConfigDict(extra="forbid")

    report: SimilarityReport = Field(description="The score.")
    result_id: str = Field(description="Ledger id of the similarity record.")
    run_id: str | None = Field(default=None, description="Ledger run id (probes).")
    plot: str | None = Field(
        default=None, description="PNG of the per-prompt distribution, when drawn."
    )


def _plot(report: SimilarityReport, plot: str | Path | None) -> str | None:
    if not plot or not report.prompts:
        return None
    from audit.similarity.plot import plot_similarity

    return str(plot_similarity(report, plot))


def score_and_record_files(
    store: Any,
    reference: str | Path,
    candidate: str | Path,
    baselines: Sequence[str | Path] = (),
    protected: str | Path | None = None,
    config: SimilarityConfig | None = None,
    *,
    plot: str | Path | None = None,
    progress: bool = False,
) -> SimilarityOutcome:
    """Score JSONL files (e.g. uploads), record the result, draw the PNG if asked."""
    report = score_files(reference, candidate, baselines, protected, config, progress=progress)
    result_id = record_report(store, report)
    return SimilarityOutcome(report=report, result_id=result_id, plot=_plot(report, plot))


def _model_ref(role: str, facts: dict[str, Any]) -> ArtifactRef:
    spec = facts["spec"]
    return ArtifactRef(
        role=role,
        kind="model",
        name=spec["name"],
        sha256=facts.get("weights_sha256"),
        license=spec.get("license"),
        path=spec.get("path") or spec.get("hf_id"),
        details={"spec": spec, "info": facts.get("info", {})},
    )


def score_and_record_probe(
    store: Any,
    answers: Any,
    config: SimilarityConfig | None = None,
    *,
    protected: str | Path | None = None,
    plot: str | Path | None = None,
    progress: bool = False,
) -> SimilarityOutcome:
    """Score a probe's answers (a ``core.probe.ProbeAnswers``) and record it as a run plus a
    result."""
    config = config or SimilarityConfig()
    models = answers.models
    inputs = [
        _model_ref("candidate", models["candidate"]),
        _model_ref("reference", models["reference"]),
        *(_model_ref("baseline", f) for f in models["baselines"].values()),
        ArtifactRef(
            role="probe_prompts",
            kind="dataset",
            name=Path(answers.prompts_path or "prompts").name,
            sha256=answers.prompt_set_hash,
            path=answers.prompts_path,
            records=answers.prompts,
        ),
    ]
    run_id = store.start_run(
        "similarity-probe",
        config={"similarity": config.model_dump(mode="json"), "generation": answers.params},
        seed=config.seed,
        code_version=code_version(),
        inputs=inputs,
    )
    try:
        report = score_texts(
            answers.reference,
            answers.candidate,
            answers.baselines,
            read_rows(protected) if protected else None,
            config,
            names=answers.names(),
            provenance=answers.provenance(),
            progress=progress,
        )
        result_id = record_report(store, report, run_id=run_id)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        store.finish_run(run_id, outputs=[], metrics={"error": str(exc)[:200]}, status=status)
        raise
    store.finish_run(
        run_id,
        outputs=[],
        status="succeeded",
        metrics={
            "risk": report.risk.level,
            "p_value": report.p_value,
            "calibrated": report.risk.calibrated,
            **report.scores,
        },
    )
    return SimilarityOutcome(
        report=report, result_id=result_id, run_id=run_id, plot=_plot(report, plot)
    )
