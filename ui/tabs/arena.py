"""Arena: teacher and student, named, side by side, streaming the same prompt at once.

Each side shows its time to first token and tokens/s under its answer. Regenerate
asks the last prompt again; Clear empties both conversations.
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices

EXAMPLES = [
    "Explain knowledge distillation to a ten-year-old.",
    "Write a Python function that checks whether a number is prime.",
    "What are the three primary colours of paint?",
    "Give me three tips for a good night's sleep.",
]


def build(services: AppServices) -> None:
    gr.Markdown(
        "Ask once: the **teacher** and the **student** answer at the same time. "
        "Compare quality, time to first token and speed."
    )
    with gr.Row(equal_height=True):
        with gr.Column():
            chat_a = gr.Chatbot(
                label=f"Teacher · {services.models.teacher_label()}",
                height=420,
                elem_id="arena-teacher",
                buttons=["copy"],
            )
            stats_a = gr.Markdown(
                "TTFT – · – tokens/s", elem_classes="sh-stats", elem_id="arena-teacher-stats"
            )
        with gr.Column():
            chat_b = gr.Chatbot(
                label=f"Student · {services.models.student_label()}",
                height=420,
                elem_id="arena-student",
                buttons=["copy"],
            )
            stats_b = gr.Markdown(
                "TTFT – · – tokens/s", elem_classes="sh-stats", elem_id="arena-student-stats"
            )
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(
            show_label=False,
            placeholder="Ask both models something…",
            scale=6,
            elem_id="arena-prompt",
            autofocus=True,
        )
        send = gr.Button("Send", variant="primary", scale=1, elem_id="arena-send")
    with gr.Row():
        regenerate = gr.Button("Regenerate", size="sm", elem_id="arena-regenerate")
        clear = gr.Button("Clear", size="sm", elem_id="arena-clear")
    with gr.Accordion("Generation settings", open=False):
        with gr.Row():
            max_tokens = gr.Slider(
                16, 512, value=services.config.max_new_tokens, step=16, label="Max new tokens"
            )
            temperature = gr.Slider(
                0.0,
                1.5,
                value=services.config.temperature,
                step=0.05,
                label="Temperature (0 = greedy)",
            )
    gr.Examples(EXAMPLES, inputs=prompt, label="Try one")

    def ask(text: str, hist_a: list, hist_b: list, tokens: float, temp: float):
        if not text or not text.strip():
            raise gr.Error("Type a prompt first.")
        params = services.models.params(max_new_tokens=int(tokens), temperature=temp)
        for turn in services.arena.turn(text, hist_a, hist_b, params):
            yield list(turn.history_a), list(turn.history_b), turn.stats_a, turn.stats_b, ""

    def again(hist_a: list, hist_b: list, tokens: float, temp: float):
        if not hist_a:
            raise gr.Error("Nothing to regenerate yet.")
        last = hist_a[-2]["content"] if len(hist_a) >= 2 else ""
        yield from ask(_text(last), hist_a[:-2], hist_b[:-2], tokens, temp)

    outputs = [chat_a, chat_b, stats_a, stats_b, prompt]
    settings = [max_tokens, temperature]
    send.click(ask, [prompt, chat_a, chat_b, *settings], outputs, api_name="arena_ask")
    prompt.submit(ask, [prompt, chat_a, chat_b, *settings], outputs, api_visibility="private")
    regenerate.click(again, [chat_a, chat_b, *settings], outputs, api_visibility="private")
    clear.click(
        lambda: ([], [], "TTFT – · – tokens/s", "TTFT – · – tokens/s", ""),
        outputs=outputs,
        api_visibility="private",
    )


def _text(content) -> str:
    """A Chatbot message's content as plain text (Gradio may hand back a list of parts)."""
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)
