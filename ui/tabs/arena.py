"""Arena: teacher and student, named, side by side, streaming the same prompt at once.

The chat goes on over turns: each side is sent its own conversation (when it no longer fits
a side's context, its oldest turns are left out and a note says so). Each side shows its
time to first token and tokens/s under its answer. Regenerate asks the last prompt again;
Clear empties both conversations.
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices
from ui.tabs.widgets import prompt_row

EXAMPLES = [
    "Explain knowledge distillation to a ten-year-old.",
    "Write a Python function that checks whether a number is prime.",
    "What are the three primary colours of paint?",
    "Give me three tips for a good night's sleep.",
]


def _side(label: str, elem_id: str) -> tuple[gr.Chatbot, gr.Markdown]:
    """One model's column: its chat and, under it, its speed."""
    with gr.Column():
        chat = gr.Chatbot(label=label, height=420, elem_id=elem_id, buttons=["copy"])
        stats = gr.Markdown(
            "TTFT – · – tokens/s", elem_classes="sh-stats", elem_id=f"{elem_id}-stats"
        )
    return chat, stats


def build(services: AppServices) -> dict:
    """The tab; returns ``{component: render(student view)}`` for the app's student refresh."""
    gr.Markdown(
        "Ask once: the **teacher** and the **student** answer at the same time. "
        "Compare quality, time to first token and speed."
    )
    with gr.Row(equal_height=True):
        chat_a, stats_a = _side(f"Teacher · {services.models.teacher_label()}", "arena-teacher")
        chat_b, stats_b = _side(_student_title(services), "arena-student")
    waiting = gr.Markdown(_waiting(services.student_view()), elem_id="arena-student-waiting")
    note = gr.Markdown("", elem_id="arena-note")
    prompt, send = prompt_row(
        "Ask both models something…", "arena-prompt", "arena-send", autofocus=True
    )
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
            note_text = f"*{turn.note}*" if turn.note else ""
            yield (
                list(turn.history_a),
                list(turn.history_b),
                turn.stats_a,
                turn.stats_b,
                "",
                note_text,
            )

    def again(hist_a: list, hist_b: list, tokens: float, temp: float):
        if not hist_a:
            raise gr.Error("Nothing to regenerate yet.")
        last = hist_a[-2]["content"] if len(hist_a) >= 2 else ""
        yield from ask(_text(last), hist_a[:-2], hist_b[:-2], tokens, temp)

    outputs = [chat_a, chat_b, stats_a, stats_b, prompt, note]
    settings = [max_tokens, temperature]
    send.click(ask, [prompt, chat_a, chat_b, *settings], outputs, api_name="arena_ask")
    prompt.submit(ask, [prompt, chat_a, chat_b, *settings], outputs, api_visibility="private")
    regenerate.click(again, [chat_a, chat_b, *settings], outputs, api_visibility="private")
    clear.click(
        lambda: ([], [], "TTFT – · – tokens/s", "TTFT – · – tokens/s", "", ""),
        outputs=outputs,
        api_visibility="private",
    )
    return {
        chat_b: lambda view: gr.update(label=_student_title(services)),
        waiting: _waiting,
    }


def _student_title(services: AppServices) -> str:
    ready = "" if services.models.student_ready() else " (on its way)"
    return f"Student · {services.models.student_label()}{ready}"


def _waiting(view) -> str:
    """What the Arena says while the student is missing; nothing once it is served."""
    if view.state == "done":
        return ""
    if view.state in ("refused", "failed"):
        return f"**The student is not available** ({view.message}); the teacher still answers."
    return f"**The student is on its way** ({view.line}). Meanwhile the teacher answers."


def _text(content) -> str:
    """A Chatbot message's content as plain text (Gradio may hand back a list of parts)."""
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)
