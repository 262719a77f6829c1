"""Progress reporting for the engine: tqdm bars in a terminal, or a callable such as
``gr.Progress``.

progress = Progress(True)                 # tqdm bars on stderr
progress = Progress(gr.Progress())        # calls progress(fraction, desc=...)
with progress.bar(total=100, desc="teacher data", unit="prompt") as bar:
    bar.update(10)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


class _Bar:
    def __init__(self, owner: Progress, total: int, desc: str, unit: str) -> None:
        self.owner, self.total, self.desc, self.done = owner, max(total, 1), desc, 0
        self._tqdm: Any = None
        if owner.enabled is True:
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        self.owner.report(self.done / self.total, self.desc)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


class Progress:
    """``True``: tqdm bars; ``False``: silent; a callable: ``fn(fraction, desc=...)`` per update."""

    def __init__(self, enabled: bool | Callable[..., Any] = True) -> None:
        self.enabled = enabled
        self.callback = enabled if callable(enabled) else None

    def report(self, fraction: float, desc: str) -> None:
        if self.callback is not None:
            self.callback(min(max(fraction, 0.0), 1.0), desc=desc)

    def note(self, message: str) -> None:
        """A one-line status message (printed in a terminal, sent to the callable otherwise)."""
        if self.enabled is True:
            import sys

            print(message, file=sys.stderr, flush=True)
        if self.callback is not None:
            self.callback(None, desc=message)

    @contextlib.contextmanager
    def bar(self, total: int, desc: str, unit: str = "it") -> Iterator[_Bar]:
        bar = _Bar(self, total, desc, unit)
        try:
            yield bar
        finally:
            bar.close()
