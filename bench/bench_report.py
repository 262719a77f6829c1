"""How long does a provenance report take for a run whose dataset has 10,000 records?

Builds a fresh ledger (a teacher, a registered 10,000-record prompt set, a finished distill
run with pre-flight findings and a similarity result; the run's 10,000 teacher answers are
recorded by file hash only, as the engine does, so every export re-hashes them into a
Merkle root), then, side by side in this one process:

- baseline: a bare ledger query for the run (``store.run(run_id)``), and ``store.verify()``;
- each report format built from the ledger and written (build_report + export_report).

Budget (issue 7): <= 10 s per report here. The last line is the slowest format's time as a
ratio of that budget (below 1.0 is within it), with its ratio to the bare query beside it.

    .venv/bin/python bench/bench_report.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

RECORDS = 10_000
BUDGET_S = 10.0


def _ledger(folder: Path):
    from audit.ledger.store import Store
    from core.hashing import sha256_file
    from core.recorder import ArtifactRef

    prompts, answers = folder / "prompts.jsonl", folder / "teacher_data.jsonl"
    with open(prompts, "w") as handle, open(answers, "w") as out:
        for i in range(RECORDS):
            handle.write(
                json.dumps({"id": i, "prompt": f"Explain item {i} in one sentence."}) + "\n"
            )
            out.write(json.dumps({"id": i, "response": f"Item {i} is one of many."}) + "\n")
    store = Store(folder / "ledger.duckdb")
    store.register_model(
        "teacher", license="apache-2.0", hf_id="org/teacher", weights_sha256="1" * 64
    )
    data = store.register_dataset(
        prompts,
        name="prompts-10k",
        license="cc-by-4.0",
        source="https://example.org/prompts",
        collected="2026-10-01",
    )
    run_id = store.start_run(
        "distill",
        config={"preset": "quick"},
        seed=0,
        code_version="bench",
        inputs=[
            ArtifactRef(
                role="teacher", kind="model", name="teacher", sha256="1" * 64, license="apache-2.0"
            ),
            ArtifactRef(
                role="prompts",
                kind="dataset",
                name="prompts-10k",
                sha256=data["merkle_root"],
                license="cc-by-4.0",
                records=data["records"],
            ),
            ArtifactRef(
                role="teacher_data",
                kind="dataset",
                name=answers.name,
                sha256=sha256_file(answers),
                path=str(answers),
                license="apache-2.0",
                records=RECORDS,
            ),
        ],
    )
    store.record_preflight(
        {
            "verdict": "allowed_with_conditions",
            "obligations": ["Keep NOTICE."],
            "findings": [
                {
                    "severity": "condition",
                    "license": "apache-2.0",
                    "clause": "s4",
                    "message": "Keep the NOTICE file.",
                }
            ],
        },
        run_id=run_id,
        request={"use": "commercial"},
    )
    store.finish_run(
        run_id,
        outputs=[
            ArtifactRef(
                role="student", kind="model", name="student", sha256="2" * 64, license="apache-2.0"
            )
        ],
        metrics={"student": {"perplexity": 20.0}},
        status="succeeded",
    )
    store.record_similarity(
        {"candidate": "student", "reference": "teacher", "risk": "low", "p_value": 0.4},
        run_id=run_id,
    )
    return store, run_id


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    from audit.reports.export import FORMATS, build_report, export_report

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["STILLHOUSE_HOME"] = str(folder)
        store, run_id = _ledger(folder)
        assert store.datasets()[0]["records"] == RECORDS
        export_report(
            build_report(store, run_id=run_id), "pdf", folder / "warm.pdf"
        )  # imports, fonts
        query = min(_timed(lambda: store.run(run_id)) for _ in range(3))
        verify = _timed(store.verify)
        print(f"baseline  store.run(run_id)  {query:.3f} s   store.verify()  {verify:.3f} s")
        times = {}
        for fmt in FORMATS:
            out = folder / f"report.{fmt}"
            times[fmt] = _timed(
                lambda f=fmt, o=out: export_report(build_report(store, run_id=run_id), f, o)
            )
            print(f"report    {fmt:<10} {times[fmt]:.3f} s   {out.stat().st_size:>9,} bytes")
        slowest = max(times, key=times.get)
        print(
            f"slowest report ({slowest}, {RECORDS:,}-record dataset) {times[slowest]:.2f} s = "
            f"{times[slowest] / BUDGET_S:.3f}x the {BUDGET_S:.0f} s budget "
            f"({times[slowest] / query:.1f}x a bare ledger query)"
        )


if __name__ == "__main__":
    main()
