"""`stillhouse audit report` and `verify-report` as a user runs them, on a real ledger file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.unit.report_helpers import make_ledger

CLI = [sys.executable, "-m", "ui.cli", "audit"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture
def ledger(tmp_path):
    store, run_id = make_ledger(tmp_path)
    return str(store.path), run_id


def test_report_then_verify_report_round_trip(ledger, tmp_path):
    db, run_id = ledger
    out = tmp_path / "report.pdf"
    done = run("report", "--db", db, "--run", run_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF") and "allowed_with_conditions" in done.stdout
    checked = run("verify-report", "--db", db, str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith("OK: the report matches the ledger")


def test_cyclonedx_by_model_name_and_json_check(ledger, tmp_path):
    db, run_id = ledger
    out = tmp_path / "student.cdx.json"
    assert run("report", "--db", db, "--model", "MyBot", "--out", str(out)).returncode == 0
    assert json.loads(out.read_text())["bomFormat"] == "CycloneDX"
    checked = run("verify-report", "--db", db, "--json", str(out))
    assert json.loads(checked.stdout)["status"] == "matches"


def test_an_edited_report_fails_verification_with_exit_1(ledger, tmp_path):
    db, run_id = ledger
    out = tmp_path / "report.html"
    assert run("report", "--db", db, "--run", run_id, "--out", str(out)).returncode == 0
    out.write_text(out.read_text().replace("allowed_with_conditions", "allowed"))
    checked = run("verify-report", "--db", db, str(out))
    assert checked.returncode == 1 and "MISMATCH (tampered)" in checked.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--run", "no-such-run", "--out", "{tmp}/r.pdf"], "no-such-run"),
        (["--run", "{run}", "--out", "{tmp}/missing/r.pdf"], "does not exist"),
        (["--run", "{run}", "--out", "{tmp}/r.docx"], "--format"),
        (["--out", "{tmp}/r.pdf"], "--run"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(ledger, tmp_path, args, needle):
    db, run_id = ledger
    args = [a.format(tmp=tmp_path, run=run_id) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run("report", "--db", db, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
