"""Votes in the real ledger: daily caps, hashed ids, flagged votes kept but not rated, exports."""

from __future__ import annotations

import functools
import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from audit.ledger.store import Store
from audit.ledger.votes import (
    VotePolicy,
    counted_battles,
    export_votes,
    hash_id,
    record_vote,
    vote_salt,
)
from core.errors import InputError
from tests.unit.arena_cli import cli


def vote(
    battle_id: str,
    session: str = "sess-1",
    ip: str | None = "203.0.113.9",
    winner: str = "model_a",
    a: str = "teacher",
    b: str = "student",
    **extra,
) -> dict:
    return {
        "battle_id": battle_id,
        "session_id": session,
        "ip": ip,
        "model_a": a,
        "model_b": b,
        "winner": winner,
        "choice": {"model_a": "left", "model_b": "right"}.get(winner, "tie"),
        **extra,
    }


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "ledger.duckdb")


def test_session_cap_per_day(store):
    policy = VotePolicy(max_votes_per_session_per_day=2, max_votes_per_ip_per_day=None)
    record_vote(store, vote("b1"), policy)
    record_vote(store, vote("b2"), policy)
    with pytest.raises(InputError, match="daily vote limit") as error:
        record_vote(store, vote("b3"), policy)
    assert error.value.code == "vote_cap"
    record_vote(store, vote("b4", session="sess-2"), policy)  # another session may still vote
    assert [v["battle_id"] for v in store.votes()] == ["b1", "b2", "b4"]


def test_ip_cap_spans_sessions(store):
    policy = VotePolicy(max_votes_per_session_per_day=None, max_votes_per_ip_per_day=3)
    for i in range(3):
        record_vote(store, vote(f"b{i}", session=f"s{i}"), policy)
    with pytest.raises(InputError, match="daily vote limit"):
        record_vote(store, vote("b9", session="fresh"), policy)
    record_vote(store, vote("b10", session="fresh", ip="198.51.100.1"), policy)
    assert len(store.votes()) == 4


def test_votes_older_than_the_window_do_not_count(store):
    policy = VotePolicy(max_votes_per_session_per_day=1, max_votes_per_ip_per_day=None)
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).replace(tzinfo=None).isoformat()
    record_vote(store, vote("old", time=two_days_ago), policy)
    record_vote(store, vote("today"), policy)
    with pytest.raises(InputError):
        record_vote(store, vote("again"), policy)


def test_only_salted_hashes_of_session_and_ip_are_stored(store):
    record_vote(store, vote("b1", session="alice-session", ip="192.0.2.44"))
    stored = json.dumps(store.votes()) + json.dumps(store.events(), default=str)
    assert "alice-session" not in stored and "192.0.2.44" not in stored
    row = store.votes()[0]
    salt = vote_salt()
    assert row["session_hash"] == hash_id("alice-session", salt)
    assert row["ip_hash"] == hash_id("192.0.2.44", salt)
    assert vote_salt() == salt and len(salt) == 64  # kept once in STILLHOUSE_HOME, reused
    assert hash_id("alice-session", "other-salt") != row["session_hash"]


def test_a_second_vote_for_one_battle_is_refused(store):
    record_vote(store, vote("b1"))
    with pytest.raises(InputError, match="already has a vote"):
        record_vote(store, vote("b1", session="sess-2"))
    assert len(store.votes()) == 1


def test_flagged_and_unblind_votes_are_kept_but_left_out_of_ratings(store):
    for i in range(3):
        record_vote(store, vote(f"win{i}", winner="model_a"))
        record_vote(store, vote(f"loss{i}", winner="model_b", session="s2"))
    for i in range(3):
        record_vote(
            store, vote(f"named{i}", winner="model_b", session="s3", flags=["names_model:left"])
        )
    record_vote(store, vote("seen", winner="model_b", session="s4", blind=False))
    rows = {v["battle_id"]: v for v in store.votes()}
    assert len(rows) == 10
    assert rows["named0"]["excluded"] and "named a model" in rows["named0"]["exclude_reason"]
    assert rows["seen"]["excluded"] and "shown before the vote" in rows["seen"]["exclude_reason"]
    ratings = {r.model: r for r in ratings_of(store, bootstrap=100, seed=0)}
    assert ratings["teacher"].battles == 6  # the 4 excluded votes are not rated
    assert ratings["teacher"].rating == pytest.approx(1000.0, abs=1e-6)
    assert store.verify().ok


def ratings_of(store, **kwargs):
    from core.arena import BattleTable, bradley_terry

    return bradley_terry(BattleTable.from_rows(counted_battles(store)), **kwargs)


def test_no_votes_is_a_clear_error(store):
    with pytest.raises(InputError, match="no battles"):
        ratings_of(store)


def test_battle_service_records_through_the_policy(store):
    from core.battle import BattleService
    from tests.unit.test_battle import Scripted

    policy = VotePolicy(max_votes_per_session_per_day=1)
    svc = BattleService(
        {"teacher": Scripted("teacher", "Paris."), "student": Scripted("student", "Rome.")},
        record=functools.partial(record_vote, store, policy=policy),
    )
    first = svc.start("Capital of France?", session_id="web-1", ip="192.0.2.1")
    assert svc.vote(first.battle_id, "left").accepted
    second = svc.start("Capital of Italy?", session_id="web-1", ip="192.0.2.1")
    refused = svc.vote(second.battle_id, "right")
    assert not refused.accepted and "daily vote limit" in refused.reason
    [row] = store.votes()
    assert row["battle_id"] == first.battle_id and row["left_model"] == row["model_a"]
    assert row["prompt_hash"] and row["response_a_hash"] and row["latency_a_s"] >= 0
    assert row["details"]["choice"] == "left"


def test_export_and_cli_ratings_from_the_ledger(store, tmp_path):
    for i in range(12):
        record_vote(store, vote(f"b{i}", session=f"s{i}", winner="model_a" if i % 3 else "model_b"))
    record_vote(store, vote("flagged", session="x", flags=["empty:right"]))
    out = tmp_path / "votes.jsonl"
    assert export_votes(store, "jsonl", out) == 12
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"model_a", "model_b", "winner", "battle_id"} <= set(rows[0]) and "ip_hash" not in rows[
        0
    ]
    assert export_votes(store, "jsonl", out, include_excluded=True) == 13

    def export(fmt: str) -> subprocess.CompletedProcess:
        path = tmp_path / f"v.{fmt}"
        return cli("export", "--format", fmt, "--out", str(path), "--db", str(store.path))

    done = export("parquet")
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "v.parquet").num_rows == 12
    from_db = cli("ratings", "--db", str(store.path), "--bootstrap", "100", "--json")
    from_file = cli("ratings", "--battles", str(out), "--bootstrap", "100", "--json")
    assert from_db.returncode == 0, from_db.stderr
    assert json.loads(from_db.stdout) == json.loads(
        from_file.stdout
    )  # --all rows marked excluded skipped
    assert json.loads(from_db.stdout)["models"][0]["model"] == "teacher"
    bad = export("csv")
    assert bad.returncode == 2 and "csv" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli("ratings", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 2 and "no ledger" in missing.stderr
