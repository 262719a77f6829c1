"""Incremental detokenization with stop strings, shared by the streaming backends.

    tracker = TextTracker(decode, stop=["\\n\\n"])
    for token_id in ids:
        delta = tracker.add(token_id)      # text safe to show now ("" while unsure)
        if tracker.stopped:
            break
    rest = tracker.finish()                # whatever was held back

The concatenation of every delta plus ``finish()`` is exactly ``tracker.text``: the
decoded answer, cut before the first stop string. Text that could still become the
start of a stop string, or that ends in half a UTF-8 character, is held back until
it is certain, so a stop string is never shown and then taken back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

_REPLACEMENT = "\ufffd"


class TextTracker:
    """Token ids in, safe text deltas out; finds the first stop string."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = [s for s in stop if s]
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self.ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def add(self, token_id: int) -> str:
        """Append one token; return the newly safe text (possibly empty)."""
        self.ids.append(token_id)
        text = self._decode(self.ids)
        cut = self._find_stop(text)
        if cut is not None:
            self.text, self.stopped = text[:cut], True
            return ""
        self.text = text
        safe = len(text) - self._hold
        if text.endswith(_REPLACEMENT):
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
