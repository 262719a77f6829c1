"""Provenance fingerprints: per-record SHA-256 and a Merkle root for datasets, weights hashes for models.

A dataset is a JSONL file, one JSON record per line (blank lines are skipped). Each
record's leaf hash is the SHA-256 of its canonical JSON (``core.hashing.canonical_json``:
sorted keys, no whitespace, UTF-8), so anyone can check one record with ``sha256sum``.
Inner Merkle nodes are ``sha256(0x01 + left + right)`` over the 32-byte digests; an odd
node at the end of a level is carried up unchanged. The root of one record is its leaf.

Fast path: a line that is already canonical is hashed as its raw bytes; only lines
that are not (other key order, spaces, exponent floats, ...) are parsed and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from core.hashing import canonical_json, sha256_weights

LEAF_HASH = "sha256(canonical_json(record)); node = sha256(0x01 + left + right); odd node carried up"
# A number in exponent form: Python writes 1e+16 where others write 1e16, so such lines
# always take the exact (slow) path.
_EXPONENT = re.compile(rb"\d[eE][+-]?\d")


class DatasetFingerprint(BaseModel):
    """What ``dataset_fingerprint`` found in a JSONL file."""

    model_config = ConfigDict(extra="forbid")

    merkle_root: str = Field(description="Hex Merkle root over the records' leaf hashes.")
    records: int = Field(description="Number of records (non-blank lines).")
    file_sha256: str = Field(description="SHA-256 of the file's bytes.")
    canonicalised_lines: int = Field(description="Lines that were not canonical JSON and were rewritten to hash.")
    leaf_hash: str = Field(default=LEAF_HASH, description="How leaves and nodes are hashed.")


def canonical_record(line: bytes) -> bytes:
    """The canonical JSON bytes of one JSONL line (raises ValueError when it is not JSON)."""
    text = line.decode("utf-8")
    return canonical_json(json.loads(text)).encode("utf-8", "surrogatepass")


def _is_canonical(line: bytes, dumps, loads, sort_keys) -> bool:
    try:
        return dumps(loads(line), option=sort_keys) == line and not _EXPONENT.search(line)
    except (ValueError, TypeError):
        return False


def leaf_hashes(lines: list[bytes], first_line: int = 1) -> tuple[list[bytes], int, list[int]]:
    """Leaf digests of non-blank lines, the count rewritten, and the numbers of bad lines."""
    import orjson

    dumps, loads, sort_keys = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
    sha = hashlib.sha256
    leaves: list[bytes] = []
    rewritten, bad = 0, []
    for number, line in enumerate(lines, start=first_line):
        if _is_canonical(line, dumps, loads, sort_keys):
            leaves.append(sha(line).digest())
            continue
        if not line.strip():
            continue
        try:
            leaves.append(sha(canonical_record(line)).digest())
            rewritten += 1
        except ValueError:
            bad.append(number)
    return leaves, rewritten, bad


def merkle_root(leaves: list[bytes]) -> str:
    """Hex Merkle root of 32-byte leaf digests (see the module docstring)."""
    if not leaves:
        raise InputError("empty_dataset", "no records to hash")
    sha = hashlib.sha256
    level = leaves
    while len(level) > 1:
        pairs = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    return level[0].hex()


def dataset_fingerprint(path: str | Path, progress: bool = False) -> DatasetFingerprint:
    """Hash every record of a JSONL file; bad lines raise ``InputError`` naming them."""
    path = Path(path)
    if not path.is_file():
        raise InputError("missing_file", f"dataset file not found: {path}")
    data = path.read_bytes()
    file_sha256 = hashlib.sha256(data).hexdigest()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    leaves, rewritten, bad = leaf_hashes([line.rstrip(b"\r") for line in lines])
    if bad:
        shown = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise InputError("bad_lines", f"{path}: {len(bad)} line(s) are not JSON: {shown}",
                         hint="fix or remove them; nothing was registered")
    if not leaves:
        raise InputError("empty_dataset", f"{path} has no records")
    return DatasetFingerprint(merkle_root=merkle_root(leaves), records=len(leaves),
                              file_sha256=file_sha256, canonicalised_lines=rewritten)


def model_fingerprint(path: str | Path) -> dict[str, Any]:
    """Weights SHA-256 and ``config.json`` of a checkpoint folder (or the hash of one file)."""
    path = Path(path)
    if path.is_file():
        from core.hashing import sha256_file

        return {"weights_sha256": sha256_file(path), "config": {"file": path.name}}
    if not path.is_dir():
        raise InputError("missing_model", f"model folder not found: {path}")
    config_file = path / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    return {"weights_sha256": sha256_weights(path), "config": config}
