"""Arena maths, pure and without I/O: pairing, vote types, Bradley-Terry with bootstrap, online Elo.

    table = BattleTable.from_rows(
        [{"model_a": "teacher", "model_b": "student", "winner": "model_a"}, ...]
    )
    for r in bradley_terry(table, bootstrap=1000, seed=0, anchor="teacher"):
        print(r.model, r.rating, r.lower, r.upper, r.rank, r.battles)
    elo = online_elo(table, k=4)                        # {"teacher": 1012.3, ...}, order-dependent
    left, right = pick_pair(["teacher", "student"], random.Random(0))

Battle rows use the cleaned-battle format Chatbot Arena publishes: ``model_a`` (left),
``model_b`` (right) and ``winner`` in ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``.
Ties and both-bad count half a win to each side.

Bradley-Terry (as in FastChat / LMArena): P(a beats b) = 1 / (1 + 10^((R_b - R_a)/400)).
The battles are first aggregated into counts per unique (a, b, outcome), then into wins and
games per ordered pair, so the fit costs the same for 1,000 battles or 10 million. The
ratings maximise the likelihood times a Gaussian prior (Newton's method with step halving,
``core.arena_fit``):

- **Anchor.** ``anchor="teacher"`` holds that model at ``anchor_rating`` (1000); the app
  anchors the teacher of the served pair. Without an anchor the ratings are centred (their
  mean is 1000). Either way a newcomer cannot drag the scale: with an anchor, a model with 3
  battles moves the established ones by a point or two, not by hundreds.
- **Prior.** Every rating has a N(anchor, ``prior_sd``^2) prior, ``prior_sd`` = 400 Elo
  points by default: worth about 0.75 of a tied battle against the anchor, so it is
  negligible after a few dozen battles and keeps 2 votes from looking like 2100 vs -100.
  ``prior_sd=None`` is plain maximum likelihood (a 1e-6 ridge keeps it finite).

Intervals: the wider of (1) the 2.5 and 97.5 percentiles over bootstrap rounds that
resample the (a, b, outcome) counts multinomially, fitted all at once (batched Newton,
warm-started from the full fit), and (2) the Laplace (posterior normal) interval from the
Fisher information plus the prior. The bootstrap alone cannot see uncertainty the data never
shows (two votes for A resample to the same two votes), the Laplace interval can; with many
battles the two agree. The anchor's interval is its fixed rating. Rank is 1 + the number of
models whose lower bound is above this model's upper bound.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.arena_fit import (
    ELO_BASE,
    ELO_SCALE,
    NAT_TO_ELO,
    PRIOR_SD,
    Z95,
    Fit,
    check_connected,
    pairs_of_cells,
    prior_precision,
)
from core.errors import InputError
from core.textfile import parse_jsonl

Choice = Literal["left", "right", "tie", "bothbad"]
WINNERS: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
CHOICES: tuple[str, ...] = ("left", "right", "tie", "bothbad")
CHOICE_TO_WINNER: dict[str, str] = dict(zip(CHOICES, WINNERS, strict=True))
# Outcome codes used in aggregation: 0 = right (model_b) wins, 1 = tie or both bad, 2 = left wins.
_OUTCOME_CODE = {"model_b": 0, "tie": 1, "tie (bothbad)": 1, "model_a": 2}
_SCORE = np.array([0.0, 0.5, 1.0])
ELO_INIT = 1000.0


class Rating(BaseModel):
    """One model's place on the leaderboard."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model name.")
    rating: float = Field(
        description="Bradley-Terry rating on the Elo scale (anchor = 1000, or mean = 1000)."
    )
    lower: float = Field(description="Lower end of the 95% interval (bootstrap or Laplace).")
    upper: float = Field(description="Upper end of the 95% interval (bootstrap or Laplace).")
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

    Blank lines are skipped, and so are rows marked ``"excluded": true``, ``"blind": false`` or
    ``"anony": false`` (as ``stillhouse arena export --all`` writes them), which never count
    towards ratings."""

    def rows() -> Iterable[tuple[int, Mapping[str, Any]]]:
        for line, row in parse_jsonl(lines, source=source):
            if isinstance(row, Mapping) and (
                row.get("excluded") is True
                or row.get("blind") is False
                or row.get("anony") is False
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
    check_enough(battles)
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
    anchor: str | None = None,
    anchor_rating: float = ELO_INIT,
    prior_sd: float | None = PRIOR_SD,
) -> list[Rating]:
    """Bradley-Terry ratings with 95% intervals and ranks, best first.

    ``anchor`` names a model held at ``anchor_rating``; without one the ratings are centred
    (mean ``ELO_INIT``). ``prior_sd`` is the Gaussian prior's standard deviation in Elo
    points around the anchor (or the mean); ``None`` fits plain maximum likelihood."""
    table = battles if isinstance(battles, BattleTable) else BattleTable.from_rows(battles)
    if bootstrap < 0:
        raise InputError("bad_bootstrap", f"bootstrap rounds must be >= 0, got {bootstrap}")
    check_enough(table)
    m = len(table.models)
    fixed = anchor_index(table.models, anchor)
    lam = prior_precision(prior_sd)
    cells = np.bincount((table.a * m + table.b) * 3 + table.outcome, minlength=m * m * 3)
    keep = np.flatnonzero(cells)
    counts = cells[keep].astype(np.float64)
    cell_pair, pa, pb, cell_score = pairs_of_cells(keep, m)
    check_connected(table.models, pa, pb)
    to_pair = np.zeros((keep.size, pa.size))
    to_pair[np.arange(keep.size), cell_pair] = 1.0
    games, wins = counts @ to_pair, (counts * cell_score) @ to_pair
    fit = Fit(pa, pb, m, lam, fixed)
    theta = fit.newton(games[None], wins[None], np.zeros((1, m)))[0]
    offset = anchor_rating if fixed is not None else ELO_INIT
    rating = theta * NAT_TO_ELO + offset
    half = Z95 * np.sqrt(np.maximum(np.diag(fit.posterior_cov(theta, games)), 0)) * NAT_TO_ELO
    lower, upper = rating - half, rating + half
    if bootstrap:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(len(table), counts / counts.sum(), size=bootstrap).astype(
            np.float64
        )
        start = np.repeat(theta[None], bootstrap, axis=0)
        rounds = fit.newton(draws @ to_pair, (draws * cell_score) @ to_pair, start)
        lo, hi = np.percentile(rounds * NAT_TO_ELO + offset, [2.5, 97.5], axis=0)
        lower, upper = np.minimum(lower, lo), np.maximum(upper, hi)
    per_model = np.bincount(table.a, minlength=m) + np.bincount(table.b, minlength=m)
    return rank_ratings(table.models, rating, lower, upper, per_model)


def rank_ratings(models, rating, lower, upper, battles) -> list[Rating]:
    ranks = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    out = [
        Rating(
            model=name,
            rating=float(rating[i]),
            lower=float(min(lower[i], rating[i])),
            upper=float(max(upper[i], rating[i])),
            rank=int(ranks[i]),
            battles=int(battles[i]),
        )
        for i, name in enumerate(models)
    ]
    return sorted(out, key=lambda r: (-r.rating, r.model))


def anchor_index(models: Sequence[str], anchor: str | None) -> int | None:
    if anchor is None:
        return None
    if anchor not in models:
        raise InputError(
            "unknown_anchor",
            f"the anchor {anchor!r} has no battles",
            hint="pick one of " + ", ".join(sorted(models)) + " or no anchor",
        )
    return list(models).index(anchor)


def check_enough(table: BattleTable) -> None:
    if len(table) == 0:
        raise InputError("no_battles", "there are no battles to rate")
    if len(table.models) < 2:
        raise InputError(
            "one_model", f"only one model ({table.models[0]}); ratings need two or more"
        )
