"""The ledger keeps what it is told, refuses duplicates, and notices any change made behind its
back."""

from __future__ import annotations

import hashlib
import json
import threading

import duckdb
import pytest

from audit.ledger.fingerprints import dataset_fingerprint, merkle_root
from audit.ledger.store import Store, default_db_path
from core.errors import InputError, IntegrityError, NotFoundError
from core.hashing import canonical_json
from core.recorder import ArtifactRef, Recorder


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "ledger.duckdb")


def vote(battle_id: str, **extra) -> dict:
    return {
        "battle_id": battle_id,
        "model_a": "teacher",
        "model_b": "student",
        "vote": "model_a",
        "session_hash": "s1",
        "ip_hash": "ip1",
        "latency_a_s": 0.5,
        "latency_b_s": 0.25,
        **extra,
    }


def sql(store: Store, statement: str) -> None:
    con = duckdb.connect(str(store.path))
    con.execute(statement)
    con.close()


def test_default_path_follows_environment(tmp_path, monkeypatch, stillhouse_home):
    assert default_db_path() == stillhouse_home / "ledger.duckdb"
    monkeypatch.setenv("STILLHOUSE_DB", str(tmp_path / "x.duckdb"))
    assert Store().path == tmp_path / "x.duckdb"


def test_store_is_a_recorder_and_keeps_a_run(store):
    assert isinstance(store, Recorder)
    teacher = ArtifactRef(
        role="teacher", kind="model", name="smollm2", sha256="ab" * 32, license="apache-2.0"
    )
    run_id = store.start_run(
        "distill", config={"loss": "forward_kl"}, seed=3, code_version="0.1.0", inputs=[teacher]
    )
    assert store.run(run_id)["status"] == "running"
    store.finish_run(
        run_id,
        outputs=[ArtifactRef(role="student", kind="model", name="s")],
        metrics={"kl": 1.25},
        status="succeeded",
    )
    run = store.run(run_id)
    assert run["status"] == "succeeded" and run["metrics"] == {"kl": 1.25} and run["seed"] == 3
    assert run["config"] == {"loss": "forward_kl"} and run["finished_at"] >= run["started_at"]
    assert [a["name"] for a in run["inputs"]] == ["smollm2"] and run["inputs"][0][
        "sha256"
    ] == "ab" * 32
    assert [a["role"] for a in run["outputs"]] == ["student"]
    assert store.verify().ok


def test_metrics_that_json_cannot_hold_are_kept_as_text(store):
    run_id = store.start_run("distill", config={}, seed=None, code_version="x", inputs=[])
    store.finish_run(
        run_id, outputs=[], metrics={"loss": float("nan"), "kl": float("inf")}, status="failed"
    )
    assert store.run(run_id)["metrics"] == {"loss": "NaN", "kl": "Infinity"}
    assert store.verify().ok


def test_unknown_run_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.run("nope")
    with pytest.raises(NotFoundError):
        store.finish_run("nope", outputs=[], metrics={}, status="failed")


def test_every_write_moves_the_head(store):
    heads = [store.head_hash()]
    store.record_vote(vote("b1"))
    heads.append(store.head_hash())
    store.record_similarity({"candidate": "s", "reference": "t", "risk": "low"})
    heads.append(store.head_hash())
    assert len(set(heads)) == 3
    result = store.verify()
    assert result.ok and result.rows == 2 and result.head_hash == heads[-1]


def test_votes_keep_every_field_and_refuse_a_second_vote(store):
    store.record_vote(
        vote(
            "b1",
            vote="both_bad",
            prompt_hash="p",
            response_a_hash="ra",
            response_b_hash="rb",
            excluded=True,
            exclude_reason="a response named a model",
            left_model="student",
        )
    )
    with pytest.raises(InputError, match="b1"):
        store.record_vote(vote("b1"))
    (row,) = store.votes()
    assert row["vote"] == "tie (bothbad)" and row["left_model"] == "student" and row["excluded"]
    assert row["exclude_reason"] == "a response named a model" and row["blind"]
    assert (row["latency_a_s"], row["latency_b_s"], row["prompt_hash"]) == (0.5, 0.25, "p")
    assert store.votes(include_excluded=False) == []


