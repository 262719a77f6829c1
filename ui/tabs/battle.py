"""Battle: a blind A/B vote between two anonymous models, over one or more turns.

Both answers of each turn appear together (the faster one is held back). The voter may ask
follow-ups (each model sees only its own side of the conversation) and vote after any turn:
A, B, tie or both bad, for the whole conversation. Only then are the identities shown, with
both conversations left on the page. Every vote lands in the ledger through
``audit.ledger.votes`` (session and IP stored only as salted hashes; prompts and answers as
text unless the deployment sets ``store_text: false``, as the notice on the tab says).
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices
from ui.tabs.widgets import prompt_row

CHOICES = (
    ("left", "A is better"),
    ("right", "B is better"),
    ("tie", "Tie"),
    ("bothbad", "Both are bad"),
)
WAITING = "Type a prompt and start a battle. The two models stay anonymous until you vote."
PUBLISHED = (
    "**Notice:** your prompts and votes may be published. The prompts, both answers and "
    "your vote are kept in the ledger and may be released as open battle data (your session "
    "and address only as salted hashes). Do not type anything private."
)
HASHES_ONLY = (
    "**Notice:** your votes may be published. This deployment keeps only hashes of prompts "
    "and answers, their lengths and markdown counts, and a topic category."
)


def build(services: AppServices) -> dict:
    """The tab; returns ``{component: render(student view)}`` for the app's student refresh."""
    battle_id = gr.State(None)
    gr.Markdown(
        "Two anonymous models answer the same prompt; both answers appear **together**. "
        "Ask follow-ups if you like, then vote for the better conversation, and only then see "
        "who was who."
    )
    gr.Markdown(PUBLISHED if services.config.store_text else HASHES_ONLY, elem_id="battle-notice")
    with gr.Row(equal_height=True):
        chat_a = gr.Chatbot(label="Model A", height=360, elem_id="battle-a", buttons=["copy"])
        chat_b = gr.Chatbot(label="Model B", height=360, elem_id="battle-b", buttons=["copy"])
    waiting = gr.Markdown(_waiting(services.student_view()), elem_id="battle-waiting")
    notes = gr.Markdown("", elem_id="battle-notes")
    prompt, start = prompt_row(
        "Ask something to start a blind battle (or a follow-up)…", "battle-prompt", "battle-start"
    )
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

    def send(text: str, current: str | None, request: gr.Request):
        if not text or not text.strip():
            raise gr.Error("Type a prompt first.")
        if not services.models.student_ready():  # no pair to battle yet: say so, start nothing
            view = _waiting(services.student_view())
            yield (None, gr.update(), gr.update(), *[gr.update()] * len(CHOICES), view, "", text)
            return
        battle = None
        for battle in services.battle.send_watched(current, text, request):  # ends if left
            if battle is None:
                yield (gr.skip(),) * len(shown)
        if battle is None:  # the visitor left before both answers came: nothing to show
            return
        turn = f"Turn {battle.turns}: both answers are in. Vote now, or ask a follow-up."
        yield (
            battle.battle_id,
            gr.update(value=battle.conversation_left, label="Model A"),
            gr.update(value=battle.conversation_right, label="Model B"),
            *[gr.update(interactive=True)] * len(CHOICES),
            turn,
            "\n\n".join(f"*{note}*" for note in battle.notes),
            "",
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
            "",
        )

    shown = [battle_id, chat_a, chat_b, *buttons, reveal, notes, prompt]
    start.click(send, [prompt, battle_id], shown, api_name="battle_start")
    prompt.submit(send, [prompt, battle_id], shown, api_visibility="private")
    for (choice, _), button in zip(CHOICES, buttons, strict=True):
        button.click(
            voter(choice),
            battle_id,
            [chat_a, chat_b, *buttons, reveal, battle_id],
            api_name=f"battle_vote_{choice}",
        )
    new.click(reset, outputs=shown, api_visibility="private")
    return {waiting: _waiting}


def _waiting(view) -> str:
    """What Battle says while it has no student to pair with the teacher."""
    if view.state == "done":
        return ""
    if view.state in ("refused", "failed"):
        why = f"there is no student ({view.message})"
    else:
        why = f"the student is on its way ({view.line})"
    return (
        f"**Battles need two models, and {why}.** Battles open as soon as it is saved; "
        "meanwhile you can talk to the teacher in the Arena."
    )


def _reveal_text(outcome) -> str:
    names = f"**Model A** was `{outcome.model_left}` · **Model B** was `{outcome.model_right}`."
    if not outcome.accepted:
        return f"Vote not taken ({outcome.reason}). {names}"
    chosen = dict(CHOICES)[outcome.choice]
    if not outcome.counted:
        return f"Vote recorded: *{chosen}*, {outcome.reason}. {names}"
    return f"Thanks: your vote (*{chosen}*) is recorded in the ledger. {names}"
