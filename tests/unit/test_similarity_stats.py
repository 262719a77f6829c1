"""The permutation test and Holm-Bonferroni behind every replication-risk p-value."""

from __future__ import annotations

import numpy as np
import pytest

from audit.similarity.stats import effect_size, holm, min_p_value, paired_test


def test_holm_matches_the_textbook_example():
    # Holm (1979) style: sorted p 0.01, 0.03, 0.04 with m = 3 -> 0.03, 0.06, 0.06 (monotone).
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == pytest.approx([0.02])


def test_a_clear_shift_is_significant_and_no_shift_is_not():
    rng = np.random.default_rng(3)
    baseline = rng.uniform(0.4, 0.7, size=30)
    closer = baseline + 0.2 + rng.normal(0, 0.05, size=30)
    same = rng.uniform(0.4, 0.7, size=30)
    result = paired_test(
        np.vstack([closer, same]), np.vstack([baseline, baseline]), permutations=2000, seed=1
    )
    assert result.p_values[0] <= 1 / 2001 + 1e-12
    assert result.p_values[1] > 0.05
    assert result.effect_sizes[0] > 2 and abs(result.effect_sizes[1]) < 0.8
    assert result.differences[0] == pytest.approx(np.mean(closer - baseline))


def test_same_seed_same_p_value_and_the_test_is_one_sided():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 25), rng.normal(0.1, 1, 25)
    first = paired_test(x, y, permutations=1000, seed=7).p_values[0]
    assert paired_test(x, y, permutations=1000, seed=7).p_values[0] == first
    # candidate *further* from the reference than the baseline: nowhere near significant
    assert paired_test(y - 1, y, permutations=1000, seed=7).p_values[0] > 0.99


def test_few_prompts_are_enumerated_exactly():
    x = np.array([0.9, 0.8, 0.85, 0.95])
    y = np.array([0.5, 0.4, 0.45, 0.55])
    result = paired_test(x, y, permutations=1000, seed=0)
    assert result.exact
    assert result.p_values[0] == pytest.approx(1 / 16)  # the best 4 prompts can do
    assert min_p_value(4, 1000) == pytest.approx(1 / 16)
    assert min_p_value(30, 9999) == pytest.approx(1 / 10000)
    with pytest.raises(ValueError):
        paired_test(x[:1], y[:1])


def test_effect_size_is_bounded_when_every_difference_is_equal():
    assert effect_size(np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0]))[()] == 100.0
    assert effect_size(np.array([0.5, 0.5]), np.array([0.5, 0.5]))[()] == 0.0
