"""Widgets more than one tab builds the same way."""

from __future__ import annotations

import gradio as gr


def prompt_row(
    placeholder: str, prompt_id: str, send_id: str, **textbox
) -> tuple[gr.Textbox, gr.Button]:
    """A chat tab's input: a wide prompt box and its Send button, on one row."""
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(
            show_label=False, placeholder=placeholder, scale=6, elem_id=prompt_id, **textbox
        )
        send = gr.Button("Send", variant="primary", scale=1, elem_id=send_id)
    return prompt, send
