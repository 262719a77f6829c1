"""A small real ledger for report tests, written the way `stillhouse distill` writes it.

The pre-flight goes through ``audit.licences.gate.preflight_gate`` (the real licence rules), the
run through the gate's recorder; the prompt set is registered (Merkle root in the
ledger), the teacher's answers are recorded by file hash and path only, as the engine does.
"""

from __future__ import annotations

import json
from pathlib import Path

from audit.ledger.store import Store
from audit.licences.gate import preflight_gate
from audit.licences.preflight import PreflightRequest
from core.hashing import sha256_file
from core.recorder import ArtifactRef

TEACHER_SHA = "1" * 64
STUDENT_SHA = "2" * 64
EVIL = "<script>alert('x')</script>"


def write_jsonl(path: Path, n: int, text: str = "Say hello") -> Path:
    with open(path, "w") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": i, "prompt": f"{text} {i}"}) + "\n")
    return path


def make_ledger(
    tmp: Path,
    *,
    records: int = 20,
    student: str = "MyBot",
    teacher_license: str = "llama3.1",
    prompt_name: str = f"prompts {EVIL}",
    override: str | None = None,
) -> tuple[Store, str]:
    """A ledger with one finished distill run; returns (store, run_id)."""
    store = Store(tmp / "ledger.duckdb")
    store.register_model(
        "llama-teacher",
        license=teacher_license,
        hf_id="meta/llama-teacher",
        weights_sha256=TEACHER_SHA,
    )
    prompts = store.register_dataset(
        write_jsonl(tmp / "prompts.jsonl", records),
        name=prompt_name,
        license="cc-by-4.0",
        source="https://example.org/prompts",
        collected="2026-10-01",
    )
    answers = write_jsonl(tmp / "teacher_data.jsonl", records, text="Hello")
    gate = preflight_gate(
        store,
        PreflightRequest(
            teacher_license=teacher_license,
            data_licenses=["cc-by-4.0"],
            use="commercial",
            student_name=student,
            mau=50_000,
            region="US",
            entity="company",
        ),
        override_reason=override,
    )
    assert not gate.refused
    run_id = gate.recorder.start_run(
        "distill",
        config={"preset": "quick", "loss": "forward_kl"},
        seed=7,
        code_version="0.1.0+test",
        inputs=[
            ArtifactRef(
                role="teacher",
                kind="model",
                name="llama-teacher",
                sha256=TEACHER_SHA,
                license=teacher_license,
            ),
            ArtifactRef(
                role="prompts",
                kind="dataset",
                name=prompt_name,
                sha256=prompts["merkle_root"],
                license="cc-by-4.0",
                records=records,
            ),
            ArtifactRef(
                role="teacher_data",
                kind="dataset",
                name=answers.name,
                sha256=sha256_file(answers),
                license=teacher_license,
                path=str(answers),
                records=records,
            ),
        ],
    )
    gate.recorder.finish_run(
        run_id,
        outputs=[
            ArtifactRef(
                role="student",
                kind="model",
                name=student,
                sha256=STUDENT_SHA,
                license=teacher_license,
            ),
            ArtifactRef(role="evaluation", kind="file", name="evaluation.json", sha256="3" * 64),
        ],
        metrics={
            "perplexity": 21.5,
            "teacher_perplexity": 12.0,
            "kl_reduction": 0.41,
            "student_parameters": 57_000_000,
        },
        status="succeeded",
    )
    store.record_similarity(
        {
            "candidate": student,
            "reference": "llama-teacher",
            "risk": "high",
            "p_value": 0.004,
            "scores": {"cosine": 0.91, "rouge_l": 0.55},
        },
        run_id=run_id,
    )
    return store, run_id
