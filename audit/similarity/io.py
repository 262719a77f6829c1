"""Read and write the JSONL answer files a similarity score works on.

Each line is ``{"prompt_id": ..., "text": ...}`` (protected passages: ``{"id": ..., "text": ...}``).
Every problem is one ``InputError`` naming the file and line: missing file, bytes that
are not UTF-8, a line that is not JSON, a missing key, a duplicate id, an empty file.

    rows = read_rows("answers.jsonl")
    write_rows(path, rows)      # atomic
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import InputError, NotFoundError
from core.hashing import sha256_file
from core.paths import atomic_file
from core.textfile import read_jsonl

ID_KEYS = ("prompt_id", "id", "passage_id")


def _row(path: Path, number: int, row: Any, id_keys: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(row, dict):
        raise InputError("bad_jsonl", f"{path} line {number}: not a JSON object")
    key = next((k for k in id_keys if k in row), None)
    if key is None or not isinstance(row[key], str | int) or isinstance(row[key], bool):
        raise InputError(
            "missing_prompt_id", f"{path} line {number}: has no {id_keys[0]} (string or number)"
        )
    if not isinstance(row.get("text"), str):
        raise InputError("missing_text", f"{path} line {number}: has no text (string)")
    return {"prompt_id": str(row[key]), "text": row["text"]}


def read_rows(path: str | Path, *, id_keys: tuple[str, ...] = ID_KEYS) -> list[dict[str, str]]:
    """Rows ``{"prompt_id", "text"}`` of a JSONL file, checked line by line."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError("missing_file", f"file not found: {path}")
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, value in read_jsonl(path):
        row = _row(path, number, value, id_keys)
        if row["prompt_id"] in seen:
            raise InputError(
                "duplicate_prompt_id",
                f"{path} line {number}: repeats prompt_id "
                f"'{row['prompt_id']}' (first on line {seen[row['prompt_id']]})",
            )
        seen[row["prompt_id"]] = number
        rows.append(row)
    if not rows:
        raise InputError("empty_file", f"{path} holds no rows")
    return rows


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSONL (UTF-8, one object a line), atomically."""
    path = Path(path)
    with atomic_file(path, "wb") as handle:
        for row in rows:
            handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def file_facts(path: str | Path) -> dict[str, Any]:
    """Name, path and SHA-256 of an input file, for the ledger."""
    path = Path(path)
    return {"name": path.name, "path": str(path.resolve()), "sha256": sha256_file(path)}
