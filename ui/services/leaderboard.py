"""The Leaderboard tab's service: Bradley-Terry ratings from the ledger's blind votes.

    board = LeaderboardService(config, store, scratch).view()
    board.counts, board.rows, board.plot      # Markdown counts, table rows, PNG path (or None)

Ratings come from ``core.arena.bradley_terry`` over ``audit.ledger.votes.counted_battles``,
the picture from ``core.arena_plot.plot_ratings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.errors import StillhouseError
from ui.config import AppConfig
from ui.services.scratch import Scratch

if TYPE_CHECKING:
    from audit.ledger.store import Store


class LeaderboardView(BaseModel):
    """What the Leaderboard tab shows."""

    counts: str = Field(description="Vote counts, Markdown.")
    rows: list[list] = Field(description="Rank, model, rating, interval, battles.")
    plot: str | None = Field(description="PNG of the ratings with intervals, if any.")


class LeaderboardService:
    """Vote counts, the ratings table and the intervals plot, from the ledger."""

    def __init__(self, config: AppConfig, store: Store, scratch: Scratch) -> None:
        self.config = config
        self.store = store
        self.scratch = scratch

    def view(self) -> LeaderboardView:
        from audit.ledger.votes import counted_battles
        from core.arena import BattleTable, bradley_terry
        from core.arena_plot import plot_ratings

        votes = self.store.votes()
        counted = sum(1 for v in votes if not v.get("excluded"))
        counts = (
            f"**{len(votes)}** vote{'' if len(votes) == 1 else 's'} recorded · **{counted}** "
            "counted · "
            f"{len(votes) - counted} kept but left out (an answer named a model or was empty)"
        )
        try:
            battles = BattleTable.from_rows(counted_battles(self.store))
            ratings = bradley_terry(battles, bootstrap=self.config.bootstrap, seed=0)
        except StillhouseError as error:
            return LeaderboardView(
                counts=f"{counts}\n\n*No ratings yet: {error.message}.*", rows=[], plot=None
            )
        rows = [
            [r.rank, r.model, round(r.rating), f"{r.lower:.0f} to {r.upper:.0f}", r.battles]
            for r in ratings
        ]
        plot = plot_ratings(ratings, self.scratch.file(".png"))
        return LeaderboardView(counts=counts, rows=rows, plot=str(plot))
