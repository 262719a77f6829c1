"""Answers that give a blind battle away: a model naming itself or its pair.

names_model("I am Llama, made by Meta.")                    # "llama"
names_model("From smollm2-135m-instruct.", ["smollm2-135m-instruct"])  # the name
"""

from __future__ import annotations

import re

# Model families whose self-identification ("I am Llama", "as an OpenAI model") gives a side away.
MODEL_FAMILIES = (
    "llama",
    "smollm",
    "smollm2",
    "gpt",
    "chatgpt",
    "openai",
    "claude",
    "anthropic",
    "gemini",
    "gemma",
    "mistral",
    "mixtral",
    "qwen",
    "phi",
    "deepseek",
    "falcon",
    "vicuna",
    "olmo",
)
_GENERIC = {
    "instruct",
    "chat",
    "base",
    "model",
    "student",
    "teacher",
    "tiny",
    "small",
    "large",
    "distilled",
    "local",
    "default",
    "it",
    "hf",
    "gguf",
}
_INTRO = (
    r"\b(?:i\s+am|i'm|im|as|my\s+name\s+is|called|named|this\s+is|built\s+on|based\s+on|"
    r"trained\s+by|made\s+by|created\s+by|developed\s+by)"
)


def names_model(text: str, pair: list[str] | tuple[str, ...] = ()) -> str | None:
    """The model name an answer gives away, or None.

    Catches self-identification with a known family or a stem of a pair name ("I am Llama",
    "as SmolLM", "I'm an OpenAI model") and any mention of a distinctive pair name (one with a
    digit, '-', '_', '/' or '.', such as ``smollm2-135m-instruct``)."""
    lowered = text.lower()
    stems = set(MODEL_FAMILIES)
    for name in pair:
        for token in re.split(r"[-_/.\s]+", name.lower()):
            token = token.strip()
            if (
                len(token) >= 3
                and token not in _GENERIC
                and not token.replace("m", "").replace("b", "").isdigit()
            ):
                stems.add(token)
                stems.add(token.rstrip("0123456789"))
        if re.search(r"[\d\-_/.]", name) and len(name) >= 4 and name.lower() in lowered:
            return name
    stems.discard("")
    family = "|".join(sorted((re.escape(s) for s in stems), key=len, reverse=True))
    found = re.search(
        _INTRO + r"\s+(?:an?\s+|the\s+)?(?:ai\s+|language\s+|large\s+language\s+)?"
        r"(?:model\s+|assistant\s+)?(?:called\s+|named\s+)?(" + family + r")\b",
        lowered,
    )
    return found.group(1) if found else None