def test_bad_vote_is_refused_and_writes_nothing(store):
    with pytest.raises(Exception, match="vote"):
        store.record_vote(vote("b2", vote="maybe"))
    assert store.votes() == [] and store.verify().rows == 0


def test_count_votes_filters(store):
    store.record_vote(vote("b1"))
    store.record_vote(vote("b2", session_hash="s2"))
    store.record_vote(vote("b3", session_hash="s2", ip_hash="ip2", voted_at="2020-01-01T00:00:00"))
    assert store.count_votes() == 3
    assert store.count_votes(session_hash="s2") == 2
    assert store.count_votes(ip_hash="ip1") == 2
    assert store.count_votes(session_hash="s2", since="2021-01-01T00:00:00") == 1
    assert store.count_votes(since="2021-01-01T01:00:00+01:00") == 2  # an offset is turned into UTC
    assert store.verify().ok  # times written in other ISO forms still verify


def test_values_take_their_column_types_so_the_chain_verifies(store):
    store.record_vote(vote("b1", latency_a_s=1, voted_at="2026-11-29T10:00:00+02:00"))
    (row,) = store.votes()
    assert row["latency_a_s"] == 1.0 and row["voted_at"] == "2026-11-29T08:00:00.000000"
    assert store.verify().ok
    with pytest.raises(InputError, match="timestamp"):
        store.record_vote(vote("b2", voted_at="yesterday"))


def test_similarity_results_by_model(store):
    result_id = store.record_similarity(
        {
            "candidate_model": "student",
            "reference_model": "gpt",
            "prompt_set_hash": "ph",
            "risk_level": "high",
            "p_value": 0.01,
        }
    )
    (row,) = store.similarity_results(model="gpt")
    assert (
        row["result_id"] == result_id and row["risk"] == "high" and row["prompt_set_hash"] == "ph"
    )
    assert row["result"]["p_value"] == 0.01
    assert store.similarity_results(model="other") == []


def test_preflight_override_is_linked_to_its_run(store):
    result = {
        "verdict": "blocked",
        "obligations": [],
        "findings": [
            {"severity": "block", "license": "openai-terms", "clause": "x", "message": "no"}
        ],
    }
    preflight_id = store.record_preflight(result, override_reason="internal evaluation only")
    run_id = store.start_run("distill", config={}, seed=0, code_version="x", inputs=[])
    store.link_preflight(preflight_id, run_id)
    run = store.run(run_id)
    assert [f["license"] for f in run["findings"]] == ["openai-terms"]
    assert [o["reason"] for o in run["overrides"]] == ["internal evaluation only"]
    assert run["preflights"][0]["verdict"] == "blocked"
    assert store.verify().ok


def test_dataset_registered_once_per_merkle_root(store, tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text('{"b": 1, "a": "x"}\n{"a":"y","b":2}\n')
    second = tmp_path / "b.jsonl"
    second.write_text('{"a":"x","b":1}\n{"b":2,"a":"y"}\n')  # same records, other key order
    row = store.register_dataset(first, name="prompts", license="cc-by-4.0")
    again = store.register_dataset(second, name="copy", license="cc-by-4.0")
    assert not row["already"] and again["already"] and again["name"] == "prompts"
    assert len(store.datasets()) == 1 and store.datasets()[0]["records"] == 2


@pytest.mark.parametrize("parallel", [False, True, 3])
def test_byte_ranges_in_several_processes_give_the_same_root(tmp_path, parallel):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"i": i, "x": 1e-05 * i}, sort_keys=i % 2 == 0) for i in range(300)]
    path.write_text("\n".join(lines[:150] + [""] + lines[150:]))  # a blank line, no final newline
    leaves = [hashlib.sha256(canonical_json(json.loads(line)).encode()).digest() for line in lines]
    found = dataset_fingerprint(path, parallel=parallel)
    assert found.merkle_root == merkle_root(leaves) and found.records == 300
    path.write_text("\n".join(lines[:250] + ["{broken"] + lines[250:]) + "\n")
    with pytest.raises(InputError, match="line 251"):
        dataset_fingerprint(path, parallel=parallel)


