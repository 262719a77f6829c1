"""Bradley-Terry on 1,000,000 synthetic battles among 20 models: stillhouse vs LMArena's arena-rank.

    .venv/bin/python bench/bench_arena.py [--battles 1000000] [--models 20] [--bootstrap 1000]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

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
