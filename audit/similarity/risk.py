"""From metric results and findings to a low / medium / high replication risk, rules stated.

The rules (every number comes from ``SimilarityConfig``):

- high: a verbatim run of >= verbatim_tokens shared with the reference; or a protected
  passage reproduced; or near-duplicates on >= near_duplicate_share_high of the prompts;
  or the primary metric puts the candidate closer to the reference than every baseline
  with Holm-adjusted p <= alpha_high and effect size d_z >= effect_high.
- medium: a verbatim warning (>= verbatim_warn_tokens); any near-duplicate; the primary
  metric at p <= alpha_medium and d_z >= effect_medium; or any other metric at the
  high thresholds.
- low: none of the above.

Without a baseline (or with a single prompt) nothing is tested: the level then rests
on the verbatim, near-duplicate and protected findings alone and is marked uncalibrated.
"""

from __future__ import annotations

from typing import Literal

from audit.similarity.schema import (
    MetricResult,
    NearDuplicate,
    ProtectedFinding,
    RiskAssessment,
    RiskLevel,
    SimilarityConfig,
    VerbatimFinding,
)


def thresholds(config: SimilarityConfig) -> dict[str, str]:
    """The rule for each level, in words, with this config's numbers."""
    c = config
    return {
        "high": (
            f"a verbatim run of >= {c.verbatim_tokens} tokens; or a protected passage reproduced "
            f"(>= {c.protected_min_tokens} tokens); or near-duplicates (MinHash Jaccard >= "
            f"{c.near_duplicate_jaccard}) on >= {c.near_duplicate_share_high:.0%} of prompts; or "
            f"{c.primary_metric} closer to the reference than every baseline with Holm-adjusted "
            f"p <= {c.alpha_high} and effect size d_z >= {c.effect_high}"
        ),
        "medium": (
            f"a verbatim run of >= {c.verbatim_warn_tokens} tokens; or any near-duplicate; or "
            f"{c.primary_metric} at p <= {c.alpha_medium} and d_z >= {c.effect_medium}; or any "
            f"other metric at p <= {c.alpha_high} and d_z >= {c.effect_high}"
        ),
        "low": "none of the above",
    }


def metric_level(
    result: MetricResult, config: SimilarityConfig, *, primary: bool
) -> Literal["high", "medium"] | None:
    """Which thresholds a metric's calibrated comparison passes: high, medium or None."""
    p, d = result.p_value, result.effect_size
    if p is None or d is None:
        return None
    if p <= config.alpha_high and d >= config.effect_high:
        return "high" if primary else "medium"
    if primary and p <= config.alpha_medium and d >= config.effect_medium:
        return "medium"
    return None


def assess(
    config: SimilarityConfig,
    *,
    metrics: list[MetricResult],
    verbatim: list[VerbatimFinding],
    near_duplicates: list[NearDuplicate],
    protected: list[ProtectedFinding],
    n_prompts: int,
    calibrated: bool,
) -> RiskAssessment:
    """The risk level and the reasons for it."""
    high: list[str] = []
    medium: list[str] = []
    findings = [v for v in verbatim if v.level == "finding"]
    warnings = [v for v in verbatim if v.level == "warning"]
    if findings:
        high.append(
            f"{len(findings)} verbatim run(s) of >= {config.verbatim_tokens} tokens "
            f"(longest {findings[0].tokens}, prompt {findings[0].prompt_id})"
        )
    if protected:
        high.append(
            f"{len(protected)} protected passage reproduction(s) (longest {protected[0].tokens} "
            "tokens)"
        )
    if near_duplicates:
        share = len(near_duplicates) / max(n_prompts, 1)
        text = (
            f"near-duplicate answers on {len(near_duplicates)} of {n_prompts} prompts ({share:.0%})"
        )
        (high if share >= config.near_duplicate_share_high else medium).append(text)
    if warnings:
        medium.append(f"{len(warnings)} verbatim run(s) of >= {config.verbatim_warn_tokens} tokens")
    for result in metrics:
        passed = metric_level(result, config, primary=result.metric == config.primary_metric)
        if passed:
            text = (
                f"{result.metric}: candidate closer to the reference than every baseline "
                f"(p = {result.p_value:.4g}, d_z = {result.effect_size:.2f})"
            )
            (high if passed == "high" else medium).append(text)
    level: RiskLevel = "high" if high else "medium" if medium else "low"
    reasons = [f"high: {r}" for r in high] + [f"medium: {r}" for r in medium]
    return RiskAssessment(
        level=level, calibrated=calibrated, reasons=reasons, thresholds=thresholds(config)
    )
