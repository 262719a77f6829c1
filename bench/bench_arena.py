"""Bradley-Terry on 1,000,000 synthetic battles among 20 models: stillhouse vs LMArena's arena-rank.

    .venv/bin/python bench/bench_arena.py [--battles 1000000] [--models 20] [--bootstrap 1000]
                                          [--only bt|style]

Two fits, each side by side with arena-rank on the same data: the default Bradley-Terry, and
the style-controlled one (4 style covariates: answer length, headers, lists, bold, with a true
style effect and per-model verbosity; ours with ``--bootstrap`` rounds of its one-step
bootstrap, arena-rank's ``ContextualBradleyTerry`` with sandwich intervals and
``reg = 1 / n``, which is our objective). The style-controlled time ratio is printed LAST.

Battles come from known true ratings (Bradley-Terry outcomes, with ties drawn so that a
tie's half point keeps every pair's expected score unchanged). stillhouse fits the
ratings with ``--bootstrap`` rounds of multinomial bootstrap; arena-rank fits the same
battles (from the same DataFrame) with its sandwich (non-bootstrap) intervals, because its
bootstrap mode forks worker processes. Both clocks include encoding the string columns.
Printed: the ratings side by side, the largest difference between the two fits (must be
under 1 point, else the exit status is 1), how close each fit is to the true ratings,
and, LAST, the time ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.arena import BattleTable, bradley_terry  # noqa: E402
from core.arena_style import (  # noqa: E402
    STYLE_FEATURES,
    StyleCounts,
    style_controlled,
    style_features,
)


def synthetic_battles(n: int, m: int, seed: int = 0):
    """Names, true ratings (mean 1000) and n battles (model_a, model_b, winner columns)."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 120.0, m)
    true += 1000.0 - true.mean()
    names = np.array([f"model-{i:02d}" for i in range(m)])
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    tie = 0.4 * np.minimum(p, 1.0 - p)  # tie chance; E[score] stays p
    win = (p - tie / 2) / (1.0 - tie)
    u, v = rng.random(n), rng.random(n)
    winner = np.where(
        u < tie,
        np.where(v < 0.5, "tie", "tie (bothbad)"),
        np.where(rng.random(n) < win, "model_a", "model_b"),
    )
    return names, true, names[a], names[b], winner


def run_ours(model_a, model_b, winner, bootstrap: int):
    start = time.perf_counter()
    table = BattleTable.from_arrays(model_a, model_b, winner)
    ratings = bradley_terry(table, bootstrap=bootstrap, seed=0)
    return {r.model: r for r in ratings}, time.perf_counter() - start


def run_arena_rank(frame):
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    def once():
        start = time.perf_counter()
        data = PairDataset.from_pandas(frame)
        model = BradleyTerry(n_competitors=len(data.competitors))
        out = model.compute_ratings_and_cis(data, ci_method="sandwich")
        ratings = np.asarray(out["ratings"])
        lower, upper = np.asarray(out["rating_lower"]), np.asarray(out["rating_upper"])
        return (
            {c: (ratings[i], lower[i], upper[i]) for i, c in enumerate(out["competitors"])},
            time.perf_counter() - start,
        )

    once_result, first = once()  # includes JAX compilation
    result, warm = once()
    return result, first, warm


