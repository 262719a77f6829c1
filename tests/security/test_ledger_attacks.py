"""Attacks on the ledger (issue 14, problem 5): each replays what fooled ``audit verify``.

The ledger is a real DuckDB file; the CLI runs in-process through ``ui.cli.main``.
"""

from __future__ import annotations

import json
import shutil
import stat

import duckdb
import pytest

from audit.ledger.chain import event_hash
from audit.ledger.store import Store
from core.hashing import canonical_json
from ui.cli import main


def cli(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out + out.err


def fill(store: Store, n: int) -> None:
    for index in range(n):
        store.record_report(format="json", model=f"m{index}")


def checkpointed(tmp_path, key, capsys, n: int) -> Store:
    """A ledger of ``n`` reports with one signed checkpoint at its head."""
    store = Store(tmp_path / "ledger.duckdb")
    fill(store, n)
    cli(capsys, "audit", "checkpoint", "--db", store.path, "--key", key)
    return store


def verify_signed(capsys, store: Store, key) -> tuple[int, str]:
    return cli(capsys, "audit", "verify", "--db", store.path, "--pubkey", f"{key}.pub")


@pytest.fixture
def key(tmp_path, capsys):
    code, text = cli(capsys, "audit", "keygen", "--out", tmp_path / "ledger.key")
    assert code == 0 and "key id" in text
    return tmp_path / "ledger.key"


def test_keygen_writes_a_private_key_only_its_owner_can_read(key):
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (key.parent / "ledger.key.pub").read_text().startswith("-----BEGIN PUBLIC KEY")


def test_keygen_never_overwrites_a_key(key, capsys):
    before = key.read_bytes()
    code, text = cli(capsys, "audit", "keygen", "--out", key)
    assert code == 2 and "already exists" in text and key.read_bytes() == before


def test_an_older_copy_of_the_ledger_fails_verify(tmp_path, key, capsys):
    store = Store(tmp_path / "ledger.duckdb")
    fill(store, 3)
    old = tmp_path / "old.duckdb"
    shutil.copy(store.path, old)
    fill(store, 2)
    assert cli(capsys, "audit", "checkpoint", "--db", store.path, "--key", key)[0] == 0
    assert verify_signed(capsys, store, key)[0] == 0
    shutil.copy(old, store.path)  # roll back
    code, text = verify_signed(capsys, store, key)
    assert code == 1 and "checkpoint 1 (seq 5" in text and "older copy" in text


def test_a_ledger_rebuilt_from_scratch_fails_verify(tmp_path, key, capsys):
    store = checkpointed(tmp_path, key, capsys, 4)
    store.path.unlink()
    fill(Store(store.path), 6)  # same length and more, different content, every hash valid
    code, text = verify_signed(capsys, store, key)
    assert code == 1 and "checkpoint 1 (seq 4" in text and "rewritten" in text


def test_history_rewritten_with_every_hash_recomputed_fails_verify(tmp_path, key, capsys):
    store = checkpointed(tmp_path, key, capsys, 3)
    con = duckdb.connect(str(store.path))
    rows = con.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, text in rows:  # the attacker edits event 2 and rechains everything after it
        payload = json.loads(text)
        if seq == 2:
            payload["ops"][0]["row"]["model"] = "forged"
            con.execute("UPDATE reports SET model = 'forged' WHERE model = 'm1'")
        digest = event_hash(prev, payload)
        con.execute(
            "UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [canonical_json(payload), prev, digest, seq],
        )
        prev = digest
    con.close()
    # unsigned check of the default checkpoints file already catches it; the signed one too
    assert cli(capsys, "audit", "verify", "--db", store.path)[0] == 1
    code, text = verify_signed(capsys, store, key)
    assert code == 1 and "checkpoint 1" in text


def test_a_forged_checkpoint_fails_verify(tmp_path, key, capsys):
    store = checkpointed(tmp_path, key, capsys, 2)
    file = tmp_path / "ledger.checkpoints.jsonl"
    file.write_text(file.read_text().replace('"seq":2', '"seq":1'))
    code, text = verify_signed(capsys, store, key)
    assert code == 1 and "signature does not verify" in text


def test_a_deleted_checkpoints_file_fails_verify_with_a_public_key(tmp_path, key, capsys):
    store = checkpointed(tmp_path, key, capsys, 2)
    (tmp_path / "ledger.checkpoints.jsonl").unlink()
    code, text = verify_signed(capsys, store, key)
    assert code == 1 and "deleted" in text


@pytest.mark.parametrize(
    "column, value", [("action", "'register_model'"), ("recorded_at", "now()")]
)
def test_editing_an_events_column_fails_verify(tmp_path, capsys, column, value):
    store = Store(tmp_path / "ledger.duckdb")
    fill(store, 2)
    with duckdb.connect(str(store.path)) as con:
        con.execute(f"UPDATE events SET {column} = {value} WHERE seq = 1")
    code, text = cli(capsys, "audit", "verify", "--db", store.path)
    assert code == 1 and f"events seq=1: {column} differs" in text


def test_the_signing_key_checkpoints_after_every_write(tmp_path, key, capsys, monkeypatch):
    monkeypatch.setenv("STILLHOUSE_SIGNING_KEY", str(key))
    store = Store(tmp_path / "ledger.duckdb")
    fill(store, 3)
    lines = (tmp_path / "ledger.checkpoints.jsonl").read_text().splitlines()
    assert len(lines) == 3 and store.latest_checkpoint()["seq"] == 3
    code, text = cli(capsys, "audit", "verify", "--db", store.path)  # pubkey: the key's .pub
    assert code == 0 and "3 signed checkpoint(s) hold" in text


def test_verify_on_a_missing_path_exits_2_and_creates_nothing(tmp_path, capsys):
    path = tmp_path / "typo" / "ledger.duckdb"
    code, text = cli(capsys, "audit", "verify", "--db", path)
    assert code == 2 and "no ledger" in text and not path.parent.exists()


def test_a_dropped_table_is_one_line_naming_it(tmp_path, capsys):
    store = Store(tmp_path / "ledger.duckdb")
    fill(store, 1)
    with duckdb.connect(str(store.path)) as con:
        con.execute("DROP TABLE votes")
    code, text = cli(capsys, "audit", "verify", "--db", store.path)
    assert code == 1 and "table votes is missing" in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_a_truncated_ledger_is_one_line(tmp_path, capsys):
    store = Store(tmp_path / "ledger.duckdb")
    fill(store, 1)
    with open(store.path, "r+b") as handle:
        handle.truncate(store.path.stat().st_size // 2)
    code, text = cli(capsys, "audit", "verify", "--db", store.path)
    assert code == 1 and "damaged" in text and len(text.strip().splitlines()) == 1


def test_a_file_that_is_not_duckdb_is_exit_1(tmp_path, capsys):
    path = tmp_path / "notes.duckdb"
    path.write_text("my notes")
    code, text = cli(capsys, "audit", "verify", "--db", path)
    assert code == 1 and "not a stillhouse ledger" in text and path.read_text() == "my notes"


def test_a_report_carries_the_checkpoint_and_verify_report_catches_a_rollback(
    tmp_path, key, monkeypatch
):
    from audit.reports.export import build_report, export_report, verify_report
    from tests.unit.report_helpers import make_ledger

    monkeypatch.setenv("STILLHOUSE_SIGNING_KEY", str(key))
    store, run_id = make_ledger(tmp_path)
    old = tmp_path / "old.duckdb"
    shutil.copy(store.path, old)
    store.record_report(format="json", model="later")
    data = build_report(store, run_id=run_id)
    assert data.integrity.checkpoint["head_hash"] == store.head_hash()
    out = export_report(data, "json", tmp_path / "report.json")
    check = verify_report(store, out)
    assert "checkpoint: signed seq" in " ".join(check.messages) and "signature ok" in str(
        check.messages
    )
    shutil.copy(old, store.path)
    (tmp_path / "ledger.checkpoints.jsonl").unlink()  # the attacker hides the file and key
    monkeypatch.delenv("STILLHOUSE_SIGNING_KEY")
    assert store.verify().ok  # the ledger alone cannot tell...
    check = verify_report(store, out)  # ...the checkpoint the report carries can
    assert not check.ok and check.status == "ledger_broken"
    assert any("NOT in this ledger as signed" in m for m in check.messages)
