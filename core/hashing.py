"""Hashes that the ledger and reports rely on: files, folders of weights, canonical JSON."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 22


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(payload: Any) -> str:
    """JSON with sorted keys and no whitespace: the same facts always give the same bytes."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def sha256_text(text: str) -> str:
    """Hex SHA-256 of UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def weights_files(folder: str | Path) -> list[Path]:
    """The weight files of a Hugging Face checkpoint folder, sorted by name."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return files


def sha256_weights(folder: str | Path) -> str:
    """SHA-256 of a checkpoint's weights: the file's own hash when there is one file,
    else the hash of the sorted ``name:sha256`` lines of every shard."""
    files = weights_files(folder)
    if not files:
        from core.errors import IntegrityError

        raise IntegrityError("no_weights", f"no weights (*.safetensors or *.bin) in {folder}")
    if len(files) == 1:
        return sha256_file(files[0])
    lines = "\n".join(f"{f.name}:{sha256_file(f)}" for f in files)
    return sha256_text(lines)
