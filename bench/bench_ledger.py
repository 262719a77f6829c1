"""Benchmark: registering a 1M-record JSONL dataset against ``sha256sum`` of the same file.

``register-dataset`` hashes every record (canonical JSON, SHA-256), builds the Merkle root
and writes one ledger row; ``sha256sum`` only hashes the bytes, so it is the floor. Both
run side by side in this process, best of ``--repeats``. The last line is the ratio
(goal <= 3x, must <= 20 s).

    .venv/bin/python bench/bench_ledger.py [--records 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = (
    "the of and to in is for that with on as it by this be are from at or an have not was "
    "model teacher student answer question data"
).split()


def make_dataset(path: Path, records: int, canonical: bool = True) -> None:
    """``records`` lines of about 144 bytes, canonical (sorted keys, no spaces) or
    json.dumps-style."""
    import json

    import orjson

    rng = random.Random(0)
    with open(path, "wb") as handle:
        for start in range(0, records, 10_000):
            lines = []
            for i in range(start, min(start + 10_000, records)):
                record = {
                    "id": i,
                    "prompt": " ".join(rng.choices(WORDS, k=rng.randint(6, 12))),
                    "response": " ".join(rng.choices(WORDS, k=rng.randint(6, 12))),
                    "source": "bench",
                }
                lines.append(
                    orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
                    if canonical
                    else json.dumps(record).encode()
                )
            handle.write(b"\n".join(lines) + b"\n")


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children) of one call."""
    import resource

    def cpu() -> float:
        own, kids = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    start_cpu, start = cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - start, cpu() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from audit.ledger.fingerprints import dataset_fingerprint
    from audit.ledger.store import Store

    folder = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    try:
        data = folder / "records.jsonl"
        make_dataset(data, args.records)
        size_mb = data.stat().st_size / 1e6
        print(f"dataset       {args.records:,} records, {size_mb:.0f} MB")
        sha256sum = shutil.which("sha256sum")
        if sha256sum is None:
            sys.exit("sha256sum not found")
        ledgers = [Store(folder / f"ledger-{i}.duckdb") for i in range(args.repeats)]
        for store in ledgers:  # existing ledgers: registering into one is the usual case
            store.votes()
        pending = iter(ledgers)

        def register() -> (
            None
        ):  # a fresh ledger each time: the same root twice is not re-registered
            row = next(pending).register_dataset(data, name="bench", license="cc-by-4.0")
            assert not row["already"] and row["records"] == args.records

        floor, ours = [], []
        for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
            floor.append(
                timed(
                    lambda: subprocess.run([sha256sum, str(data)], check=True, capture_output=True)
                )
            )
            ours.append(timed(register))
        (floor_s, floor_cpu), (ours_s, ours_cpu) = min(floor), min(ours)

        mixed = folder / "mixed.jsonl"  # json.dumps-style lines: every record is rewritten
        make_dataset(mixed, min(args.records, 100_000), canonical=False)
        start = time.perf_counter()
        found = dataset_fingerprint(mixed)
        slow_s = time.perf_counter() - start

        print(
            f"machine load  {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (figures are noisy "
            "when busy)"
        )
        print(
            f"sha256sum     {floor_s:.3f} s wall, {floor_cpu:.3f} s CPU  (best of {args.repeats}; "
            "the floor)"
        )
        print(
            f"register      {ours_s:.3f} s wall, {ours_cpu:.3f} s CPU  (best of {args.repeats}; "
            "record hashes, Merkle root, file hash and ledger row)"
        )
        print(f"CPU ratio     {ours_cpu / floor_cpu:.2f}x")
        print(f"records/s     {args.records / ours_s:,.0f}")
        print(
            f"non-canonical {found.records / slow_s:,.0f} records/s "
            f"({found.canonicalised_lines:,} lines rewritten before hashing)"
        )
        print(f"must <= 20 s: {'yes' if ours_s <= 20 else 'NO'};  goal <= 3x the floor")
        print(f"ratio register-dataset / sha256sum: {ours_s / floor_s:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
