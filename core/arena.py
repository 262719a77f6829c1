"""Arena maths, pure and without I/O: pairing, vote types, Bradley-Terry with bootstrap, online Elo.

    table = BattleTable.from_rows(
        [{"model_a": "teacher", "model_b": "student", "winner": "model_a"}, ...]
    )
    for r in bradley_terry(table, bootstrap=1000, seed=0):
        print(r.model, r.rating, r.lower, r.upper, r.rank, r.battles)
    elo = online_elo(table, k=4)                        # {"teacher": 1012.3, ...}, order-dependent
    left, right = pick_pair(["teacher", "student"], random.Random(0))

Battle rows use the cleaned-battle format Chatbot Arena publishes: ``model_a`` (left),
``model_b`` (right) and ``winner`` in ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``.
Ties and both-bad count half a win to each side.

Bradley-Terry (as in FastChat / LMArena): P(a beats b) = 1 / (1 + 10^((R_b - R_a)/400)).
The battles are first aggregated into counts per unique (a, b, outcome), then into wins and
games per ordered pair, so the fit costs the same for 1,000 battles or 10 million. The
maximum-likelihood ratings are found by Newton's method with step halving; ratings are
centred on 1000 (their mean is 1000). Bootstrap rounds resample the (a, b, outcome) counts
multinomially and are fitted all at once, batched across rounds, warm-started from the
full-data fit. Intervals are the 2.5 and 97.5 percentiles over rounds (with
``bootstrap=0``: the normal approximation from the Fisher information). Rank is
1 + the number of models whose lower bound is above this model's upper bound.

A tiny ridge (1e-6, far below one battle's weight) keeps a model that won or lost every
battle finite instead of infinite, so the output never holds NaN or inf.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from core.textfile import parse_jsonl

Choice = Literal["left", "right", "tie", "bothbad"]
WINNERS: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
CHOICES: tuple[str, ...] = ("left", "right", "tie", "bothbad")
CHOICE_TO_WINNER: dict[str, str] = dict(zip(CHOICES, WINNERS, strict=True))
# Outcome codes used in aggregation: 0 = right (model_b) wins, 1 = tie or both bad, 2 = left wins.
_OUTCOME_CODE = {"model_b": 0, "tie": 1, "tie (bothbad)": 1, "model_a": 2}
_SCORE = np.array([0.0, 0.5, 1.0])
ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_INIT = 1000.0
_NAT_TO_ELO = ELO_SCALE / np.log(ELO_BASE)


class Rating(BaseModel):
    """One model's place on the leaderboard."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model name.")
    rating: float = Field(
        description="Bradley-Terry rating on the Elo scale (mean of all models = 1000)."
    )
    lower: float = Field(description="Lower end of the 95% interval (2.5th bootstrap percentile).")
    upper: float = Field(description="Upper end of the 95% interval (97.5th bootstrap percentile).")
    rank: int = Field(
        description="1 + number of models whose lower bound is above this upper bound."
    )
    battles: int = Field(description="Battles this model took part in.")


@dataclass(frozen=True)
class BattleTable:
    """Battles as integer arrays: ``a`` and ``b`` index ``models``; ``outcome`` 0 b wins, 1 tie, 2 a
    wins."""

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], *, first_line: int = 1) -> BattleTable:
        """Check and encode battle rows; an error names the offending line (``first_line`` = line
        1)."""
        return _encode(enumerate(rows, start=first_line))

    @classmethod
    def from_arrays(
        cls, model_a: Sequence[str], model_b: Sequence[str], winner: Sequence[str]
    ) -> BattleTable:
        """Encode columns of names and winner labels (fast path for millions of battles)."""
        if not len(model_a) == len(model_b) == len(winner):
            raise InputError("bad_battles", "model_a, model_b and winner must have the same length")
        index: dict[str, int] = {}
        a = np.fromiter((index.setdefault(m, len(index)) for m in model_a), np.int64, len(model_a))
        b = np.fromiter((index.setdefault(m, len(index)) for m in model_b), np.int64, len(model_b))
        codes = _OUTCOME_CODE
        try:
            outcome = np.fromiter((codes[w] for w in winner), np.int8, len(winner))
        except KeyError as bad:
            line = next(i for i, w in enumerate(winner, start=1) if w not in codes)
            raise _bad_winner(bad.args[0], line) from None
        same = np.flatnonzero(a == b)
        if same.size:
            raise _self_battle(model_a[int(same[0])], int(same[0]) + 1)
        return cls(tuple(index), a, b, outcome)


def battles_from_jsonl(lines: Iterable[str | bytes], *, source: str | None = None) -> BattleTable:
    """Parse JSON Lines text (one battle object per line; ``source`` names the file in errors).

    Blank lines are skipped, and so are rows marked ``"excluded": true`` or ``"blind": false``
    (as ``stillhouse arena export --all`` writes them), which never count towards ratings."""

    def rows() -> Iterable[tuple[int, Mapping[str, Any]]]:
        for line, row in parse_jsonl(lines, source=source):
            if isinstance(row, Mapping) and (
                row.get("excluded") is True or row.get("blind") is False
            ):
                continue  # an export with --all: votes the ledger leaves out of ratings
            yield line, row

    return _encode(rows())


