"""Names that become folders: a safe slug, and a path that stays inside its parent.

    safe_name("smollm2-distilled-8l")              # returned unchanged
    safe_name("../../../tmp/x")                    # InputError("bad_name", ...)
    child(models_dir(), name)                      # models_dir() / name, or InputError

A student name is saved as ``$STILLHOUSE_HOME/models/<name>``; a name with ``/``, ``..``,
a leading dot or control characters could write anywhere, so it is refused before any work
starts. Rendering names in HTML is a separate matter (``html.escape`` where they are shown).
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import InputError

SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SLUG_TEXT = "letters, digits, '.', '_' and '-' (not first), at most 100 characters"


def safe_name(name: str, what: str = "name") -> str:
    """``name`` when it is a safe slug (and not ``..``-like); else ``InputError``."""
    if not isinstance(name, str) or not SLUG.fullmatch(name) or ".." in name:
        shown = repr(name)[:60]
        raise InputError("bad_name", f"{what} {shown} is not a safe name", hint=SLUG_TEXT)
    return name


def child(parent: Path, name: str, what: str = "name") -> Path:
    """``parent / name`` for a safe ``name``, checked to resolve inside ``parent``."""
    target = parent / safe_name(name, what)
    base = parent.resolve()
    if not target.resolve().is_relative_to(base):
        raise InputError("bad_name", f"{what} {name!r} resolves outside {base}")
    return target
