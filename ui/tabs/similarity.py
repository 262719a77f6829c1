"""Similarity: (being built)."""

from __future__ import annotations

import gradio as gr

from ui.services import AppServices


def build(services: AppServices, admin: gr.State) -> None:
    gr.Markdown("Similarity arrives with its engine.")