def _encode(numbered_rows: Iterable[tuple[int, Any]]) -> BattleTable:
    index: dict[str, int] = {}
    a: list[int] = []
    b: list[int] = []
    outcome: list[int] = []
    for line, row in numbered_rows:
        left, right, code = _check_row(row, line)
        a.append(index.setdefault(left, len(index)))
        b.append(index.setdefault(right, len(index)))
        outcome.append(code)
    return BattleTable(
        tuple(index), np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(outcome, np.int8)
    )


def _check_row(row: Any, line: int) -> tuple[str, str, int]:
    if not isinstance(row, Mapping):
        raise InputError("bad_battle_row", f"line {line}: a battle must be a JSON object")
    missing = [k for k in ("model_a", "model_b", "winner") if k not in row]
    if missing:
        raise InputError("bad_battle_row", f"line {line}: missing field {', '.join(missing)}")
    left, right, winner = row["model_a"], row["model_b"], row["winner"]
    for key, name in (("model_a", left), ("model_b", right)):
        if not isinstance(name, str) or not name.strip():
            raise InputError("bad_battle_row", f"line {line}: {key} must be a non-empty model name")
    if winner not in _OUTCOME_CODE:
        raise _bad_winner(winner, line)
    if left == right:
        raise _self_battle(left, line)
    return left, right, _OUTCOME_CODE[winner]


def _bad_winner(winner: Any, line: int) -> InputError:
    return InputError(
        "bad_battle_row",
        f"line {line}: unknown winner {winner!r}",
        hint="expected one of " + ", ".join(WINNERS),
    )


def _self_battle(model: str, line: int) -> InputError:
    return InputError("self_battle", f"line {line}: model {model!r} battles itself")


# ---------------------------------------------------------------- pairing


def pick_pair(
    models: Sequence[str], rng: random.Random, weights: Mapping[str, float] | None = None
) -> tuple[str, str]:
    """Draw two different models, pair (i, j) with probability proportional to w_i * w_j,
    then put them left/right at random. Models missing from ``weights`` weigh 1."""
    names = list(dict.fromkeys(models))
    if len(names) < 2:
        raise InputError(
            "one_model", "a battle needs at least two models", hint=f"got {names or 'none'}"
        )
    w = [float((weights or {}).get(m, 1.0)) for m in names]
    if any(x < 0 or not np.isfinite(x) for x in w):
        raise InputError("bad_weights", "pairing weights must be finite and >= 0")
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    pair_w = [w[i] * w[j] for i, j in pairs]
    if sum(pair_w) <= 0:
        raise InputError("bad_weights", "pairing weights leave no pair with a positive weight")
    i, j = rng.choices(pairs, weights=pair_w, k=1)[0]
    return (names[i], names[j]) if rng.random() < 0.5 else (names[j], names[i])


# ---------------------------------------------------------------- online Elo


def online_elo(
    battles: BattleTable,
    k: float = 4.0,
    *,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    init: float = ELO_INIT,
) -> dict[str, float]:
    """Classic online Elo over battles in the given (time) order: R_a += k (S_a - E_a)."""
    _check_enough(battles)
    ratings = [init] * len(battles.models)
    scores = _SCORE[battles.outcome].tolist()
    for a, b, s in zip(battles.a.tolist(), battles.b.tolist(), scores, strict=True):
        expected = 1.0 / (1.0 + base ** ((ratings[b] - ratings[a]) / scale))
        ratings[a] += k * (s - expected)
        ratings[b] -= k * (s - expected)
    return dict(zip(battles.models, ratings, strict=True))


# ---------------------------------------------------------------- Bradley-Terry


