"""Arena maths: ratings recover known strengths, intervals are honest, bad input is named."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from core.arena import (
    BattleTable,
    battles_from_jsonl,
    bradley_terry,
    online_elo,
    pick_pair,
)
from core.errors import InputError
from tests.unit.arena_cli import cli


def synthetic(true: dict[str, float], n: int, seed: int) -> list[dict]:
    """Battles drawn from Bradley-Terry with the given ratings (10% ties, expected score kept)."""
    rng = random.Random(seed)
    names = list(true)
    rows = []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
        tie = 0.2 * min(p, 1 - p)
        if rng.random() < tie:
            winner = rng.choice(["tie", "tie (bothbad)"])
        else:
            winner = "model_a" if rng.random() < (p - tie / 2) / (1 - tie) else "model_b"
        rows.append({"model_a": a, "model_b": b, "winner": winner})
    return rows


def test_recovers_known_strengths_within_intervals():
    true = {"teacher": 1150.0, "student": 1060.0, "base": 1000.0, "tiny": 950.0, "random": 840.0}
    mean = sum(true.values()) / len(true)
    true = {k: v - mean + 1000 for k, v in true.items()}  # fitted ratings are centred on 1000
    ratings = bradley_terry(synthetic(true, 20_000, seed=3), bootstrap=300, seed=0)
    assert [r.model for r in ratings] == ["teacher", "student", "base", "tiny", "random"]
    for r in ratings:
        assert r.lower <= true[r.model] <= r.upper, r
        assert r.lower < r.rating < r.upper
        assert 5 < r.upper - r.lower < 40
    assert [r.rank for r in ratings] == [1, 2, 3, 4, 5]
    assert sum(r.battles for r in ratings) == 2 * 20_000
    assert abs(np.mean([r.rating for r in ratings]) - 1000) < 1e-6


def test_two_models_reduce_to_the_win_rate():
    rows = [{"model_a": "t", "model_b": "s", "winner": "model_a"}] * 290
    rows += [{"model_a": "s", "model_b": "t", "winner": "model_b"}] * 10  # t wins on the right too
    rows += [{"model_a": "t", "model_b": "s", "winner": "model_b"}] * 80
    rows += [{"model_a": "s", "model_b": "t", "winner": "tie (bothbad)"}] * 40  # half a win each
    p = (300 + 20) / 420
    by_name = {r.model: r for r in bradley_terry(rows, bootstrap=0, prior_sd=None)}
    assert by_name["t"].rating - by_name["s"].rating == pytest.approx(
        400 * math.log10(p / (1 - p)), abs=1e-3
    )
    with_prior = {r.model: r for r in bradley_terry(rows, bootstrap=0)}  # 420 votes: < 1 point
    assert with_prior["t"].rating - with_prior["s"].rating == pytest.approx(
        400 * math.log10(p / (1 - p)), abs=1.0
    )


def established(n: int = 400, seed: int = 0) -> list[dict]:
    return synthetic({"teacher": 1000.0, "student": 940.0, "base": 880.0}, n, seed=seed)


def test_a_newcomer_with_three_battles_does_not_move_the_anchored_others():
    rows = established()
    before = {r.model: r for r in bradley_terry(rows, bootstrap=200, seed=0, anchor="teacher")}
    newcomer = [{"model_a": "newcomer", "model_b": "student", "winner": "model_a"}] * 3
    after = {
        r.model: r for r in bradley_terry(rows + newcomer, bootstrap=200, seed=0, anchor="teacher")
    }
    assert after["teacher"].rating == before["teacher"].rating == 1000.0
    for name in ("teacher", "student", "base"):
        assert abs(after[name].rating - before[name].rating) < 5, name
        assert after[name].rank == before[name].rank, name
    assert after["newcomer"].upper - after["newcomer"].lower > 300  # three games: still unsure


def test_two_votes_give_wide_intervals_and_a_modest_gap():
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 2
    for anchor in (None, "b"):
        ratings = {r.model: r for r in bradley_terry(rows, bootstrap=200, seed=0, anchor=anchor)}
        gap = ratings["a"].rating - ratings["b"].rating
        assert 0 < gap < 500, anchor  # not 2100 vs -100
        free = [ratings["a"]] if anchor else list(ratings.values())
        for r in free:
            assert r.upper - r.lower > 100, (anchor, r)
        assert ratings["a"].rank == ratings["b"].rank == 1


def test_the_anchor_holds_its_rating_and_centred_fits_keep_the_mean():
    rows = established(600, seed=2)
    anchored = {r.model: r for r in bradley_terry(rows, bootstrap=50, anchor="student")}
    assert anchored["student"].rating == anchored["student"].lower == 1000.0
    centred = {r.model: r for r in bradley_terry(rows, bootstrap=50)}
    assert abs(np.mean([r.rating for r in centred.values()]) - 1000) < 1e-6
    gaps = [anchored[m].rating - anchored["student"].rating for m in ("teacher", "base")]
    assert gaps == pytest.approx(
        [centred[m].rating - centred["student"].rating for m in ("teacher", "base")], abs=1.0
    )
    with pytest.raises(InputError, match="anchor 'nobody' has no battles"):
        bradley_terry(rows, anchor="nobody")


def test_bootstrap_interval_width_matches_the_binomial_rule():
    rng = random.Random(1)
    rows = [
        {"model_a": "t", "model_b": "s", "winner": rng.choice(["model_a", "model_b"])}
        for _ in range(400)
    ]
    by_name = {r.model: r for r in bradley_terry(rows, bootstrap=1000, seed=0)}
    # the difference R_t - R_s = 2 * (R_t - 1000); its 95% half-width is about 681 / sqrt(n) = 34
    half_width_of_difference = by_name["t"].upper - by_name["t"].lower
    assert 28 < half_width_of_difference < 40


def test_ties_and_both_bad_count_half():
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "tie"},
        {"model_a": "b", "model_b": "a", "winner": "tie (bothbad)"},
    ] * 10
    for r in bradley_terry(rows, bootstrap=50, seed=0):
        assert r.rating == pytest.approx(1000.0, abs=1e-6)
        assert r.rank == 1


def test_rank_counts_only_clearly_better_models():
    true = {"a": 1100.0, "b": 1095.0, "c": 900.0}
    ratings = {
        r.model: r for r in bradley_terry(synthetic(true, 3000, seed=5), bootstrap=200, seed=0)
    }
    assert ratings["a"].rank == ratings["b"].rank == 1  # overlapping intervals share a rank
    assert ratings["c"].rank == 3


def test_a_model_that_always_wins_gets_finite_numbers():
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 5
    rows += [{"model_a": "b", "model_b": "c", "winner": "model_a"}] * 5
    for bootstrap in (0, 100):
        ratings = bradley_terry(rows, bootstrap=bootstrap, seed=0)
        values = [v for r in ratings for v in (r.rating, r.lower, r.upper)]
        assert all(math.isfinite(v) for v in values)
        assert [r.model for r in ratings] == ["a", "b", "c"]


def test_same_ratings_from_rows_arrays_and_jsonl():
    rows = synthetic({"x": 1050.0, "y": 1000.0, "z": 950.0}, 500, seed=2)
    tables = [
        BattleTable.from_rows(rows),
        BattleTable.from_arrays(
            [r["model_a"] for r in rows], [r["model_b"] for r in rows], [r["winner"] for r in rows]
        ),
        battles_from_jsonl(json.dumps(r) for r in rows),
    ]
    results = [bradley_terry(t, bootstrap=100, seed=7) for t in tables]
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize(
    "lines, needle",
    [
        (
            [
                '{"model_a": "a", "model_b": "b", "winner": "model_a"}',
                '{"model_a": "a", "model_b": "b", "winner": "model_c"}',
            ],
            "line 2: unknown winner 'model_c'",
        ),
        (
            [
                '{"model_a": "a", "model_b": "b", "winner": "tie"}',
                "",
                '{"model_a": "a", "winner": "tie"}',
            ],
            "line 3: missing field model_b",
        ),
        (
            ['{"model_a": "a", "model_b": "b", "winner": "tie"}', "{not json"],
            "line 2: not valid JSON",
        ),
        (['["a", "b", "tie"]'], "line 1: a battle must be a JSON object"),
        (['{"model_a": "a", "model_b": "a", "winner": "tie"}'], "line 1: model 'a' battles itself"),
    ],
)
def test_bad_rows_name_the_line(lines, needle):
    with pytest.raises(InputError) as error:
        battles_from_jsonl(lines)
    assert needle in str(error.value)


def test_self_battle_in_arrays_names_the_row():
    with pytest.raises(InputError, match="line 2: model 'b' battles itself"):
        BattleTable.from_arrays(["a", "b"], ["b", "b"], ["tie", "tie"])
    with pytest.raises(InputError, match="line 2: unknown winner 'draw'"):
        BattleTable.from_arrays(["a", "b"], ["b", "a"], ["tie", "draw"])


def test_one_model_zero_battles_and_disconnected_groups_are_clear_errors():
    with pytest.raises(InputError, match="no battles"):
        bradley_terry([])
    with pytest.raises(InputError, match="no battles"):
        online_elo(battles_from_jsonl(["", "  "]))
    with pytest.raises(InputError, match="bootstrap"):
        bradley_terry([{"model_a": "a", "model_b": "b", "winner": "tie"}], bootstrap=-1)
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "tie"},
        {"model_a": "c", "model_b": "d", "winner": "tie"},
    ]
    with pytest.raises(InputError, match="never compared.*a, b \\| c, d"):
        bradley_terry(rows)
    with pytest.raises(InputError, match="at least two"):
        pick_pair(["only"], random.Random(0))


def test_online_elo_is_the_classic_update_in_order():
    first = battles_from_jsonl(['{"model_a": "a", "model_b": "b", "winner": "model_a"}'])
    assert online_elo(first) == {"a": 1002.0, "b": 998.0}
    rows = [
        '{"model_a": "a", "model_b": "b", "winner": "model_a"}',
        '{"model_a": "a", "model_b": "b", "winner": "model_b"}',
    ]
    forward, backward = (
        online_elo(battles_from_jsonl(rows)),
        online_elo(battles_from_jsonl(rows[::-1])),
    )
    assert forward["a"] < 1000 < backward["a"]  # order matters: the last result weighs more


def test_pairing_respects_weights_and_swaps_sides():
    rng = random.Random(0)
    draws = [pick_pair(["teacher", "student", "off"], rng, {"off": 0.0}) for _ in range(400)]
    assert all(set(d) == {"teacher", "student"} for d in draws)
    lefts = sum(d[0] == "teacher" for d in draws)
    assert 150 < lefts < 250
    with pytest.raises(InputError, match="no pair"):
        pick_pair(["a", "b"], rng, {"a": 0.0})


def test_ratings_picture_is_a_png(tmp_path):
    from core.arena_plot import plot_ratings

    ratings = bradley_terry(
        synthetic({"x": 1050.0, "y": 1000.0, "z": 950.0}, 300, seed=1), bootstrap=50
    )
    out = plot_ratings(ratings, tmp_path / "ratings.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(InputError):
        plot_ratings([], tmp_path / "none.png")


def test_cli_ratings_from_a_battles_file(tmp_path):
    path = tmp_path / "battles.jsonl"
    rows = synthetic({"teacher": 1100.0, "student": 1000.0, "other": 900.0}, 2000, seed=4)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = cli(
        "ratings",
        "--battles",
        str(path),
        "--bootstrap",
        "200",
        "--seed",
        "1",
        "--json",
        "--png",
        str(tmp_path / "r.png"),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["anchor"] is None  # the default teacher has no battles here: centred
    models = result["models"]
    assert [r["model"] for r in models] == ["teacher", "student", "other"]
    assert {"model", "rating", "lower", "upper", "rank", "battles", "style_rating"} <= set(
        models[0]
    )
    assert models[0]["lower"] < models[0]["rating"] < models[0]["upper"]
    assert models[0]["style_rating"] is None and "no style counts" in result["style_note"]
    assert (tmp_path / "r.png").stat().st_size > 0
    again = cli("ratings", "--battles", str(path), "--bootstrap", "200", "--seed", "1", "--json")
    assert json.loads(again.stdout) == result
    anchored = json.loads(
        cli("ratings", "--battles", str(path), "--anchor", "student", "--json").stdout
    )
    assert anchored["anchor"] == "student"
    assert {m["model"]: m["rating"] for m in anchored["models"]}["student"] == 1000.0
    unknown = cli("ratings", "--battles", str(path), "--anchor", "nobody")
    assert unknown.returncode == 2 and "nobody" in unknown.stderr


def test_cli_bad_battles_file_exits_2_naming_the_line(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text(
        '{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
        '{"model_a": "a", "model_b": "b", "winner": "A"}\n'
    )
    done = cli("ratings", "--battles", str(path), "--json")
    assert done.returncode == 2
    assert "line 2" in done.stderr and "Traceback" not in done.stderr
    missing = cli("ratings", "--battles", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no battles file" in missing.stderr
