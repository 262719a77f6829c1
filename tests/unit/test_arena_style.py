"""Style control: long, markdown-heavy answers stop buying rating; the fit matches arena-rank."""

from __future__ import annotations

import numpy as np
import pytest

from core.arena import BattleTable, bradley_terry
from core.arena_style import STYLE_FEATURES, StyleCounts, style_controlled, style_features
from core.errors import InputError


def verbose_battles(n: int, seed: int = 0, beta_length: float = 1.0):
    """Three equally good models; 'wordy' writes twice as long, and length wins votes."""
    rng = np.random.default_rng(seed)
    names = np.array(["plain", "terse", "wordy"])
    mean_len = np.array([200.0, 200.0, 400.0])
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3

    def counts(side):
        length = rng.lognormal(np.log(mean_len[side]), 0.6)
        return np.stack(
            [length, rng.poisson(1, n), rng.poisson(3, n), rng.poisson(2, n)], axis=1
        ).astype(float)

    ca, cb = counts(a), counts(b)
    x = style_features(StyleCounts(ca, cb))
    p = 1 / (1 + np.exp(-beta_length * x[:, 0]))
    winner = np.where(rng.random(n) < p, "model_a", "model_b")
    table = BattleTable.from_arrays(names[a].tolist(), names[b].tolist(), winner.tolist())
    return table, StyleCounts(ca, cb), ca, cb, winner, names[a], names[b]


def test_style_control_takes_the_length_bonus_away():
    table, style, *_ = verbose_battles(6000)
    default = {r.model: r.rating for r in bradley_terry(table, bootstrap=0, anchor="plain")}
    fit = style_controlled(table, style, bootstrap=200, seed=0, anchor="plain")
    controlled = {r.model: r for r in fit.ratings}
    assert default["wordy"] - default["plain"] > 40  # length bought it a lead
    assert abs(controlled["wordy"].rating - controlled["plain"].rating) < 0.5 * (
        default["wordy"] - default["plain"]
    )
    length = fit.coefficients["length"]
    assert length.lower < length.value < length.upper and length.lower > 0
    assert set(fit.coefficients) == set(STYLE_FEATURES)
    assert controlled["plain"].rating == 1000.0 and fit.anchor == "plain"


def test_few_battles_give_wide_style_controlled_intervals():
    table, style, *_ = verbose_battles(6, seed=1)
    for r in style_controlled(table, style, bootstrap=100, anchor=None).ratings:
        assert r.upper - r.lower > 100, r


def test_matches_arena_rank_style_control_within_one_point():
    pytest.importorskip("arena_rank")
    import pandas as pd
    from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
    from arena_rank.utils.data_utils import ContextualPairDataset

    table, style, ca, cb, winner, left, right = verbose_battles(20_000, seed=2, beta_length=0.8)
    ours = style_controlled(table, style, bootstrap=0)
    frame = pd.DataFrame({"model_a": left, "model_b": right, "winner": winner})
    total = ca + cb
    diff = np.divide(ca - cb, total, out=np.zeros_like(total), where=total > 0)
    for j, name in enumerate(STYLE_FEATURES):
        frame[name] = diff[:, j]
    data = ContextualPairDataset.from_pandas(frame, list(STYLE_FEATURES))
    model = ContextualBradleyTerry(
        n_competitors=len(data.competitors), n_features=4, reg=1.0 / len(frame)
    )  # the same objective: coef_sd = 1 on the summed log-likelihood
    theirs = model.compute_ratings_and_cis(data, ci_method="sandwich")
    rating = dict(zip(theirs["competitors"], np.asarray(theirs["ratings"]), strict=True))
    for r in ours.ratings:
        assert r.rating == pytest.approx(rating[r.model], abs=1.0), r.model
    assert [ours.coefficients[f].value for f in STYLE_FEATURES] == pytest.approx(
        np.asarray(theirs["coeffs"]).tolist(), abs=1e-3
    )


def test_style_counts_come_from_fastchat_conv_metadata():
    meta = {
        "sum_assistant_a_tokens": 120,
        "sum_assistant_b_tokens": 40,
        "header_count_a": {"h1": 1, "h2": 2},
        "header_count_b": {"h1": 0},
        "list_count_a": {"ordered": 3, "unordered": 1},
        "list_count_b": {"ordered": 0, "unordered": 0},
        "bold_count_a": {"**": 2, "__": 0},
        "bold_count_b": {"**": 0, "__": 1},
    }
    counts = StyleCounts.from_rows([{"conv_metadata": meta}])
    assert counts.a.tolist() == [[120, 3, 4, 2]] and counts.b.tolist() == [[40, 0, 0, 1]]
    with pytest.raises(InputError, match="line 2: missing field conv_metadata"):
        StyleCounts.from_rows([{"conv_metadata": meta}, {"model_a": "x"}])
    with pytest.raises(InputError, match="line 1: conv_metadata.header_count_b"):
        StyleCounts.from_rows([{"conv_metadata": {**meta, "header_count_b": -1}}])
