"""The Similarity tab's service: run a probe on live models or score uploaded answer files.

    similarity = SimilarityService(models, store, scratch)
    view = similarity.probe("student", "teacher", ["other-model"], prompts=16, max_new_tokens=64)
    view = similarity.files("ref.jsonl", "cand.jsonl", ["base.jsonl"], protected=None)

Generation goes through ``core.probe`` (reusing the app's loaded teacher and student),
scoring and recording through ``audit.similarity.service``; this module only shapes the
result for the page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.specs import ModelSpec
from ui.services.models import ServedModels
from ui.services.scratch import Scratch

if TYPE_CHECKING:
    from audit.ledger.store import Store
    from audit.similarity.service import SimilarityOutcome
    from core.backends import Backend

RISK_CLASS = {"low": "sh-allowed", "medium": "sh-needs_review", "high": "sh-blocked"}
METRIC_HEADERS = [
    "Metric",
    "Candidate vs reference",
    "Best baseline",
    "p-value (Holm)",
    "Effect size",
    "Level",
]


class SimilarityView(BaseModel):
    """What the Similarity tab shows for one score."""

    risk: str = Field(description="HTML badge with the risk level and why.")
    metrics: list[list[Any]] = Field(description="One row per metric.")
    notes: str = Field(description="Markdown: p-value, reasons, notes, ledger ids.")
    plot: str | None = Field(default=None, description="PNG of the per-prompt distributions.")


class SimilarityService:
    """Probe and score for the app, reusing its loaded teacher and student."""

    def __init__(self, models: ServedModels, store: Store, scratch: Scratch) -> None:
        self.models = models
        self.store = store
        self.scratch = scratch

    def model_names(self) -> list[str]:
        """What the model pickers offer: the served pair first, then every known causal LM."""
        return self.models.names()

    def probe(
        self,
        candidate: str,
        reference: str,
        baselines: list[str],
        *,
        prompts: int,
        max_new_tokens: int,
    ) -> SimilarityView:
        """Candidate, reference and baselines (by name) answer the probe prompts; score, record."""
        spec = self.models.spec
        return probe(
            self.store,
            spec(candidate),
            spec(reference),
            [spec(b) for b in baselines],
            prompts=prompts,
            max_new_tokens=max_new_tokens,
            factory=self.models.probe_backend,
            plot=self.scratch.file(".png"),
        )

    def files(
        self, reference: str, candidate: str, baselines: list[str], protected: str | None
    ) -> SimilarityView:
        """Score uploaded JSONL answer files and record the result."""
        return score_files(
            self.store, reference, candidate, baselines, protected, self.scratch.file(".png")
        )


def probe(
    store: Store,
    candidate: ModelSpec,
    reference: ModelSpec,
    baselines: list[ModelSpec],
    *,
    prompts: int,
    max_new_tokens: int,
    factory: Callable[[ModelSpec], Backend],
    plot: Path,
) -> SimilarityView:
    """Candidate, reference and baselines answer the probe prompts; score and record it."""
    from audit.similarity.service import score_and_record_probe
    from core.generation import GenerationParams
    from core.probe import default_prompts_path, load_prompts, probe_models

    chosen = load_prompts()[:prompts]
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
    answers = probe_models(
        candidate,
        reference,
        baselines,
        chosen,
        params,
        prompts_path=default_prompts_path(),
        progress=False,
        backend_factory=factory,
    )
    return view(score_and_record_probe(store, answers, plot=plot))


def score_files(
    store: Store,
    reference: str,
    candidate: str,
    baselines: list[str],
    protected: str | None,
    plot: Path,
) -> SimilarityView:
    """Score uploaded JSONL answer files and record the result."""
    from audit.similarity.service import score_and_record_files

    return view(
        score_and_record_files(store, reference, candidate, baselines, protected, plot=plot)
    )


def view(outcome: SimilarityOutcome) -> SimilarityView:
    report = outcome.report
    risk = report.risk
    why = "; ".join(risk.reasons) or "no measure passes the risk thresholds"
    badge = (
        f"<div class='sh-verdict {RISK_CLASS.get(risk.level, '')}'>Replication risk: "
        f"{risk.level.upper()}"
        f"{'' if risk.calibrated else ' (not calibrated: no baseline)'} · {html.escape(why)}</div>"
    )
    rows = [
        [
            m.metric,
            round(m.candidate_mean, 4),
            round(max((c.baseline_mean for c in m.comparisons), default=float("nan")), 4)
            if m.comparisons
            else "",
            _fmt(m.p_value),
            _fmt(m.effect_size),
            m.level or "",
        ]
        for m in report.metrics
    ]
    p = "not calibrated" if report.p_value is None else f"{report.p_value:.3g}"
    lines = [
        f"**{report.candidate}** against reference **{report.reference}**, baselines: "
        f"{', '.join(report.baselines) or 'none'} · primary p-value: **{p}**",
        *(f"- {note}" for note in report.notes),
        f"Recorded in the ledger: result `{outcome.result_id}`"
        + (f", run `{outcome.run_id}`" if outcome.run_id else ""),
    ]
    return SimilarityView(risk=badge, metrics=rows, notes="\n".join(lines), plot=outcome.plot)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"
