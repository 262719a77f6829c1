"""Quality kept, from a run's evaluation: answer agreement (floor -> ceiling), perplexity ratio
and win rate, as the Distill scorecard and ``stillhouse distill`` show them.

    view = answer_quality(evaluation, win_rate=0.41)
    view["kept"], view["parts"], view["agreement"], view["lines"]

The answers come from ``core.distill.evaluate`` (in ``evaluation["answers"]``); the metrics are
the similarity module's (``audit.similarity.agreement.answer_scorer``), computed here because
core does not import audit.
"""

from __future__ import annotations

from typing import Any


def answer_quality(evaluation: dict[str, Any], win_rate: float | None = None) -> dict[str, Any]:
    """Agreement, quality kept and its parts, and printable lines (empty parts when unknown)."""
    from core.distill.answers import agreement, quality_kept

    t, s = evaluation["teacher"], evaluation["student"]
    ratio = s["perplexity"] / t["perplexity"] if t.get("perplexity") else None
    agree = None
    if evaluation.get("answers"):
        from audit.similarity.agreement import answer_scorer

        agree = agreement(evaluation["answers"], answer_scorer())
    kept, parts = quality_kept(ratio, agree, win_rate)
    lines = []
    if agree is not None:
        lines.append(
            "answer agreement (floor / student / ceiling): "
            + "; ".join(
                f"{m} {agree.floor[m]:.3f} / {agree.student[m]:.3f} / {agree.ceiling[m]:.3f} "
                f"({agree.position[m]:.0%} of the way)"
                for m in agree.position
            )
        )
    if kept is not None:
        detail = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        lines.append(f"quality kept: {kept:.0%} (mean of {detail})")
    tps_t, tps_s = t.get("tokens_per_s"), s.get("tokens_per_s")
    speedup = tps_s / tps_t if tps_t and tps_s else None
    if speedup:
        lines.append(f"decode speed-up at batch 1: {speedup:.2f}x (timed interleaved)")
    return {
        "kept": kept,
        "parts": parts,
        "agreement": agree.model_dump() if agree is not None else None,
        "speedup": speedup,
        "lines": lines,
    }


def judge_answers(evaluation: dict[str, Any], model: str, base_url: str):
    """The student's win rate by a judge model (``core.distill.judge``); never raises for a
    failing endpoint: the outcome says why."""
    import os

    from core.distill.judge import JudgeOutcome, judge_win_rate

    if not evaluation.get("answers"):
        return JudgeOutcome(model=model, error="no held-out answers in this evaluation")
    return judge_win_rate(
        evaluation["answers"],
        model=model,
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY"),
    )