def bradley_terry(
    battles: BattleTable | Iterable[Mapping[str, Any]],
    bootstrap: int = 1000,
    seed: int | None = 0,
    *,
    ridge: float = 1e-6,
) -> list[Rating]:
    """Bradley-Terry ratings with 95% bootstrap intervals and ranks, best first."""
    table = battles if isinstance(battles, BattleTable) else BattleTable.from_rows(battles)
    if bootstrap < 0:
        raise InputError("bad_bootstrap", f"bootstrap rounds must be >= 0, got {bootstrap}")
    _check_enough(table)
    m = len(table.models)
    cells = np.bincount((table.a * m + table.b) * 3 + table.outcome, minlength=m * m * 3)
    keep = np.flatnonzero(cells)
    counts = cells[keep].astype(np.float64)
    cell_pair, pa, pb, cell_score = _pairs_of_cells(keep, m)
    _check_connected(table.models, pa, pb)
    to_pair = np.zeros((keep.size, pa.size))
    to_pair[np.arange(keep.size), cell_pair] = 1.0
    games, wins = counts @ to_pair, (counts * cell_score) @ to_pair
    theta = _newton(games[None], wins[None], pa, pb, m, np.zeros((1, m)), ridge)[0]
    rating = theta * _NAT_TO_ELO + ELO_INIT
    if bootstrap:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(len(table), counts / counts.sum(), size=bootstrap).astype(
            np.float64
        )
        start = np.repeat(theta[None], bootstrap, axis=0)
        rounds = _newton(draws @ to_pair, (draws * cell_score) @ to_pair, pa, pb, m, start, ridge)
        lower, upper = np.percentile(rounds * _NAT_TO_ELO + ELO_INIT, [2.5, 97.5], axis=0)
    else:
        half = 1.959963984540054 * np.sqrt(
            np.maximum(np.diag(_fisher_cov(theta, games, pa, pb, m, ridge)), 0)
        )
        lower, upper = rating - half * _NAT_TO_ELO, rating + half * _NAT_TO_ELO
    per_model = np.bincount(table.a, minlength=m) + np.bincount(table.b, minlength=m)
    ranks = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    out = [
        Rating(
            model=name,
            rating=float(rating[i]),
            lower=float(min(lower[i], rating[i])),
            upper=float(max(upper[i], rating[i])),
            rank=int(ranks[i]),
            battles=int(per_model[i]),
        )
        for i, name in enumerate(table.models)
    ]
    return sorted(out, key=lambda r: (-r.rating, r.model))


def _check_enough(table: BattleTable) -> None:
    if len(table) == 0:
        raise InputError("no_battles", "there are no battles to rate")
    if len(table.models) < 2:
        raise InputError(
            "one_model", f"only one model ({table.models[0]}); ratings need two or more"
        )


def _pairs_of_cells(
    keep: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold ordered cells (a, b, outcome) onto unordered pairs (lo, hi) with lo's score."""
    a, b, code = keep // 3 // m, keep // 3 % m, keep % 3
    score = _SCORE[code]
    flip = a > b
    lo, hi = np.where(flip, b, a), np.where(flip, a, b)
    score = np.where(flip, 1.0 - score, score)
    pair_ids, cell_pair = np.unique(lo * m + hi, return_inverse=True)
    return cell_pair, pair_ids // m, pair_ids % m, score


def _check_connected(models: tuple[str, ...], pa: np.ndarray, pb: np.ndarray) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(models)
    graph = coo_matrix((np.ones(pa.size), (pa, pb)), shape=(m, m))
    n, labels = connected_components(graph, directed=False)
    if n > 1:
        groups = [sorted(models[i] for i in np.flatnonzero(labels == g)) for g in range(n)]
        raise InputError(
            "disconnected",
            "some models were never compared, even indirectly: "
            + " | ".join(", ".join(g) for g in groups),
            hint="ratings of separate groups are not comparable; add battles between them",
        )


def _loss(theta, games, wins, pa, pb, ridge) -> np.ndarray:
    d = theta[:, pa] - theta[:, pb]
    return -(wins * d - games * np.logaddexp(0.0, d)).sum(axis=1) + 0.5 * ridge * (theta**2).sum(
        axis=1
    )


def _newton(games, wins, pa, pb, m, theta, ridge, *, max_iter: int = 200, tol: float = 1e-10):
    """Batched Newton with step halving: one row of ``theta`` (B, m) per set of counts."""
    from scipy.special import expit

    incidence = np.zeros((pa.size, m))
    incidence[np.arange(pa.size), pa] = 1.0
    incidence[np.arange(pa.size), pb] = -1.0
    outer = np.einsum("pi,pj->pij", incidence, incidence).reshape(pa.size, m * m)
    centre = np.ones((m, m)) / m + ridge * np.eye(m)
    theta = theta.copy()
    loss = _loss(theta, games, wins, pa, pb, ridge)
    for _ in range(max_iter):
        p = expit(theta[:, pa] - theta[:, pb])
        grad = (wins - games * p) @ incidence - ridge * theta
        hess = ((games * p * (1.0 - p)) @ outer).reshape(-1, m, m) + centre
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        scale = np.ones((theta.shape[0], 1))
        for _ in range(40):
            trial = theta + scale * step
            new = _loss(trial, games, wins, pa, pb, ridge)
            worse = new > loss + 1e-12 * np.abs(loss)
            if not worse.any():
                break
            scale[worse] *= 0.5
        theta, loss = trial, new
        if np.abs(scale * step).max() < tol:
            break
    return theta - theta.mean(axis=1, keepdims=True)


def _fisher_cov(theta, games, pa, pb, m, ridge) -> np.ndarray:
    from scipy.special import expit

    p = expit(theta[pa] - theta[pb])
    w = games * p * (1.0 - p)
    hess = np.zeros((m, m))
    np.add.at(hess, (pa, pa), w)
    np.add.at(hess, (pb, pb), w)
    np.add.at(hess, (pa, pb), -w)
    np.add.at(hess, (pb, pa), -w)
    centre = np.eye(m) - 1.0 / m  # ratings are centred: drop the (free) common-shift direction
    return centre @ np.linalg.pinv(hess + ridge * np.eye(m)) @ centre
