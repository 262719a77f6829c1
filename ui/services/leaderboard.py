"""The Leaderboard tab's service: default and style-controlled ratings from the blind votes.

    board = LeaderboardService(config, store, scratch).view(category="coding")
    board.counts, board.rows, board.plot, board.categories, board.style

Ratings come from ``core.arena_board.arena_ratings`` over ``audit.ledger.votes.
counted_battles``: Bradley-Terry anchored on the served teacher (``AppConfig.arena_anchor``),
the style-controlled fit beside it, and online Elo as a last, labelled column. The picture
is ``core.arena_plot.plot_ratings`` of the default ratings.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.errors import StillhouseError
from ui.config import AppConfig
from ui.services.scratch import Scratch

if TYPE_CHECKING:
    from audit.ledger.store import Store
    from core.arena_board import ArenaRatings

COLUMNS = [
    "Rank",
    "Model",
    "Rating",
    "95% interval",
    "Style-controlled",
    "95% interval (style)",
    "Rank (style)",
    "Online Elo (K=4)",
    "Battles",
]


class LeaderboardView(BaseModel):
    """What the Leaderboard tab shows."""

    counts: str = Field(description="Vote counts and the anchor, Markdown.")
    rows: list[list] = Field(description="One row per model, in COLUMNS order.")
    plot: str | None = Field(description="PNG of the ratings with intervals, if any.")
    categories: list[tuple[str, str]] = Field(
        default_factory=list, description="(label with count, category) for the selector."
    )
    style: str = Field(default="", description="Style coefficients and notes, Markdown.")


class LeaderboardService:
    """Vote counts, the ratings table and the intervals plot, from the ledger."""

    def __init__(self, config: AppConfig, store: Store, scratch: Scratch) -> None:
        self.config = config
        self.store = store
        self.scratch = scratch

    @cached_property
    def anchor(self) -> str | None:
        """The anchor model: the served teacher by default, a named model, or None."""
        chosen = self.config.arena_anchor
        if chosen is None or chosen.lower() == "none":
            return None
        if chosen == "teacher":
            from core.models import resolve_model

            return resolve_model(self.config.teacher).name
        return chosen

    def view(self, category: str = "all") -> LeaderboardView:
        from audit.ledger.votes import counted_battles
        from core.arena_board import arena_ratings, category_counts

        votes = self.store.votes()
        counted = sum(1 for v in votes if not v.get("excluded"))
        counts = (
            f"**{len(votes)}** vote{'' if len(votes) == 1 else 's'} recorded · **{counted}** "
            "counted · "
            f"{len(votes) - counted} kept but left out (an answer named a model or was empty)"
        )
        rows = counted_battles(self.store)
        categories = [(f"{name} ({n})", name) for name, n in category_counts(rows).items()]
        try:
            board = arena_ratings(
                rows,
                anchor=self.anchor,
                strict=False,
                bootstrap=self.config.bootstrap,
                seed=0,
                category=category,
                with_elo=True,
            )
        except StillhouseError as error:
            return LeaderboardView(
                counts=f"{counts}\n\n*No ratings yet: {error.message}.*",
                rows=[],
                plot=None,
                categories=categories,
            )
        return LeaderboardView(
            counts=f"{counts}\n\n{_anchor_line(board)}",
            rows=[_row(m, board.anchor) for m in board.models],
            plot=str(_plot(board, self.scratch.file(".png"))),
            categories=categories,
            style=_style_text(board),
        )


def _row(m, anchor: str | None) -> list:
    style = m.style_rating is not None
    fixed = "anchor (fixed)" if m.model == anchor else None
    return [
        m.rank,
        m.model,
        round(m.rating),
        fixed or f"{m.lower:.0f} to {m.upper:.0f}",
        round(m.style_rating) if style else "–",
        fixed or (f"{m.style_lower:.0f} to {m.style_upper:.0f}" if style else "–"),
        m.style_rank if style else "–",
        round(m.elo) if m.elo is not None else "–",
        m.battles,
    ]


def _anchor_line(board: ArenaRatings) -> str:
    where = (
        f"anchored: `{board.anchor}` = {board.anchor_rating:.0f}"
        if board.anchor
        else "centred: the mean rating is 1000"
    )
    return f"Category **{board.category}**: {board.battles} battles · {where}."


def _style_text(board: ArenaRatings) -> str:
    parts = []
    if board.style_coefficients:
        parts.append(
            "**Style coefficients** (log-odds per standard deviation of the A-B difference; "
            "positive = voters favour more of it): "
            + " · ".join(
                f"{k} {c.value:+.3f} [{c.lower:+.3f}, {c.upper:+.3f}]"
                for k, c in board.style_coefficients.items()
            )
        )
    if board.style_note:
        parts.append(f"*{board.style_note}.*")
    return "\n\n".join(parts)


def _plot(board: ArenaRatings, out):
    from core.arena import Rating
    from core.arena_plot import plot_ratings

    ratings = [
        Rating(
            model=m.model,
            rating=m.rating,
            lower=m.lower,
            upper=m.upper,
            rank=m.rank,
            battles=m.battles,
        )
        for m in board.models
    ]
    return plot_ratings(ratings, out, anchor=board.anchor)
