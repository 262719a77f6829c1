"""Reading the JSON Lines files that people hand us, with one wording for every problem.

    for number, row in read_jsonl("prompts.jsonl"):          # (line number, parsed value)
        ...
    rows = list(parse_jsonl(lines, source="battles.jsonl"))   # lines as str or bytes

Blank lines are skipped; a UTF-8 byte-order mark is accepted. Every problem is an
``InputError`` (exit 2) naming the file and line, worded the same way wherever the file is
read:

    prompts.jsonl line 3: not valid JSON (Expecting value, column 1)
    prompts.jsonl line 4: not valid UTF-8 (byte 0xff at column 12)
    prompts.jsonl line 5: JSON nested deeper than 64 levels

What each row must hold is the caller's business; this module only turns bytes into values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.errors import InputError

MAX_DEPTH = 64  # JSON nesting a record may use; far deeper than any prompt or answer needs
_BOM = "\ufeff"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of a JSON Lines file, read as it
    goes."""
    with open(path, "rb") as handle:
        yield from parse_jsonl(handle, source=str(path))


def parse_jsonl(
    lines: Iterable[str | bytes], *, source: str | None = None
) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line; bytes are decoded as UTF-8."""
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = _decode(line, source, number)
        if number == 1:
            line = line.removeprefix(_BOM)
        line = line.rstrip("\r\n")
        if line.strip():
            yield number, parse_json_line(line, source=source, line=number)


def parse_json_line(text: str, *, source: str | None, line: int) -> Any:
    """One line of JSON, refused with the file and line named when it is not valid or too
    deep."""
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise InputError(
            "json_too_deep",
            f"{_where(source, line)}: JSON nested deeper than {MAX_DEPTH} levels",
            hint="a record is a flat JSON object, one per line",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            "bad_jsonl", f"{_where(source, line)}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except RecursionError:  # a depth the scan above missed: still one clear line
        raise InputError(
            "json_too_deep", f"{_where(source, line)}: JSON nested too deep to read"
        ) from None


def _decode(raw: bytes, source: str | None, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(source, line, raw[exc.start], exc.start + 1) from None


def _depth(text: str) -> int:
    """Deepest bracket nesting outside JSON strings."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _not_utf8(source: str | None, line: int, byte: int, column: int) -> InputError:
    return InputError(
        "not_utf8",
        f"{_where(source, line)}: not valid UTF-8 (byte 0x{byte:02x} at column {column})",
        hint="save the file as UTF-8",
    )


def _where(source: str | None, line: int) -> str:
    return f"{source} line {line}" if source else f"line {line}"
