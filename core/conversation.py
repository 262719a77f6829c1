"""A chat history fitted to a backend's context: the oldest turns go first, never a crash.

    request, dropped = fit_history(backend, history)   # history: [{"role", "content"}, ...]
    if dropped: show(context_note("Teacher", dropped))

A backend that knows its context (transformers, vLLM: they have ``encode``, which refuses a
conversation that leaves no room to answer with ``InputError("prompt_too_long")``) is asked
first; while it refuses, the oldest user/assistant pair is left out of what it is sent. A
backend that cannot tell (a remote OpenAI-compatible server) gets the whole history, and its
own error, if any, is shown. The last user turn is always sent; if even that alone does not
fit, the backend's error stands.
"""

from __future__ import annotations

from typing import Any

from core.errors import InputError
from core.generation import ChatMessage, ChatRequest


def request_of(history: list[dict[str, str]], system: str | None = None) -> ChatRequest:
    """A chat request from role/content messages (a system prompt first, if given)."""
    messages = [ChatMessage(role="system", content=system)] if system else []
    messages += [ChatMessage(role=m["role"], content=m["content"]) for m in history]  # type: ignore[arg-type]
    return ChatRequest(messages=messages).check()


def fit_history(
    backend: Any, history: list[dict[str, str]], system: str | None = None
) -> tuple[ChatRequest, int]:
    """The request to send and how many oldest turns were left out to fit the context."""
    encode = getattr(backend, "encode", None)
    dropped = 0
    while True:
        request = request_of(history[2 * dropped :], system)
        if encode is None:
            return request, dropped
        try:
            encode(request)
            return request, dropped
        except InputError as error:
            if error.code != "prompt_too_long" or 2 * (dropped + 1) >= len(history):
                raise
            dropped += 1


def context_note(label: str, dropped: int) -> str:
    """The visible note for a side whose oldest turns were left out."""
    turns = "turn" if dropped == 1 else f"{dropped} turns"
    verb = "was" if dropped == 1 else "were"
    return (
        f"{label}: the oldest {turns} no longer fit its context and {verb} left out of what it "
        "was sent."
    )