def test_bad_dataset_lines_are_named_and_nothing_is_written(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{oops\n{"a": 2}\nnot json\n')
    with pytest.raises(InputError, match=r"line 2, 4"):
        store.register_dataset(path, name="bad", license="mit")
    assert store.datasets() == [] and store.verify().rows == 0


def test_merkle_root_is_the_documented_tree(tmp_path):
    records = [{"i": i, "text": f"record {i}"} for i in range(40)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))  # not canonical: spaces
    leaves = [hashlib.sha256(canonical_json(r).encode()).digest() for r in records]
    level = leaves
    while len(level) > 1:
        level = [
            hashlib.sha256(b"\x01" + b"".join(level[i : i + 16])).digest()
            for i in range(0, len(level), 16)
        ]
    found = dataset_fingerprint(path)
    assert found.merkle_root == level[0].hex() == merkle_root(leaves)
    assert found.records == 40 and found.canonicalised_lines == 40


def test_fast_path_agrees_with_canonical_json_on_awkward_numbers(tmp_path):
    import orjson

    records = [{"x": v} for v in (1e-05, 2.5e-09, 1e16, 0.1, -0.0, 10**30, "é\u2028/")]
    raw = tmp_path / "orjson.jsonl"  # written the way orjson writes (not always Python's form)
    raw.write_bytes(
        b"".join(
            orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n"
            for r in records
            if not isinstance(r["x"], int)
        )
        + b'{"x":'
        + b"1" * 30
        + b"}\n"
    )
    leaves = [
        hashlib.sha256(canonical_json(r).encode()).digest()
        for r in [*(r for r in records if not isinstance(r["x"], int)), {"x": int("1" * 30)}]
    ]
    assert dataset_fingerprint(raw).merkle_root == merkle_root(leaves)


def test_failed_write_leaves_no_trace(store):
    good = {
        "op": "insert",
        "table": "reports",
        "row": {"report_id": "r1", "format": "pdf", "created_at": "2026-01-01T00:00:00"},
    }
    broken = {
        "op": "insert",
        "table": "reports",
        "row": {"report_id": "r2", "format": "pdf", "created_at": None},
    }  # NOT NULL
    with pytest.raises(duckdb.Error):
        store._write("record_report", [good, broken])
    assert store.reports() == [] and store.verify().rows == 0


@pytest.mark.parametrize(
    "statement, where",
    [
        ("UPDATE votes SET vote = 'model_b' WHERE battle_id = 'b2'", "votes battle_id=b2"),
        ("DELETE FROM votes WHERE battle_id = 'b2'", "votes battle_id=b2"),
        (
            "INSERT INTO votes (battle_id, voted_at, model_a, model_b, left_model, vote, blind, "
            "excluded) "
            "VALUES ('fake', now(), 'a', 'b', 'a', 'model_a', true, false)",
            "votes battle_id=fake",
        ),
        ("DELETE FROM events WHERE seq = 2", "events seq=2"),
        (
            "UPDATE events SET payload = replace(payload, 'model_a', 'model_b') WHERE seq = 3",
            "events seq=3",
        ),
    ],
)
def test_verify_names_the_row_changed_behind_its_back(store, statement, where):
    for battle in ("b1", "b2", "b3"):
        store.record_vote(vote(battle))
    assert store.verify().ok
    sql(store, statement)
    result = store.verify()
    assert not result.ok and result.first_bad_row == where, result
    assert result.problem


def test_not_a_ledger_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes")
    with pytest.raises(IntegrityError, match="not a stillhouse ledger"):
        Store(path).votes()


def test_ledger_from_a_newer_schema_is_refused(store):
    store.votes()  # create
    sql(store, "INSERT INTO schema_version (version, name) VALUES (99, 'future')")
    with pytest.raises(IntegrityError, match="newer"):
        store.votes()


def test_threads_writing_at_once_all_land(store):
    errors: list[Exception] = []

    def write(worker: int) -> None:
        try:
            for i in range(4):
                store.record_vote(vote(f"t{worker}-{i}"))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and store.count_votes() == 16 and store.verify().ok
