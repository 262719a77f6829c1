"""Leaderboard: anchored and style-controlled Bradley-Terry ratings from the blind votes.

The table, the category selector and the intervals plot come from
``ui.services.leaderboard.LeaderboardService.view``; the vote counts say how many votes
were cast and how many count (votes whose answers named a model are kept but left out).
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices
from ui.services.leaderboard import COLUMNS


def build(services: AppServices, tab: gr.Tab) -> None:
    gr.Markdown(
        "Ratings from **blind** votes only: Bradley-Terry on the Elo scale with a prior, "
        "anchored on the teacher, and 95% intervals. **Style-controlled** ratings hold answer "
        "length and markdown (headers, lists, bold) equal, as LMArena does. Online Elo "
        "depends on vote order and is shown for reference only. A model ranks above another "
        "only when their intervals do not overlap."
    )
    counts = gr.Markdown(elem_id="leaderboard-counts")
    category = gr.Dropdown(
        choices=[("all", "all")],
        value="all",
        label="Category",
        elem_id="leaderboard-category",
        interactive=True,
    )
    table = gr.Dataframe(
        headers=COLUMNS, label="Leaderboard", interactive=False, elem_id="leaderboard-table"
    )
    style = gr.Markdown(elem_id="leaderboard-style")
    plot = gr.Image(
        label="Ratings with 95% intervals",
        show_label=False,
        type="filepath",
        interactive=False,
        buttons=["download"],
    )
    refresh = gr.Button("Refresh", elem_id="leaderboard-refresh")

    def show(chosen: str | None):
        board = services.leaderboard.view(chosen or "all")
        known = [value for _, value in board.categories]
        picked = chosen if chosen in known else "all"
        selector = gr.update(choices=board.categories or [("all", "all")], value=picked)
        return board.counts, selector, board.rows, board.style, board.plot

    outputs = [counts, category, table, style, plot]
    refresh.click(show, category, outputs, api_name="leaderboard")
    category.input(show, category, outputs, api_visibility="private")
    tab.select(show, category, outputs, api_visibility="private")
