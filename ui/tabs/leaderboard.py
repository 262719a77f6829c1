"""Leaderboard: Bradley-Terry ratings from the ledger's blind votes, with 95% intervals.

The table and the intervals plot come from ``core.arena.bradley_terry`` over
``audit.ledger.votes.counted_battles`` and ``core.arena_plot.plot_ratings``; the vote counts
say how many votes were cast and how many count (votes whose answers named a model are kept
but left out).
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices

COLUMNS = ["Rank", "Model", "Rating", "95% interval", "Battles"]


def build(services: AppServices, tab: gr.Tab) -> None:
    gr.Markdown(
        "Ratings from **blind** votes only (Bradley-Terry on the Elo scale, 95% bootstrap "
        "intervals). "
        "A model ranks above another only when their intervals do not overlap."
    )
    counts = gr.Markdown(elem_id="leaderboard-counts")
    with gr.Row(equal_height=True):
        table = gr.Dataframe(
            headers=COLUMNS,
            label="Leaderboard",
            interactive=False,
            elem_id="leaderboard-table",
            scale=3,
        )
        plot = gr.Image(
            label="Ratings with 95% intervals",
            show_label=False,
            type="filepath",
            interactive=False,
            scale=4,
            buttons=["download"],
        )
    refresh = gr.Button("Refresh", elem_id="leaderboard-refresh")

    def show():
        board = services.leaderboard.view()
        return board.counts, board.rows, board.plot

    refresh.click(show, outputs=[counts, table, plot], api_name="leaderboard")
    tab.select(show, outputs=[counts, table, plot], api_visibility="private")
