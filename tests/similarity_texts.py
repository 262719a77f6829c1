"""Test texts for the similarity tests, built from CPython's own help topics (pydoc_data).

Each "prompt" is one help topic. The reference model's answer is the topic's first
80 words; an unrelated model answering the same prompt gets another 80 words of
the same topic (same subject, different wording: raw similarity is high anyway);
a reworded copy changes every sixth word of the reference and swaps a pair now and then.
"""

from __future__ import annotations

import pydoc_data.topics

from audit.similarity.metrics import longest_run, tokenize

WORDS = 80
MAX_SHARED = 12  # topics whose chunks already share a longer run (repeated tables) are left out
_FILLERS = ("really", "quite", "indeed", "also", "simply", "namely", "often", "thus")


def _topics(n: int) -> list[tuple[str, list[str]]]:
    topics = pydoc_data.topics.topics
    long = [
        (k, v.split())
        for k, v in sorted(topics.items())
        if len(v.split()) >= 3 * WORDS and _distinct(v.split())
    ]
    if len(long) < n:
        raise RuntimeError(f"only {len(long)} long help topics here")
    return long[:n]


def _distinct(words: list[str]) -> bool:
    chunks = [tokenize(" ".join(words[i * WORDS : (i + 1) * WORDS])) for i in range(3)]
    return all(
        longest_run(chunks[a], chunks[b]).tokens < MAX_SHARED for a, b in ((0, 1), (0, 2), (1, 2))
    )


def corpus(n: int = 30) -> dict[str, list[dict[str, str]]]:
    """Rows per role: reference, baseline (same topics, other words), unrelated, reworded."""
    out: dict[str, list[dict[str, str]]] = {
        k: [] for k in ("reference", "baseline", "unrelated", "reworded")
    }
    for name, words in _topics(n):
        chunks = {
            "reference": words[:WORDS],
            "baseline": words[WORDS : 2 * WORDS],
            "unrelated": words[2 * WORDS : 3 * WORDS],
            "reworded": reword(words[:WORDS]),
        }
        for role, chunk in chunks.items():
            out[role].append({"prompt_id": name, "text": " ".join(chunk)})
    return out


def reword(words: list[str]) -> list[str]:
    """A light rewording: every sixth word replaced, every ninth pair swapped."""
    out = list(words)
    for i in range(3, len(out), 6):
        out[i] = _FILLERS[i % len(_FILLERS)]
    for i in range(7, len(out) - 1, 9):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def extra_words(n: int) -> str:
    """``n`` words of help text that none of the corpus chunks contain (for padding)."""
    return " ".join(pydoc_data.topics.topics["specialnames"].split()[-n:])
