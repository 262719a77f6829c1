"""Reading text files that people hand us (prompt sets, answer files), with errors that name the
line."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError


def read_utf8(path: Path) -> str:
    """The file's text (a UTF-8 BOM is dropped); non-UTF-8 bytes are an InputError naming the
    line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            "not_utf8",
            f"{path}: line {line} is not UTF-8 (byte {exc.start}: "
            f"{data[exc.start : exc.start + 1]!r})",
            hint="save the file as UTF-8",
        ) from None
