"""One error family for every surface.

A ``StillhouseError`` carries a short machine code, a one-line message for people
and an optional hint. The CLI prints ``error: message`` (and the hint) and exits
with ``exit_code``; the web app shows the message in a ``gr.Error``; reports never
show a traceback.

    raise InputError("unknown_model", "unknown model 'x'", hint="known: a, b")
"""

from __future__ import annotations


class StillhouseError(Exception):
    """Base error: something the user can read and act on."""

    exit_code = 1

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class InputError(StillhouseError):
    """Bad user input: an unknown name, an empty prompt, a value out of range. Exit 2."""

    exit_code = 2


class NotFoundError(InputError):
    """A named model, run, file or record does not exist. Exit 2."""


class IntegrityError(StillhouseError):
    """Stored data failed a check: a corrupted weights file, a broken hash chain. Exit 1."""

    exit_code = 1


class BackendError(StillhouseError):
    """A generation backend failed: unreachable server, malformed stream, timeout. Exit 1."""

    exit_code = 1
