"""The leaderboard as one result: default and style-controlled ratings, per category.

    board = arena_ratings(rows, anchor="teacher", bootstrap=1000, seed=0, category="coding")
    board.anchor, board.models[0].rating, board.models[0].style_rating, board.style_coefficients
    category_counts(rows)                       # {"all": 120, "coding": 31, "math": 12, ...}

``rows`` are cleaned battles (``model_a``, ``model_b``, ``winner``; optionally ``category`` and
FastChat's ``conv_metadata``), as ``audit.ledger.votes.counted_battles`` gives them. The
default ratings use every row (of the category); the style-controlled ones only the rows
with ``conv_metadata`` (votes recorded before stillhouse kept counts have none), and
``style_battles`` says how many. An anchor that has no battles in the rows falls back to a
centred fit when ``strict`` is False (the app's default anchor), and is an error otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.arena import ELO_INIT, PRIOR_SD, BattleTable, bradley_terry, online_elo
from core.arena_style import StyleCoefficient, StyleCounts, style_controlled
from core.errors import InputError, StillhouseError

ALL = "all"


class ModelRatings(BaseModel):
    """One model on the leaderboard: default and style-controlled ratings."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model name.")
    battles: int = Field(description="Counted battles this model took part in.")
    rank: int = Field(description="Rank from the default ratings' intervals.")
    rating: float = Field(description="Default Bradley-Terry rating.")
    lower: float = Field(description="Lower end of its 95% interval.")
    upper: float = Field(description="Upper end of its 95% interval.")
    style_rank: int | None = Field(default=None, description="Rank with style controlled.")
    style_rating: float | None = Field(default=None, description="Style-controlled rating.")
    style_lower: float | None = Field(default=None, description="Its 95% interval, lower end.")
    style_upper: float | None = Field(default=None, description="Its 95% interval, upper end.")
    elo: float | None = Field(
        default=None, description="Online Elo (K = 4, in vote order), when asked for."
    )


class ArenaRatings(BaseModel):
    """The whole leaderboard for one category."""

    model_config = ConfigDict(extra="forbid")

    anchor: str | None = Field(description="Model held at anchor_rating; None: centred.")
    anchor_rating: float = Field(description="The anchor's rating (or the mean when centred).")
    prior_sd: float | None = Field(description="Prior standard deviation in Elo points.")
    category: str = Field(description="Category rated ('all' for every battle).")
    battles: int = Field(description="Counted battles in this category.")
    style_battles: int = Field(description="Of those, battles with style counts.")
    models: list[ModelRatings] = Field(description="Models, best default rating first.")
    style_coefficients: dict[str, StyleCoefficient] | None = Field(
        description="Style effects (log-odds per sd), None when there was no style fit."
    )
    style_note: str | None = Field(default=None, description="Why there is no style fit.")


def category_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Battles per category, 'all' first, then the largest categories."""
    counts = Counter(str(r.get("category") or "other") for r in rows)
    return {ALL: len(rows), **dict(counts.most_common())}


def arena_ratings(
    rows: Sequence[Mapping[str, Any]],
    *,
    anchor: str | None = None,
    strict: bool = True,
    anchor_rating: float = ELO_INIT,
    prior_sd: float | None = PRIOR_SD,
    bootstrap: int = 1000,
    seed: int | None = 0,
    category: str = ALL,
    with_elo: bool = False,
) -> ArenaRatings:
    """Default and style-controlled ratings of the rows in ``category`` (see the docstring)."""
    if category != ALL:
        rows = [r for r in rows if str(r.get("category") or "other") == category]
    table = BattleTable.from_rows(rows)
    if anchor is not None and anchor not in table.models:
        if strict:
            raise InputError(
                "unknown_anchor",
                f"the anchor {anchor!r} has no battles here",
                hint="pick one of " + ", ".join(sorted(table.models)) + ", or no anchor",
            )
        anchor = None
    default = bradley_terry(
        table, bootstrap, seed, anchor=anchor, anchor_rating=anchor_rating, prior_sd=prior_sd
    )
    styled_rows = [r for r in rows if isinstance(r.get("conv_metadata"), Mapping)]
    style, note = None, None
    if not styled_rows:
        note = "no style counts in these battles: no style-controlled fit"
    elif len(styled_rows) < len(rows):
        note = (
            f"{len(rows) - len(styled_rows)} battles have no style counts and are left out of "
            "the style-controlled fit"
        )
    try:
        if styled_rows:
            styled_table = BattleTable.from_rows(styled_rows)
            style = style_controlled(
                styled_table,
                StyleCounts.from_rows(styled_rows),
                bootstrap,
                seed,
                anchor=anchor if anchor in styled_table.models else None,
                anchor_rating=anchor_rating,
                prior_sd=prior_sd,
            )
    except StillhouseError as error:
        note = f"no style-controlled fit: {error.message}"
    by_style = {r.model: r for r in style.ratings} if style else {}
    elo = online_elo(table) if with_elo else {}
    models = []
    for r in default:
        s = by_style.get(r.model)
        models.append(
            ModelRatings(
                model=r.model,
                battles=r.battles,
                rank=r.rank,
                rating=r.rating,
                lower=r.lower,
                upper=r.upper,
                style_rank=s.rank if s else None,
                style_rating=s.rating if s else None,
                style_lower=s.lower if s else None,
                style_upper=s.upper if s else None,
                elo=elo.get(r.model),
            )
        )
    return ArenaRatings(
        anchor=anchor,
        anchor_rating=anchor_rating,
        prior_sd=prior_sd,
        category=category,
        battles=len(rows),
        style_battles=len(styled_rows),
        models=models,
        style_coefficients=style.coefficients if style else None,
        style_note=note,
    )
