"""A small real ledger for report tests: a teacher, a prompt set, a distill run, evidence."""

from __future__ import annotations

import json
from pathlib import Path

from audit.store import Store
from core.recorder import ArtifactRef

TEACHER_SHA = "1" * 64
STUDENT_SHA = "2" * 64
EVIL = "<script>alert('x')</script>"

PREFLIGHT = {
    "verdict": "allowed_with_conditions",
    "findings": [
        {"severity": "condition", "license": "llama3.1", "clause": "s1.b.i",
         "message": "A distributed model trained on Llama outputs must have a name starting 'Llama'."},
        {"severity": "condition", "license": "cc-by-4.0", "clause": "s3(a)",
         "message": "Attribute the prompt set's creators."},
    ],
    "obligations": [
        {"kind": "naming", "text": "Name the student starting with 'Llama'.", "license": "llama3.1",
         "clause": "s1.b.i"},
        {"kind": "attribution", "text": "Display 'Built with Llama'.", "license": "llama3.1",
         "clause": "s1.b.i"},
        "Keep a copy of the Llama 3.1 Community License with the student.",
    ],
}


def write_prompts(path: Path, n: int, prompt: str = "Say hello") -> Path:
    with open(path, "w") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": i, "prompt": f"{prompt} {i}"}) + "\n")
    return path


def make_ledger(tmp: Path, *, records: int = 20, student: str = "Llama-tiny-student",
                prompt_name: str = f"prompts {EVIL}", override: str | None = None,
                verdict: str | None = None) -> tuple[Store, str]:
    """A ledger with one finished distill run; returns (store, run_id)."""
    store = Store(tmp / "ledger.duckdb")
    store.register_model("llama-teacher", license="llama3.1", hf_id="meta/llama-teacher",
                         weights_sha256=TEACHER_SHA)
    data = store.register_dataset(write_prompts(tmp / "prompts.jsonl", records), name=prompt_name,
                                  license="cc-by-4.0", source="https://example.org/prompts",
                                  collected="2026-10-01")
    run_id = store.start_run("distill", config={"preset": "quick", "loss": "forward_kl"}, seed=7,
                             code_version="0.1.0+test", inputs=[
        ArtifactRef(role="teacher", kind="model", name="llama-teacher", sha256=TEACHER_SHA,
                    license="llama3.1"),
        ArtifactRef(role="train_data", kind="dataset", name=prompt_name, sha256=data["merkle_root"],
                    license="cc-by-4.0", records=records)])
    result = dict(PREFLIGHT, verdict=verdict or PREFLIGHT["verdict"])
    store.record_preflight(result, run_id=run_id, override_reason=override,
                           request={"teacher_license": "llama3.1", "use": "commercial"})
    store.finish_run(run_id, outputs=[ArtifactRef(role="student", kind="model", name=student,
                                                  sha256=STUDENT_SHA, license="llama3.1")],
                     metrics={"student": {"perplexity": 21.5}, "teacher": {"perplexity": 12.0},
                              "kl_drop": 0.41}, status="succeeded")
    store.record_similarity({"candidate": student, "reference": "llama-teacher", "risk": "high",
                             "p_value": 0.004, "scores": {"cosine": 0.91, "rouge_l": 0.55}},
                            run_id=run_id)
    return store, run_id
