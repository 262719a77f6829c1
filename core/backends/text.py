"""Incremental detokenization with stop strings, shared by the streaming backends.

    tracker = TextTracker(Detokenizer(tokenizer), stop=["\\n\\n"])
    for token_id in ids:
        delta = tracker.add(token_id)      # text safe to show now ("" while unsure)
        if tracker.stopped:
            break
    rest = tracker.finish()                # whatever was held back

The concatenation of every delta plus ``finish()`` is exactly ``tracker.text``: the
decoded answer, cut before the first stop string. Text that could still become the
start of a stop string, or that ends in half a UTF-8 character, is held back until
it is certain, so a stop string is never shown and then taken back.

Each token costs one step: a ``Detokenizer`` over a fast (Rust) tokenizer hands every
request its own ``tokenizers.decoders.DecodeStream``, which decodes only the new token
(and buffers bytes until a UTF-8 character is whole). Any other ``decode(ids) -> str``
callable still works, at the old price of re-decoding the whole answer on every token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

_REPLACEMENT = "\ufffd"


class Detokenizer:
    """A tokenizer's decoder: ``decode(ids)`` for whole answers, ``stream()`` for one per
    request."""

    def __init__(self, tokenizer, lock: Any = None) -> None:
        self.tokenizer = tokenizer
        self.lock = lock or threading.Lock()  # fast tokenizers are not safe across threads
        self._rust = getattr(tokenizer, "_tokenizer", None)

    def __call__(self, ids: list[int]) -> str:
        with self.lock:
            return self.tokenizer.decode(ids, skip_special_tokens=True)

    def stream(self) -> Callable[[int], str] | None:
        """A fresh incremental decoder (token id -> new text), or None for slow tokenizers."""
        if self._rust is None:
            return None
        from tokenizers.decoders import DecodeStream

        decoder, rust, lock = DecodeStream(skip_special_tokens=True), self._rust, self.lock

        def step(token_id: int) -> str:
            with lock:
                return decoder.step(rust, token_id) or ""

        return step


class TextTracker:
    """Token ids in, safe text deltas out; finds the first stop string."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        stream = getattr(decode, "stream", None)
        self._step: Callable[[int], str] | None = stream() if stream is not None else None
        self._stop = [s for s in stop if s]
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self._raw = ""  # every decoded piece so far (before any stop cut)
        self.ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def add(self, token_id: int) -> str:
        """Append one token; return the newly safe text (possibly empty)."""
        self.ids.append(token_id)
        if self._step is not None:
            self._raw += self._step(token_id)  # "" while a UTF-8 character is incomplete
        else:
            self._raw = self._decode(self.ids)
        text = self._raw
        cut = self._find_stop(text)
        if cut is not None:
            self.text, self.stopped = text[:cut], True
            return ""
        self.text = text
        safe = len(text) - self._hold
        if text.endswith(_REPLACEMENT) and self._step is None:
            return ""  # half a multi-byte character: wait for the rest
        return self._emit_to(safe)

    def finish(self) -> str:
        """The text not yet emitted (the held-back tail, minus a trailing broken character)."""
        if not self.stopped and self.text.endswith(_REPLACEMENT):
            self.text = self.text.rstrip(_REPLACEMENT)
        return self._emit_to(len(self.text))

    def _emit_to(self, end: int) -> str:
        if end <= self.emitted:
            return ""
        delta = self.text[self.emitted : end]
        self.emitted = end
        return delta

    def _find_stop(self, text: str) -> int | None:
        if not self._stop:
            return None
        start = max(0, self.emitted - self._hold - 1)
        hits = [i for i in (text.find(s, start) for s in self._stop) if i >= 0]
        return min(hits) if hits else None
