"""``stillhouse similarity score|probe`` on files and models built by the tests, with a real
ledger."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audit.ledger.store import Store
from audit.similarity.io import write_rows
from tests.similarity_texts import corpus

LEXICAL = ["--metrics", "rougeL,chrF,minhash,longest_run", "--permutations", "2000"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("similarity")
    paths = {}
    for role, rows in corpus(30).items():
        paths[role] = write_rows(folder / f"{role}.jsonl", rows)
    return paths


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "similarity", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def inprocess(capsys, *args: str) -> tuple[int, str, str]:
    from ui.cli import main

    with pytest.raises(SystemExit) as done:
        main(["similarity", *args])
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def score_inprocess(capsys, files, tmp_path, candidate, *, baseline: bool = True):
    """``similarity score`` in-process against the reference, recorded in ``l.duckdb``."""
    args = ["--reference", str(files["reference"]), "--candidate", str(candidate)]
    if baseline:
        args += ["--baseline", str(files["baseline"])]
    return inprocess(capsys, "score", *args, "--db", str(tmp_path / "l.duckdb"), *LEXICAL)


def test_score_json_prints_p_value_and_risk_and_records_it(files, tmp_path):
    db = tmp_path / "ledger.duckdb"
    png = tmp_path / "dist.png"
    done = cli(
        "score",
        "--reference",
        str(files["reference"]),
        "--candidate",
        str(files["reworded"]),
        "--baseline",
        str(files["baseline"]),
        "--json",
        "--db",
        str(db),
        "--plot",
        str(png),
        *LEXICAL,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["risk"]["level"] == "high" and result["p_value"] <= 0.01
    assert set(result["risk"]["thresholds"]) == {"high", "medium", "low"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    rows = Store(db).similarity_results()
    assert [(r["result_id"], r["risk"], r["candidate"]) for r in rows] == [
        (result["result_id"], "high", "reworded")
    ]
    assert rows[0]["result"]["provenance"]["files"]["reference"]["sha256"]
    assert Store(db).verify().ok


def test_unrelated_answers_print_low_in_words(files, tmp_path, capsys):
    code, out, err = score_inprocess(capsys, files, tmp_path, files["unrelated"])
    assert code == 0, err
    assert out.startswith("replication risk: LOW") and "threshold high:" in out


def test_missing_baseline_scores_but_says_uncalibrated(files, tmp_path, capsys):
    code, out, _ = score_inprocess(capsys, files, tmp_path, files["reworded"], baseline=False)
    assert code == 0
    assert "(uncalibrated)" in out.splitlines()[0] and "p-value (rougeL): n/a" in out


@pytest.mark.parametrize(
    "problem, needle",
    [
        ("not_utf8", "line 31: not valid UTF-8 (byte 0xe9"),
        ("mismatch", "only 0 of 30"),
        ("not_json", "line 31: not valid JSON"),
        ("missing", "file not found"),
        ("duplicate", "repeats prompt_id"),
    ],
)
def test_bad_files_exit_2_with_one_line(files, tmp_path, capsys, problem, needle):
    bad = tmp_path / "bad.jsonl"
    text = files["reworded"].read_text(encoding="utf-8")
    if problem == "not_utf8":
        bad.write_bytes(text.encode("utf-8") + b'{"prompt_id": "z", "text": "caf\xe9"}\n')
    elif problem == "mismatch":
        bad.write_text(text.replace('"prompt_id": "', '"prompt_id": "other-'), encoding="utf-8")
    elif problem == "not_json":
        bad.write_text(text + "{oops\n", encoding="utf-8")
    elif problem == "duplicate":
        bad.write_text(text + text.splitlines()[0] + "\n", encoding="utf-8")
    code, out, err = score_inprocess(capsys, files, tmp_path, bad)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert (
        not (tmp_path / "l.duckdb").exists()
        or not Store(tmp_path / "l.duckdb").similarity_results()
    )


def test_probe_records_models_and_prompt_set(tiny_model_dir, tiny_teacher_dir, tmp_path):
    prompts = tmp_path / "probes.jsonl"
    write_rows(
        prompts,
        [
            {"prompt_id": f"q{i}", "prompt": p}
            for i, p in enumerate(["Hello there", "Name a colour", "Count to three", "Tell a joke"])
        ],
    )
    db = tmp_path / "ledger.duckdb"
    done = cli(
        "probe",
        "--candidate",
        str(tiny_model_dir),
        "--reference",
        str(tiny_teacher_dir),
        "--baseline",
        str(tiny_model_dir),
        "--prompts",
        str(prompts),
        "--max-new-tokens",
        "6",
        "--temperature",
        "1.0",
        "--json",
        "--db",
        str(db),
        "--save-answers",
        str(tmp_path / "answers"),
        *LEXICAL,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["matching"]["matched"] == 4 and len(result["prompt_set_hash"]) == 64
    assert any("smallest possible p-value" in n for n in result["notes"])
    # candidate and baseline are the same tiny model: identical seeded answers
    rouge = next(m for m in result["metrics"] if m["metric"] == "rougeL")
    assert rouge["candidate_mean"] == pytest.approx(rouge["comparisons"][0]["baseline_mean"])
    store = Store(db)
    [row] = store.similarity_results()
    assert row["prompt_set_hash"] == result["prompt_set_hash"] and row["run_id"] == result["run_id"]
    run = store.run(result["run_id"])
    assert run["kind"] == "similarity-probe" and run["status"] == "succeeded"
    models = row["result"]["provenance"]["models"]
    assert (
        models["candidate"]["weights_sha256"]
        and models["reference"]["spec"]["name"] == "tiny-teacher"
    )
    assert (tmp_path / "answers" / "candidate.jsonl").is_file()


@pytest.mark.slow
def test_probe_finds_the_default_teacher_copying_itself(default_teacher, tiny_model_dir, tmp_path):
    from audit.similarity.service import score_and_record_probe
    from core.backends.transformers_backend import TransformersBackend
    from core.generation import GenerationParams
    from core.models import resolve_model
    from core.probe import load_prompts, probe_models

    prompts = load_prompts()[:2]
    teacher = resolve_model("smollm2-135m-instruct")
    tiny = resolve_model(str(tiny_model_dir))
    # sampled but seeded: the same model gives the same text; the tiny model's greedy text is blank
    params = GenerationParams(max_new_tokens=80, temperature=0.7, seed=0)
    answers = probe_models(
        teacher,
        teacher,
        [tiny],
        prompts,
        params,
        progress=False,
        backend_factory=lambda s: default_teacher if s == teacher else TransformersBackend(s),
    )
    assert answers.candidate == answers.reference
    store = Store(tmp_path / "l.duckdb")
    outcome = score_and_record_probe(store, answers)
    report = outcome.report
    assert store.run(outcome.run_id)["status"] == "succeeded"
    assert report.risk.level == "high" and report.verbatim[0].level == "finding"
    assert report.metric("embedding").candidate_mean == pytest.approx(1.0, abs=1e-4)
