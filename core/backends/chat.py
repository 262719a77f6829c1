"""A chat as prompt token ids: the model's own chat template, and the context-length check.

    ids = encode_chat(tokenizer, request, lock=lock, name="smollm2", context_length=8192)

Shared by the backends that tokenize themselves (transformers, vLLM). A prompt that leaves
no room for one new token in the model's context is refused with
``InputError("prompt_too_long")``; nothing is truncated silently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from core.errors import InputError
from core.generation import ChatRequest


def encode_chat(
    tokenizer,
    request: ChatRequest,
    *,
    lock: threading.Lock,
    name: str,
    context_length: int | None,
) -> list[int]:
    """Token ids of the chat with the template applied and the assistant turn opened."""
    messages = [m.model_dump() for m in request.check().messages]
    with lock:  # fast tokenizers are not safe across threads
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if context_length and len(ids) >= context_length:
        raise InputError(
            "prompt_too_long",
            f"the prompt is {len(ids)} tokens but {name} reads at most "
            f"{context_length} (prompt and answer together)",
            hint="shorten the prompt or the conversation",
        )
    return ids


def eos_id_set(values: Iterable[Any]) -> set[int]:
    """Every id in ``values``: each one an id, a list of ids, or empty (``None``)."""
    ids: set[int] = set()
    for value in values:
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids
