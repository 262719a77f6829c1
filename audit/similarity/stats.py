"""Is the candidate closer to the reference than an unrelated model is, on the same prompts?

    result = paired_test(candidate_scores, baseline_scores, permutations=9999, seed=0)
    result.p_values, result.effect_sizes        # one per metric row
    holm([0.01, 0.04, 0.03])                     # -> [0.03, 0.06, 0.06]

The test is scipy's ``permutation_test`` with ``permutation_type="samples"``: within
each prompt the candidate and baseline labels are swapped at random (a permutation
test stratified by prompt, i.e. a sign-flip test on the per-prompt differences),
one-sided ("candidate more similar than baseline"), seeded. When 2^n <= the number
of permutations scipy enumerates all 2^n label swaps and the p-value is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EFFECT_CAP = 100.0


@dataclass(frozen=True)
class PairedTest:
    """Per metric row: mean difference, paired effect size d_z, one-sided p-value."""

    differences: np.ndarray
    effect_sizes: np.ndarray
    p_values: np.ndarray
    exact: bool


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def effect_size(candidate: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Paired Cohen's d_z per row: mean(diff) / sd(diff), clipped to +-100 (0 when all diffs are
    0)."""
    diff = np.asarray(candidate, float) - np.asarray(baseline, float)
    mean = diff.mean(axis=-1)
    sd = diff.std(axis=-1, ddof=1) if diff.shape[-1] > 1 else np.zeros_like(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), np.sign(mean) * EFFECT_CAP)
    return np.clip(d, -EFFECT_CAP, EFFECT_CAP)


def paired_test(
    candidate: np.ndarray, baseline: np.ndarray, *, permutations: int = 9999, seed: int = 0
) -> PairedTest:
    """Stratified permutation test of every metric row at once (arrays: metrics x prompts).

    Needs at least two prompts; with n prompts the smallest possible p-value is 1 / 2^n.
    """
    from scipy.stats import permutation_test

    x = np.atleast_2d(np.asarray(candidate, float))
    y = np.atleast_2d(np.asarray(baseline, float))
    if x.shape != y.shape or x.shape[-1] < 2:
        raise ValueError("paired_test needs two equal arrays with at least two prompts")
    result = permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=permutations,
        alternative="greater",
        axis=-1,
        rng=np.random.default_rng(seed),
    )
    exact = 2 ** x.shape[-1] <= permutations
    return PairedTest(
        np.asarray(result.statistic, float),
        effect_size(x, y),
        np.asarray(result.pvalue, float),
        exact,
    )


def holm(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    scipy only ships Benjamini-Hochberg (``false_discovery_control``); Holm is four lines.
    """
    p = np.asarray(p_values, float)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def min_p_value(n_prompts: int, permutations: int) -> float:
    """The smallest p-value the test can report with ``n_prompts`` prompts."""
    if n_prompts < 2:
        return 1.0
    if 2**n_prompts <= permutations:
        return 1.0 / 2**n_prompts
    return 1.0 / (permutations + 1)
