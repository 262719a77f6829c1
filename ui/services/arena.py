"""The Arena tab's service: each prompt streamed to teacher and student at once, in turns.

    arena = ArenaService(models)
    for turn in arena.turn("Hi", [], [], models.params()):
        turn.history_a, turn.stats_a          # Gradio chat messages and the speed line so far
        turn.note                             # set when old turns no longer fit a context

Generation goes through ``core.compare``; each side is sent its own conversation, fitted to
its context by ``core.conversation.fit_history``; this module only shapes it as chat
histories.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.errors import InputError
from core.generation import GenerationParams
from ui.services.models import ServedModels

if TYPE_CHECKING:
    from core.compare import SideStats


class ArenaTurn(BaseModel):
    """Both chat histories and speed lines after one streamed update."""

    history_a: list[dict] = Field(description="Teacher's chat history, Gradio messages format.")
    history_b: list[dict] = Field(description="Student's chat history, Gradio messages format.")
    stats_a: str = Field(default="streaming…", description="Teacher's speed line.")
    stats_b: str = Field(default="streaming…", description="Student's speed line.")
    note: str = Field(default="", description="Context note: old turns left out, if any.")


class ArenaService:
    """Named side-by-side chat between the app's teacher and student."""

    def __init__(self, models: ServedModels, waiting: Callable[[], str] | None = None) -> None:
        self.models = models
        self.waiting = waiting or (lambda: "student on its way")

    def turn(
        self, prompt: str, history_a: list, history_b: list, params: GenerationParams
    ) -> Iterator[ArenaTurn]:
        """Stream the next prompt to teacher and student at once (``core.compare``).

        Each side is sent its own conversation so far (it sees its own earlier answers, not
        the other's); when one no longer fits that side's context its oldest turns are left
        out and ``note`` says so.
        """
        from core.compare import compare
        from core.conversation import context_note, fit_history

        if not prompt or not prompt.strip():
            raise InputError("empty_prompt", "the prompt is empty")
        user = {"role": "user", "content": prompt}
        if not self.models.student_ready():
            yield from self._teacher_alone(prompt, history_a, history_b, params)
            return
        teacher, student = self.models.backend("teacher"), self.models.backend("student")
        request_a, dropped_a = fit_history(teacher, [*_plain(history_a), user])
        request_b, dropped_b = fit_history(student, [*_plain(history_b), user])
        notes = [
            context_note(label, n)
            for label, n in (("Teacher", dropped_a), ("Student", dropped_b))
            if n
        ]
        turn = ArenaTurn(
            history_a=[*history_a, user, _assistant("")],
            history_b=[*history_b, user, _assistant("")],
            note=" ".join(notes),
        )
        texts = {"a": "", "b": ""}
        for event in compare(request_a, teacher, student, params, request_b=request_b):
            history = turn.history_a if event.side == "a" else turn.history_b
            if event.kind == "delta":
                texts[event.side] += event.text
                history[-1] = _assistant(texts[event.side])
                yield turn
                continue
            stats = _stats(event.stats) if event.kind == "done" else f"**error:** {event.error}"
            setattr(turn, f"stats_{event.side}", stats)
            if event.stats is not None:
                history[-1] = _assistant(event.stats.text or texts[event.side])
            yield turn

    def _teacher_alone(
        self, prompt: str, history_a: list, history_b: list, params: GenerationParams
    ) -> Iterator[ArenaTurn]:
        """The teacher answers; the student's side says it is on its way (with progress)."""
        from core.conversation import context_note, fit_history

        user = {"role": "user", "content": prompt}
        teacher = self.models.backend("teacher")
        request, dropped = fit_history(teacher, [*_plain(history_a), user])
        line = self.waiting()
        if line.startswith("no student"):
            waiting = f"*{line}.*"
        else:
            waiting = f"*The student is on its way ({line}); it answers here once it is saved.*"
        turn = ArenaTurn(
            history_a=[*history_a, user, _assistant("")],
            history_b=[*history_b, user, _assistant(waiting)],
            stats_b=waiting,
            note=context_note("Teacher", dropped) if dropped else "",
        )
        text, tokens, start, first = "", 0, time.perf_counter(), None
        for chunk in teacher.stream_chunks(request, params):
            tokens += chunk.tokens
            if chunk.text:
                first = first or time.perf_counter() - start
                text += chunk.text
                turn.history_a[-1] = _assistant(text)
                yield turn
        total = time.perf_counter() - start
        ttft = "–" if first is None else f"{first:.2f} s"
        rate = (tokens - 1) / (total - first) if first and tokens > 1 and total > first else 0.0
        turn.stats_a = f"TTFT **{ttft}** · **{rate:.1f}** tokens/s · {tokens} tokens"
        yield turn


def _plain(history: list) -> list[dict[str, str]]:
    """Gradio chat messages as role/content text (Gradio may hand content back as parts)."""
    out = []
    for message in history:
        content = message.get("content", "")
        if isinstance(content, list):
            content = " ".join(
                p.get("text", "") if isinstance(p, dict) else str(p) for p in content
            )
        out.append({"role": message["role"], "content": str(content)})
    return out


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _stats(side: SideStats) -> str:
    ttft = "–" if side.ttft_s is None else f"{side.ttft_s:.2f} s"
    return f"TTFT **{ttft}** · **{side.tokens_per_s:.1f}** tokens/s · {side.tokens} tokens"
