"""Open battle data: FastChat-shaped exports that arena-rank reads, and checked imports."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from audit.ledger.battle_data import export_battles, import_battles
from audit.ledger.store import Store
from audit.ledger.votes import VotePolicy, record_vote
from core.arena import bradley_terry
from core.errors import InputError
from core.vote import conv_metadata


def meta(tokens_a: int, tokens_b: int) -> dict:
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "- x\n**y**"}]
    return conv_metadata(conv, conv, tokens_a=tokens_a, tokens_b=tokens_b)


@pytest.fixture
def ledger(tmp_path) -> Store:
    store = Store(tmp_path / "ledger.duckdb")
    rng = random.Random(0)
    policy = VotePolicy(salt="s", max_votes_per_session_per_day=None, max_votes_per_ip_per_day=None)
    for i in range(120):
        a, b = rng.sample(["teacher", "student", "base"], 2)
        strong = {"teacher": 0.7, "student": 0.5, "base": 0.3}
        winner = "model_a" if rng.random() < 0.5 + strong[a] - strong[b] else "model_b"
        record_vote(
            store,
            {
                "battle_id": f"b{i}",
                "session_id": f"s{i % 7}",
                "model_a": a,
                "model_b": b,
                "vote": winner,
                "prompt": "q",
                "conversation_a": [{"role": "user", "content": "q"}],
                "conversation_b": [{"role": "user", "content": "q"}],
                "category": rng.choice(["coding", "math"]),
                "conv_metadata": meta(rng.randint(5, 50), rng.randint(5, 50)),
            },
            policy,
        )
    return store


def test_fastchat_export_is_read_unchanged_by_arena_rank(ledger, tmp_path):
    pytest.importorskip("arena_rank")
    import pandas as pd
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    out = tmp_path / "battles.json"
    assert export_battles(ledger, "fastchat", out) == 120
    frame = pd.read_json(out)
    row = frame.iloc[0]
    assert {"model_a", "model_b", "winner", "turn", "conv_metadata", "category"} <= set(frame)
    assert row["conv_metadata"]["list_count_a"] == {"ordered": 0, "unordered": 1}
    data = PairDataset.from_pandas(frame)
    theirs = BradleyTerry(n_competitors=len(data.competitors)).compute_ratings_and_cis(
        data, ci_method="sandwich"
    )
    ours = {
        r.model: r.rating
        for r in bradley_terry(json.loads(out.read_text()), bootstrap=0, prior_sd=None)
    }
    for name, rating in zip(theirs["competitors"], theirs["ratings"], strict=True):
        assert float(rating) == pytest.approx(ours[name], abs=1.0)


def test_jsonl_export_imports_into_a_fresh_ledger_as_a_licensed_dataset(ledger, tmp_path):
    out = tmp_path / "battles.jsonl"
    export_battles(ledger, "jsonl", out)
    fresh = Store(tmp_path / "fresh.duckdb")
    done = import_battles(fresh, out, name="our-arena", license="cc-by-4.0", source="test")
    assert done["votes"] == 120 and not done["already"]
    [dataset] = fresh.datasets()
    assert dataset["license"] == "cc-by-4.0" and dataset["records"] == 120
    assert len(fresh.votes()) == 120
    assert {v["category"] for v in fresh.votes()} == {"coding", "math"}
    again = import_battles(fresh, out, name="our-arena", license="cc-by-4.0")
    assert again["already"] and len(fresh.votes()) == 120
    assert fresh.verify().ok


def good(**extra) -> dict:
    return {"model_a": "x", "model_b": "y", "winner": "model_a", **extra}


@pytest.mark.parametrize(
    "records, needle",
    [
        ([good(), good(winner="model_c")], "record 2: unknown winner 'model_c'"),
        ([good(), {"model_a": "x", "winner": "tie"}], "record 2: missing field model_b"),
        ([good(), good(model_b="z", anony=False)], "record 2: model 'z' has zero counted"),
        ([good(conv_metadata={"sum_assistant_a_tokens": 3})], "record 1: conv_metadata."),
    ],
)
def test_bad_imports_name_the_record_and_write_nothing(tmp_path, records, needle):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    store = Store(tmp_path / "ledger.duckdb")
    with pytest.raises(InputError) as error:
        import_battles(store, path, name="bad", license="mit")
    assert needle in str(error.value)
    assert store.votes() == [] and store.datasets() == []
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "arena",
            "import",
            str(path),
            "--name",
            "bad",
            "--license",
            "mit",
            "--db",
            str(tmp_path / "cli.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
