"""Audit: (being built)."""

from __future__ import annotations

import gradio as gr

from ui.services import AppServices


def build(services: AppServices, admin: gr.State, tab: gr.Tab) -> None:
    gr.Markdown("Audit arrives with its engine.")
