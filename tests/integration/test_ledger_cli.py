"""The ledger and licence commands as a user runs them: real CLI, real DuckDB file, real
processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest

from core.hashing import sha256_weights

CLI = [sys.executable, "-m", "ui.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def check_json(*args: str) -> dict:
    done = run("licenses", "check", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_licence_check_acceptance():
    unknown_mau = check_json(
        "--teacher-license", "llama3.1", "--use", "commercial", "--student-name", "MyBot"
    )
    assert unknown_mau["verdict"] == "needs_review"  # the 700M MAU threshold needs --mau
    assert any("--mau" in f["message"] for f in unknown_mau["findings"])
    named = check_json(
        "--teacher-license",
        "llama3.1",
        "--use",
        "commercial",
        "--student-name",
        "MyBot",
        "--mau",
        "1000",
    )
    assert named["verdict"] == "allowed_with_conditions"
    assert any(f["clause"] == "1.b.i" and "Llama" in f["message"] for f in named["findings"])
    renamed = check_json(
        "--teacher-license",
        "llama3.1",
        "--use",
        "commercial",
        "--student-name",
        "Llama-MyBot",
        "--mau",
        "1000",
    )
    assert not any("name" in f["message"] for f in renamed["findings"])
    blocked = check_json("--teacher-license", "openai-terms", "--use", "commercial")
    assert blocked["verdict"] == "blocked"
    assert set(blocked["findings"][0]) == {
        "severity",
        "license",
        "clause",
        "message",
        "verified",
        "missing",
    }


def test_unknown_licence_exits_2_listing_known_ids():
    done = run("licenses", "check", "--teacher-license", "llama9", "--use", "commercial", "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "llama9" in done.stderr and "llama3.1" in done.stderr and "openai-terms" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_licenses_list_and_show():
    listed = run("licenses", "list")
    assert listed.returncode == 0 and "falcon-180b" in listed.stdout and "gemma" in listed.stdout
    shown = run("licenses", "show", "gemma")
    assert shown.returncode == 0 and "1.1(e)" in shown.stdout


@pytest.fixture
def ledger_with_data(tmp_path):
    db = tmp_path / "ledger.duckdb"
    data = tmp_path / "prompts.jsonl"
    data.write_text(
        "".join(json.dumps({"id": i, "prompt": f"question {i}"}) + "\n" for i in range(50))
    )
    done = run(
        "audit",
        "register-dataset",
        data,
        "--name",
        "prompts",
        "--license",
        "cc-by-4.0",
        "--source",
        "https://example.org/p",
        "--collected",
        "2026-11-01",
        "--db",
        db,
    )
    assert done.returncode == 0, done.stderr
    assert "merkle root" in done.stdout and "50" in done.stdout
    return db, data


def test_register_show_verify(ledger_with_data, tiny_model_dir):
    db, data = ledger_with_data
    again = run(
        "audit", "register-dataset", data, "--name", "other", "--license", "cc-by-4.0", "--db", db
    )
    assert again.returncode == 0 and "already registered as 'prompts'" in again.stdout
    model = run(
        "audit",
        "register-model",
        "--name",
        "tiny",
        "--path",
        tiny_model_dir,
        "--license",
        "apache-2.0",
        "--db",
        db,
    )
    assert model.returncode == 0, model.stderr
    assert sha256_weights(tiny_model_dir) in model.stdout
    shown = json.loads(run("audit", "show", "--json", "--db", db).stdout)
    assert [d["name"] for d in shown["datasets"]] == ["prompts"]
    assert shown["datasets"][0]["collected"] == "2026-11-01"
    assert [m["name"] for m in shown["models"]] == ["tiny"]
    verified = run("audit", "verify", "--db", db)
    assert (
        verified.returncode == 0
        and verified.stdout.startswith("OK")
        and shown["head_hash"] in verified.stdout
    )


def test_verify_fails_on_an_edited_row(ledger_with_data):
    db, _ = ledger_with_data
    con = duckdb.connect(str(db))
    con.execute("UPDATE datasets SET license = 'mit'")
    dataset_id = con.execute("SELECT dataset_id FROM datasets").fetchone()[0]
    con.close()
    done = run("audit", "verify", "--db", db)
    assert done.returncode == 1
    assert f"datasets dataset_id={dataset_id}" in done.stdout and "license" in done.stdout


def test_verify_fails_on_a_deleted_row(ledger_with_data):
    db, _ = ledger_with_data
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM datasets")
    con.close()
    done = run("audit", "verify", "--db", db)
    assert done.returncode == 1 and "deleted" in done.stdout


def test_bad_lines_are_named_and_nothing_is_registered(tmp_path):
    db, data = tmp_path / "ledger.duckdb", tmp_path / "bad.jsonl"
    data.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n')
    done = run("audit", "register-dataset", data, "--name", "bad", "--license", "mit", "--db", db)
    assert done.returncode == 2 and "line 2" in done.stderr and "Traceback" not in done.stderr
    assert not db.exists()  # a bad input writes nothing, not even an empty ledger
    shown = run("audit", "show", "--json", "--db", db)
    assert shown.returncode == 2 and "no ledger at" in shown.stderr


def test_unknown_licence_on_register_exits_2(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n')
    done = run(
        "audit",
        "register-dataset",
        data,
        "--name",
        "d",
        "--license",
        "nope",
        "--db",
        tmp_path / "l.duckdb",
    )
    assert done.returncode == 2 and "apache-2.0" in done.stderr


def test_a_file_that_is_not_a_ledger_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    done = run("audit", "verify", "--db", path)
    assert (
        done.returncode == 1
        and "not a stillhouse ledger" in done.stderr
        and "Traceback" not in done.stderr
    )


def test_stillhouse_db_environment_variable(tmp_path, monkeypatch, ledger_with_data):
    db, _ = ledger_with_data
    monkeypatch.setenv("STILLHOUSE_DB", str(db))
    shown = json.loads(run("audit", "show", "--json").stdout)
    assert shown["ledger"] == str(db) and len(shown["datasets"]) == 1


WRITER = textwrap.dedent("""
    import sys
    from audit.ledger.store import Store
    store = Store(sys.argv[1])
    for i in range(15):
        store.record_vote({"battle_id": f"{sys.argv[2]}-{i}", "model_a": "a", \
"model_b": "b", "vote": "tie"})
""")


def test_two_processes_writing_at_once_do_not_crash(tmp_path):
    db = tmp_path / "ledger.duckdb"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), name], stderr=subprocess.PIPE, text=True
        )
        for name in ("app", "cli")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=180)
        assert writer.returncode == 0, err
    from audit.ledger.store import Store

    store = Store(db)
    assert store.count_votes() == 30 and store.verify().ok


def test_distill_refuses_a_blocked_run_and_records_it(tmp_path):
    db = tmp_path / "ledger.duckdb"
    done = run("distill", "--set", "prompts_license=openai-terms", "--db", db)
    assert done.returncode == 2 and "blocked" in done.stdout and "--override-reason" in done.stderr
    from audit.ledger.store import Store

    (recorded,) = Store(db).preflights()
    assert recorded["verdict"] == "blocked" and Store(db).runs() == []
