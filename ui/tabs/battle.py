"""Battle: a blind A/B vote between two anonymous models.

Both answers appear together (the faster one is held back), the voter picks A, B,
tie or both bad, and only then are the identities shown. Every vote lands in the
ledger through ``audit.ledger.votes`` (session and IP stored only as salted hashes).
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices

CHOICES = (
    ("left", "A is better"),
    ("right", "B is better"),
    ("tie", "Tie"),
    ("bothbad", "Both are bad"),
)
WAITING = "Type a prompt and start a battle. The two models stay anonymous until you vote."


def build(services: AppServices) -> None:
    battle_id = gr.State(None)
    gr.Markdown(
        "Two anonymous models answer the same prompt; both answers appear **together**. "
        "Vote for the better one, and only then see who was who."
    )
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(
            show_label=False,
            placeholder="Ask something to start a blind battle…",
            scale=6,
            elem_id="battle-prompt",
        )
        start = gr.Button("Start battle", variant="primary", scale=1, elem_id="battle-start")
    with gr.Row(equal_height=True):
        chat_a = gr.Chatbot(label="Model A", height=360, elem_id="battle-a", buttons=["copy"])
        chat_b = gr.Chatbot(label="Model B", height=360, elem_id="battle-b", buttons=["copy"])
    with gr.Row():
        buttons = [
            gr.Button(
                label,
                interactive=False,
                elem_id=f"vote-{choice}",
                variant="primary" if choice in ("left", "right") else "secondary",
            )
            for choice, label in CHOICES
        ]
    reveal = gr.Markdown(WAITING, elem_id="battle-reveal")
    new = gr.Button("New battle", elem_id="battle-new")

    def begin(text: str, request: gr.Request):
        battle = services.battle.start(text, request)
        user = {"role": "user", "content": battle.prompt}
        return (
            battle.battle_id,
            [user, {"role": "assistant", "content": battle.left}],
            [user, {"role": "assistant", "content": battle.right}],
            *[gr.update(interactive=True)] * len(CHOICES),
            "Both answers are in. Which one is better?",
        )

    def voter(choice: str):
        def cast(current: str | None, request: gr.Request):
            if not current:
                raise gr.Error("Start a battle first.")
            outcome = services.battle.vote(current, choice, request)
            return (
                gr.update(label=f"Model A · {outcome.model_left}"),
                gr.update(label=f"Model B · {outcome.model_right}"),
                *[gr.update(interactive=False)] * len(CHOICES),
                _reveal_text(outcome),
                None,
            )

        return cast

    def reset():
        return (
            None,
            gr.update(value=[], label="Model A"),
            gr.update(value=[], label="Model B"),
            *[gr.update(interactive=False)] * len(CHOICES),
            WAITING,
            "",
        )

    shown = [battle_id, chat_a, chat_b, *buttons, reveal]
    start.click(begin, prompt, shown, api_name="battle_start")
    prompt.submit(begin, prompt, shown, api_visibility="private")
    for (choice, _), button in zip(CHOICES, buttons, strict=True):
        button.click(
            voter(choice),
            battle_id,
            [chat_a, chat_b, *buttons, reveal, battle_id],
            api_name=f"battle_vote_{choice}",
        )
    new.click(reset, outputs=[*shown, prompt], api_visibility="private")


def _reveal_text(outcome) -> str:
    names = f"**Model A** was `{outcome.model_left}` · **Model B** was `{outcome.model_right}`."
    if not outcome.accepted:
        return f"Vote not taken ({outcome.reason}). {names}"
    chosen = dict(CHOICES)[outcome.choice]
    if not outcome.counted:
        return f"Vote recorded: *{chosen}*, {outcome.reason}. {names}"
    return f"Thanks: your vote (*{chosen}*) is recorded in the ledger. {names}"
