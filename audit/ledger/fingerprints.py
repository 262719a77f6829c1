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
the result is the same as canonicalising every line. Files over 16 MB are cut into byte
ranges of whole lines, one per core (at most 8), hashed in forked processes when the
caller runs no other non-daemon threads; the leaves are joined in file order, so the root is the
same however many processes ran. One record's hash can be recomputed by anyone with the
stdlib script in docs/ledger.md.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import mmap
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
_MAX_WORKERS = 8
# Blocks of 256 KB: each block's lines and digests are freed before the next, so the memory
# is reused while still in cache. 8 MB blocks (new pages for every block's million-odd
# objects) cost about a quarter more CPU here.
_BLOCK_BYTES = 256 << 10
_BAR_BYTES = 8 << 20


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
    except (ValueError, RecursionError):  # not JSON, or nested past Python's recursion limit
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
    """``chunk_leaves`` over ``data[start:end]`` in blocks of about 256 KB."""
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


def _count_lines(data: Any, start: int, end: int) -> int:
    """Newlines in ``data[start:end]`` (a mapped file has no ``count``), a block at a time."""
    return sum(
        data[at : min(at + _BAR_BYTES, end)].count(b"\n") for at in range(start, end, _BAR_BYTES)
    )


def _split_points(data: bytes, parts: int) -> list[int]:
    """Byte offsets that cut ``data`` into ``parts`` ranges of whole lines."""
    points = [0]
    for i in range(1, parts):
        cut = data.find(b"\n", max(points[-1], len(data) * i // parts)) + 1
        if cut <= 0 or cut >= len(data):
            break
        points.append(cut)
    return [*points, len(data)]


def _ranges_in_parallel(
    data: bytes, workers: int, bar=None, forked=lambda: None
) -> list[tuple[bytes, int, list[int]]]:
    """Hash ``workers`` byte ranges of whole lines at once: forked children take all but the
    first, which this process hashes (with the progress bar) while they run."""
    import multiprocessing

    points = _split_points(data, workers)
    firsts = [1]
    for start, end in itertools.pairwise(points[:-1]):
        firsts.append(firsts[-1] + _count_lines(data, start, end))
    context = multiprocessing.get_context("fork")
    children = []
    for start, end, first in zip(points[1:-1], points[2:], firsts[1:], strict=True):
        receiver, sender = context.Pipe(duplex=False)

        def child(sender=sender, start=start, end=end, first=first) -> None:
            sender.send(_blocks_leaves(data, start, end, first))
            sender.close()

        process = context.Process(target=child, daemon=True)
        process.start()
        sender.close()
        children.append((process, receiver, start, end, first))
    forked()
    results = [_blocks_leaves(data, 0, points[1], 1, bar)]
    for process, receiver, start, end, first in children:
        while not receiver.poll(0.5) and process.is_alive():
            pass
        try:
            results.append(receiver.recv())
        except EOFError:  # the child died (out of memory, killed): do its range here
            results.append(_blocks_leaves(data, start, end, first))
        process.join()
    return results


def _only_daemon_threads() -> bool:
    """True when no other non-daemon thread runs (tqdm's monitor, a backend's scheduler are
    daemons that sleep or wait; the forked children touch only orjson, hashlib and a pipe)."""
    main = threading.main_thread()
    return all(t.daemon or t is main for t in threading.enumerate())


def dataset_fingerprint(
    path: str | Path, progress: bool = False, parallel: bool | int | None = None
) -> DatasetFingerprint:
    """Hash every record of a JSONL file; bad lines raise ``InputError`` naming them.

    ``parallel``: hash byte ranges in one process per core (None: when the file is over
    16 MB and no other non-daemon threads run, since the workers are forked; True: at least two; a
    number: that many processes). The file's own SHA-256
    is computed in a thread alongside (hashlib releases the GIL). ``progress`` shows a bar
    for files over 32 MB.
    """
    from tqdm import tqdm

    path = Path(path)
    if not path.is_file():
        raise InputError("missing_file", f"dataset file not found: {path}")
    with open(path, "rb") as handle:  # mapped, not read: no copy of the file in new pages
        data: Any = (
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
        )
    file_digest = hashlib.sha256()
    hasher = threading.Thread(target=file_digest.update, args=(data,), daemon=True)
    workers = min(os.cpu_count() or 1, _MAX_WORKERS, max(1, len(data) // _PARALLEL_BYTES))
    if parallel is None:
        parallel = len(data) > _PARALLEL_BYTES and _only_daemon_threads()
    elif parallel is not False:  # asked for: True is at least two processes, a number that many
        workers = parallel if parallel is not True and parallel > 1 else max(2, workers)
    parallel = bool(parallel) and hasattr(os, "fork") and workers > 1
    show = progress and len(data) > 4 * _BAR_BYTES
    with tqdm(
        total=len(data) // workers if parallel else len(data),
        unit="B",
        unit_scale=True,
        desc="hashing records" + (f" ({workers} processes)" if parallel else ""),
        disable=not show,
    ) as bar:
        if parallel:
            parts = _ranges_in_parallel(data, workers, bar if show else None, forked=hasher.start)
        else:
            hasher.start()
            parts = [_blocks_leaves(data, 0, len(data), 1, bar if show else None)]
    hasher.join()
    if isinstance(data, mmap.mmap):
        data.close()
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