def style_battles(n: int, m: int, seed: int = 1):
    """Battles whose outcome also depends on answer style: names, true ratings, columns, counts."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 120.0, m)
    true += 1000.0 - true.mean()
    names = np.array([f"model-{i:02d}" for i in range(m)])
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    verbosity = rng.uniform(0.6, 1.8, m)

    def counts(side):
        v = verbosity[side]
        return np.stack(
            [
                rng.lognormal(np.log(250 * v), 0.5),
                rng.poisson(v),
                rng.poisson(3 * v),
                rng.poisson(2 * v),
            ],
            axis=1,
        ).astype(float)

    ca, cb = counts(a), counts(b)
    x = style_features(StyleCounts(ca, cb))
    z = (true[a] - true[b]) / (400 / np.log(10)) + x @ np.array([0.35, 0.05, 0.1, 0.08])
    p = 1.0 / (1.0 + np.exp(-z))
    tie = 0.4 * np.minimum(p, 1.0 - p)
    u = rng.random(n)
    winner = np.where(
        u < tie, "tie", np.where(rng.random(n) < (p - tie / 2) / (1.0 - tie), "model_a", "model_b")
    )
    return names, true, names[a], names[b], winner, ca, cb


def run_style(args) -> float:
    """Style-controlled fits side by side; returns our time over arena-rank's (warm)."""
    import pandas as pd
    from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
    from arena_rank.utils.data_utils import ContextualPairDataset

    names, true, model_a, model_b, winner, ca, cb = style_battles(args.battles, args.models)
    start = time.perf_counter()
    table = BattleTable.from_arrays(model_a.tolist(), model_b.tolist(), winner.tolist())
    fit = style_controlled(table, StyleCounts(ca, cb), bootstrap=args.bootstrap, seed=0)
    ours_s = time.perf_counter() - start
    ours = {r.model: r for r in fit.ratings}

    frame = pd.DataFrame({"model_a": model_a, "model_b": model_b, "winner": winner})
    total = ca + cb
    diff = np.divide(ca - cb, total, out=np.zeros_like(total), where=total > 0)
    for j, feature in enumerate(STYLE_FEATURES):
        frame[feature] = diff[:, j]
    times = []
    for _ in range(2):  # the first call includes JAX compilation
        start = time.perf_counter()
        data = ContextualPairDataset.from_pandas(frame, list(STYLE_FEATURES))
        model = ContextualBradleyTerry(
            n_competitors=len(data.competitors), n_features=4, reg=1.0 / len(frame)
        )
        out = model.compute_ratings_and_cis(data, ci_method="sandwich")
        times.append(time.perf_counter() - start)
    theirs = dict(zip(out["competitors"], np.asarray(out["ratings"]), strict=True))
    print(
        f"\nstyle control: {len(frame):,} battles, {args.models} models, 4 style covariates; "
        f"stillhouse with {args.bootstrap} one-step bootstrap rounds, arena-rank with sandwich"
    )
    print(f"{'model':10} {'true':>8} {'ours':>8} {'95% interval':>19} {'arena-rank':>10}")
    for i in np.argsort(-true):
        n, r = names[i], ours[names[i]]
        print(
            f"{n:10} {true[i]:8.1f} {r.rating:8.1f} [{r.lower:7.1f}, {r.upper:7.1f}] "
            f"{theirs[n]:10.1f}"
        )
    gap = max(abs(ours[n].rating - theirs[n]) for n in names)
    coef = ", ".join(
        f"{k} {c.value:+.3f} (arena-rank {float(t):+.3f})"
        for (k, c), t in zip(fit.coefficients.items(), np.asarray(out["coeffs"]), strict=True)
    )
    print(f"style coefficients: {coef}")
    print(
        f"largest |ours - arena-rank| = {gap:.1e} rating points "
        f"({'agree within 1 point' if gap < 1 else 'DISAGREE by more than 1 point'})"
    )
    print(f"arena-rank first call (with JAX compilation) {times[0]:.2f} s")
    if gap >= 1.0:
        raise SystemExit(1)
    print(
        f"time: stillhouse style-controlled BT + {args.bootstrap} bootstrap rounds {ours_s:.2f} s "
        f"({'within' if ours_s <= 10 else 'OVER'} the 10 s budget) vs arena-rank style-controlled "
        f"BT + sandwich {times[1]:.2f} s: ratio ours/arena-rank = {ours_s / times[1]:.2f}x"
    )
    return ours_s / times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--only", choices=["bt", "style"], default=None)
    args = parser.parse_args()
    if args.only != "style":
        run_bt(args)
    if args.only != "bt":
        run_style(args)


def run_bt(args) -> None:
    import pandas as pd

    names, true, model_a, model_b, winner = synthetic_battles(args.battles, args.models)
    frame = pd.DataFrame({"model_a": model_a, "model_b": model_b, "winner": winner})
    cols = [frame["model_a"].tolist(), frame["model_b"].tolist(), frame["winner"].tolist()]
    ours, ours_s = run_ours(*cols, bootstrap=args.bootstrap)
    theirs, theirs_first_s, theirs_s = run_arena_rank(frame)

    print(
        f"{len(frame):,} battles, {args.models} models; stillhouse with {args.bootstrap} bootstrap "
        f"rounds, arena-rank with sandwich intervals"
    )
    print(
        f"{'model':10} {'true':>8} {'ours':>8} {'95% bootstrap':>19} {'arena-rank':>10} "
        f"{'95% sandwich':>19}"
    )
    for i in np.argsort(-true):
        n = names[i]
        r, (t, lo, hi) = ours[n], theirs[n]
        print(
            f"{n:10} {true[i]:8.1f} {r.rating:8.1f} [{r.lower:7.1f}, {r.upper:7.1f}] {t:10.1f} "
            f"[{lo:7.1f}, {hi:7.1f}]"
        )
    diff = max(abs(ours[n].rating - theirs[n][0]) for n in names)
    ours_err = np.array([ours[n].rating for n in names]) - true
    theirs_err = np.array([theirs[n][0] for n in names]) - true
    covered = sum(ours[n].lower <= true[i] <= ours[n].upper for i, n in enumerate(names))
    print(
        f"largest |ours - arena-rank| = {diff:.1e} rating points "
        f"({'agree within 1 point' if diff < 1 else 'DISAGREE by more than 1 point'})"
    )
    print(
        f"closeness to true ratings: ours max |err| {np.abs(ours_err).max():.2f}, "
        f"RMSE {np.sqrt((ours_err**2).mean()):.2f}; arena-rank max |err| "
        f"{np.abs(theirs_err).max():.2f}, "
        f"RMSE {np.sqrt((theirs_err**2).mean()):.2f}; true rating inside our 95% interval for "
        f"{covered}/{len(names)} models"
    )
    print(f"arena-rank first call (with JAX compilation) {theirs_first_s:.2f} s")
    print(
        f"time: stillhouse BT + {args.bootstrap} bootstrap rounds {ours_s:.2f} s "
        f"({'within' if ours_s <= 10 else 'OVER'} the 10 s budget) vs arena-rank BT + sandwich "
        f"{theirs_s:.2f} s: ratio ours/arena-rank = {ours_s / theirs_s:.2f}x"
    )
    if diff >= 1.0:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
