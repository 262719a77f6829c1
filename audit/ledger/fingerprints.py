"""Provenance fingerprints: per-record SHA-256 and a Merkle root for datasets, weights hashes for
models.

A dataset is a JSONL file, one JSON record per line; blank lines are skipped.

- Leaf: each record's SHA-256 over its canonical JSON (``core.hashing.canonical_json``:
  sorted keys, no whitespace, UTF-8, Python's number format), so anyone can check one
  record with ``sha256sum``.
- Tree: fan-out 16. A node is ``sha256(0x01 + the 32-byte digests of its up-to-16
  children, in order)``; levels are built until one digest is left (the root). One
  record's root is its leaf. Fan-out 16 keeps 1M records at 5 levels and the hashing
  cost of the tree at 1/15 of the leaves'.

Fast path (this is what makes 1M records cost about as much as reading them): a line
that is already canonical is hashed as its raw bytes. A line counts as canonical when
orjson's sorted-keys re-encoding gives back exactly its bytes; orjson and Python write
numbers alike except small floats (``0.00001`` vs ``1e-05``, ``1e-9`` vs ``1e-09``), so
lines holding those patterns always take the exact path. Only lines that are not
canonical are parsed with ``json`` and rewritten by ``canonical_json`` before hashing;
the result is the same as canonicalising every line. Large files are split in two and
the halves hashed in two processes when a core is idle and the caller runs no other threads.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from core.hashing import canonical_json, sha256_weights

FANOUT = 16
LEAF_HASH = (
    f"leaf = sha256(canonical_json(record)); node = sha256(0x01 + child digests), fan-out {FANOUT}"
)
_PARALLEL_BYTES = 16 << 20
_BLOCK_BYTES = 8 << 20


class DatasetFingerprint(BaseModel):
    """What ``dataset_fingerprint`` found in a JSONL file."""

    model_config = ConfigDict(extra="forbid")

    merkle_root: str = Field(description="Hex Merkle root over the records' leaf hashes.")
    records: int = Field(description="Number of records (non-blank lines).")
    file_sha256: str = Field(description="SHA-256 of the file's bytes.")
    canonicalised_lines: int = Field(
        description="Lines that were not canonical JSON and were rewritten to hash."
    )
    leaf_hash: str = Field(default=LEAF_HASH, description="How leaves and nodes are hashed.")


def canonical_record(line: bytes) -> bytes:
    """The canonical JSON bytes of one JSONL line (raises ValueError when it is not JSON)."""
    return canonical_json(json.loads(line.decode("utf-8"))).encode("utf-8", "surrogatepass")


def _risky_positions(chunk: bytes) -> list[int]:
    """Byte offsets of number forms where orjson and json may differ (``e-5``, ``0.00001``)."""
    positions = []
    at = chunk.find(b"-")  # a one-byte search is a fast memchr; "e-<digit>" is checked around it
    while at >= 0:
        if at and chunk[at - 1 : at] in (b"e", b"E") and chunk[at + 1 : at + 2].isdigit():
            positions.append(at)
        at = chunk.find(b"-", at + 1)
    at = chunk.find(b"0.0000")
    while at >= 0:
        positions.append(at)
        at = chunk.find(b"0.0000", at + 6)
    return positions


def _risky_lines(chunk: bytes, lines: list[bytes]) -> set[int]:
    """Indices of lines holding a number form where orjson and json may differ."""
    positions = _risky_positions(chunk)
    if not positions:
        return set()
    ends = list(itertools.accumulate(len(line) + 1 for line in lines))
    return {bisect.bisect_right(ends, p) for p in positions}


def _fast_leaf(line: bytes, dumps, loads, sort_keys) -> bytes | None:
    try:
        return (
            hashlib.sha256(line).digest() if dumps(loads(line), option=sort_keys) == line else None
        )
    except (ValueError, TypeError):
        return None


def _exact_leaf(line: bytes) -> bytes | None | bool:
    """Digest of a non-canonical line; ``False`` for a blank line, ``None`` for a bad one."""
    if not line.strip():
        return False
    try:
        return hashlib.sha256(canonical_record(line)).digest()
    except ValueError:
        return None


def chunk_leaves(chunk: bytes, first_line: int = 1) -> tuple[bytes, int, list[int]]:
    """Leaf digests (concatenated) of a block of whole lines, lines rewritten, bad line numbers."""
    import orjson

    dumps, loads, sort_keys, sha = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS, hashlib.sha256
    lines = chunk.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:  # one tight loop for the common case: every line canonical and readable by orjson
        leaves: list[Any] = [
            sha(line).digest() if dumps(loads(line), option=sort_keys) == line else None
            for line in lines
        ]
    except (ValueError, TypeError):
        leaves = [_fast_leaf(line, dumps, loads, sort_keys) for line in lines]
    for index in _risky_lines(chunk, lines):
        leaves[index] = None
    rewritten, bad = 0, []
    if None in leaves:
        for index in [i for i, leaf in enumerate(leaves) if leaf is None]:
            leaf = _exact_leaf(lines[index])
            if leaf is None:
                bad.append(first_line + index)
            elif leaf is not False:
                rewritten += 1
            leaves[index] = leaf
        leaves = [leaf for leaf in leaves if leaf]
    return b"".join(leaves), rewritten, bad


def merkle_root(leaves: bytes | list[bytes]) -> str:
    """Hex Merkle root (fan-out 16) of 32-byte leaf digests, given as a list or concatenated."""
    level = leaves if isinstance(leaves, bytes) else b"".join(leaves)
    if not level or len(level) % 32:
        raise InputError("empty_dataset", "no records to hash")
    sha, step = hashlib.sha256, 32 * FANOUT
    while len(level) > 32:
        level = b"".join(
            [sha(b"\x01" + level[i : i + step]).digest() for i in range(0, len(level), step)]
        )
    return level.hex()


def _blocks_leaves(
    data: bytes, start: int, end: int, first_line: int, bar=None
) -> tuple[bytes, int, list[int]]:
    """``chunk_leaves`` over ``data[start:end]`` in blocks of about 8 MB (for the progress bar)."""
    digests, rewritten, bad = [], 0, []
    while start < end:
        stop = data.find(b"\n", min(start + _BLOCK_BYTES, end) - 1, end) + 1 or end
        block = data[start:stop]
        leaves, block_rewritten, block_bad = chunk_leaves(block, first_line)
        digests.append(leaves)
        rewritten += block_rewritten
        bad += block_bad
        first_line += block.count(b"\n")
        if bar is not None:
            bar.update(stop - start)
        start = stop
    return b"".join(digests), rewritten, bad


def _halves_in_parallel(
    data: bytes, bar=None, forked=lambda: None
) -> list[tuple[bytes, int, list[int]]]:
    """Hash the second half of ``data`` in a forked process while this one hashes the first."""
    import multiprocessing

    middle = data.find(b"\n", len(data) // 2) + 1
    if middle <= 0 or middle >= len(data):
        forked()
        return [_blocks_leaves(data, 0, len(data), 1, bar)]
    second_line = data.count(b"\n", 0, middle) + 1
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        sender.send(_blocks_leaves(data, middle, len(data), second_line))
        sender.close()

    process = context.Process(target=child, daemon=True)
    process.start()
    sender.close()
    forked()
    first = _blocks_leaves(data, 0, middle, 1, bar)
    try:
        second = receiver.recv()
    except EOFError:  # the child died (out of memory, killed): do its half here
        second = _blocks_leaves(data, middle, len(data), second_line)
    process.join()
    return [first, second]


def dataset_fingerprint(
    path: str | Path, progress: bool = False, parallel: bool | None = None
) -> DatasetFingerprint:
    """Hash every record of a JSONL file; bad lines raise ``InputError`` naming them.

    ``parallel``: hash the two halves in two processes (None: when the file is large, a core
    is idle and no other threads run). The file's own SHA-256 is computed in a thread
    alongside (hashlib releases the GIL). ``progress`` shows a bar for files over 32 MB.
    """
    from tqdm import tqdm

    path = Path(path)
    if not path.is_file():
        raise InputError("missing_file", f"dataset file not found: {path}")
    data = path.read_bytes()
    file_digest = hashlib.sha256()
    hasher = threading.Thread(target=file_digest.update, args=(data,), daemon=True)
    if parallel is None:
        parallel = (
            len(data) > _PARALLEL_BYTES
            and threading.active_count() == 1
            and os.getloadavg()[0] < (os.cpu_count() or 1) - 1
        )  # a core to spare
    parallel = parallel and hasattr(os, "fork")
    show = progress and len(data) > 4 * _BLOCK_BYTES
    with tqdm(
        total=len(data) // 2 if parallel else len(data),
        unit="B",
        unit_scale=True,
        desc="hashing records" + (" (2 processes)" if parallel else ""),
        disable=not show,
    ) as bar:
        if parallel:
            parts = _halves_in_parallel(data, bar if show else None, forked=hasher.start)
        else:
            hasher.start()
            parts = [_blocks_leaves(data, 0, len(data), 1, bar if show else None)]
    hasher.join()
    bad = [n for _, _, numbers in parts for n in numbers]
    if bad:
        shown = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise InputError(
            "bad_lines",
            f"{path}: {len(bad)} line(s) are not valid JSON: line {shown}",
            hint="fix or remove them; nothing was registered",
        )
    leaves = b"".join(part[0] for part in parts)
    if not leaves:
        raise InputError("empty_dataset", f"{path} has no records")
    return DatasetFingerprint(
        merkle_root=merkle_root(leaves),
        records=len(leaves) // 32,
        file_sha256=file_digest.hexdigest(),
        canonicalised_lines=sum(p[1] for p in parts),
    )


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
