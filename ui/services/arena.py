"""The Arena tab's service: one prompt streamed to teacher and student at once.

    arena = ArenaService(models)
    for turn in arena.turn("Hi", [], [], models.params()):
        turn.history_a, turn.stats_a          # Gradio chat messages and the speed line so far

Generation goes through ``core.compare``; this module only shapes it as chat histories.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.generation import ChatRequest, GenerationParams
from ui.services.models import ServedModels

if TYPE_CHECKING:
    from core.compare import SideStats


class ArenaTurn(BaseModel):
    """Both chat histories and speed lines after one streamed update."""

    history_a: list[dict] = Field(description="Teacher's chat history, Gradio messages format.")
    history_b: list[dict] = Field(description="Student's chat history, Gradio messages format.")
    stats_a: str = Field(default="streaming…", description="Teacher's speed line.")
    stats_b: str = Field(default="streaming…", description="Student's speed line.")


class ArenaService:
    """Named side-by-side chat between the app's teacher and student."""

    def __init__(self, models: ServedModels) -> None:
        self.models = models

    def turn(
        self, prompt: str, history_a: list, history_b: list, params: GenerationParams
    ) -> Iterator[ArenaTurn]:
        """Stream one prompt to teacher and student at once (``core.compare``), as chat histories.

        Each prompt is answered on its own: both models get the same request, so neither
        sees the other's earlier answers.
        """
        from core.compare import compare

        request = ChatRequest.from_prompt(prompt)
        user = {"role": "user", "content": prompt}
        turn = ArenaTurn(
            history_a=[*history_a, user, _assistant("")],
            history_b=[*history_b, user, _assistant("")],
        )
        texts = {"a": "", "b": ""}
        teacher, student = self.models.backend("teacher"), self.models.backend("student")
        for event in compare(request, teacher, student, params):
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


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _stats(side: SideStats) -> str:
    ttft = "–" if side.ttft_s is None else f"{side.ttft_s:.2f} s"
    return f"TTFT **{ttft}** · **{side.tokens_per_s:.1f}** tokens/s · {side.tokens} tokens"
