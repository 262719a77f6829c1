"""Multi-turn blind battles and what each vote keeps in the ledger."""

from __future__ import annotations

import duckdb
import pytest

from audit.ledger.store import Store
from audit.ledger.votes import VotePolicy, record_vote
from core.arena_category import CategoryClassifier
from core.backends import BackendInfo, GenerationResult, StreamChunk
from core.battle import BattlePolicy, BattleService
from core.errors import InputError
from core.generation import ChatRequest, GenerationParams
from core.hashing import sha256_text
from core.vote import markdown_counts


class Echo:
    """Answers with its name, the turn it is on and what it remembers of itself."""

    def __init__(self, name: str, max_messages: int | None = None, style: str = "") -> None:
        self.name, self.max_messages, self.style = name, max_messages, style
        self.seen: list[list[dict]] = []

    def generate(self, requests: list[ChatRequest], params: GenerationParams):
        [request] = requests
        messages = [m.model_dump() for m in request.messages]
        if self.max_messages and len(messages) > self.max_messages:
            raise InputError("prompt_too_long", "too long")
        self.seen.append(messages)
        mine = sum(
            m["role"] == "assistant" and m["content"].startswith(self.name) for m in messages
        )
        text = f"{self.name} answer {mine + 1}{self.style}"
        return [GenerationResult(text=text, tokens=len(text.split()))]

    def stream(self, request, params):
        yield self.generate([request], params)[0].text

    def stream_chunks(self, request, params):
        result = self.generate([request], params)[0]
        yield StreamChunk(text=result.text, tokens=result.tokens, finish_reason="stop")

    def info(self) -> BackendInfo:
        return BackendInfo(name=self.name, engine="scripted")


def battle_service(record=None, **backends) -> BattleService:
    policy = BattlePolicy(seed=1, flag_model_names=False)
    return BattleService(
        backends, policy, record=record, categorize=CategoryClassifier.load(embed=False)
    )


def test_two_turns_each_side_keeps_its_own_history_and_one_vote_covers_both():
    votes: list = []
    alpha, beta = Echo("alpha"), Echo("beta", style="\n\n# Head\n- one\n- two\n**bold**")
    svc = battle_service(votes.append, alpha=alpha, beta=beta)
    first = svc.start("Write a poem about rain.", session_id="s1")
    second = svc.follow_up(first.battle_id, "Now a shorter one.", session_id="s1")
    assert second.turns == 2 and len(second.conversation_left) == 4
    assert [m["role"] for m in second.conversation_left] == ["user", "assistant"] * 2
    for backend in (alpha, beta):  # the second request held only its own first answer
        assert [m["content"] for m in backend.seen[1] if m["role"] == "assistant"] == [
            f"{backend.name} answer 1" + backend.style
        ]
    outcome = svc.vote(first.battle_id, "left", session_id="s1")
    assert outcome.accepted
    [record] = votes
    assert record.turns == 2
    assert record.prompt == "Write a poem about rain.\n\nNow a shorter one."
    assert record.prompt_hash == sha256_text(record.prompt)
    assert record.category == "creative writing"
    meta = record.conv_metadata
    side = "a" if outcome.model_left == "beta" else "b"
    assert meta["turns"] == 2 and meta[f"header_count_{side}"]["h1"] == 2
    assert meta[f"list_count_{side}"]["unordered"] == 4 and meta[f"bold_count_{side}"]["**"] == 2
    assert meta["sum_assistant_a_tokens"] > 0


def test_votes_from_another_session_or_twice_are_refused_and_nothing_is_written(tmp_path):
    store = Store(tmp_path / "ledger.duckdb")
    policy = VotePolicy(salt="s")
    svc = battle_service(lambda v: record_vote(store, v, policy), a=Echo("a"), b=Echo("b"))
    battle = svc.start("Hello there", session_id="mine")
    stranger = svc.vote(battle.battle_id, "left", session_id="someone-else")
    assert not stranger.accepted and stranger.reason == "not_this_session"
    assert stranger.model_left == ""  # nothing revealed either
    with pytest.raises(InputError, match="not_this_session"):
        svc.follow_up(battle.battle_id, "more", session_id="someone-else")
    assert store.votes() == []
    assert svc.vote(battle.battle_id, "tie", session_id="mine").accepted
    twice = svc.vote(battle.battle_id, "left", session_id="mine")
    assert not twice.accepted and twice.reason == "already_voted_or_revealed"
    [row] = store.votes()
    assert row["vote"] == "tie" and row["prompt"] == "Hello there" and row["turns"] == 1
    assert row["conversation_a"][0] == {"role": "user", "content": "Hello there"}
    assert store.verify().ok


def test_a_conversation_past_the_context_drops_old_turns_with_a_note():
    svc = battle_service(kilo=Echo("kilo", max_messages=3), mega=Echo("mega"))
    battle = svc.start("one", session_id="s")
    battle = svc.follow_up(battle.battle_id, "two", session_id="s")
    battle = svc.follow_up(battle.battle_id, "three", session_id="s")
    assert battle.turns == 3 and len(battle.conversation_left) == 6  # the page keeps it all
    assert len(battle.notes) == 1 and "oldest turn" in battle.notes[0]
    assert "kilo" not in " ".join(battle.notes) and "mega" not in " ".join(battle.notes)


def test_store_text_off_keeps_only_hashes_counts_and_category(tmp_path):
    store = Store(tmp_path / "ledger.duckdb")
    policy = VotePolicy(salt="s", store_text=False)
    svc = battle_service(lambda v: record_vote(store, v, policy), a=Echo("a"), b=Echo("b"))
    battle = svc.start("Solve the equation 2x = 4", session_id="s")
    svc.vote(battle.battle_id, "right", session_id="s")
    [row] = store.votes()
    assert row["prompt"] is None and row["response_a"] is None and row["conversation_b"] is None
    assert row["prompt_hash"] == sha256_text("Solve the equation 2x = 4")
    assert row["category"] == "math" and row["conv_metadata"]["turns"] == 1


def test_raw_ids_never_reach_the_store(tmp_path):
    store = Store(tmp_path / "ledger.duckdb")
    raw = {"battle_id": "b", "session_id": "raw", "model_a": "x", "model_b": "y", "vote": "tie"}
    with pytest.raises(InputError, match="hashed ids"):
        store.record_vote(raw)
    assert store.votes() == []


def test_a_version_1_ledger_with_votes_migrates_and_still_verifies(tmp_path):
    from audit.ledger import migrations

    path = tmp_path / "old.duckdb"
    first = migrations.MIGRATIONS[:1]
    saved = migrations.MIGRATIONS
    migrations.MIGRATIONS = first
    try:
        old_version = migrations.SCHEMA_VERSION
        migrations.SCHEMA_VERSION = 1
        store = Store(path)
        row = {
            "battle_id": "old",
            "voted_at": "2026-01-01T00:00:00",
            "model_a": "x",
            "model_b": "y",
            "left_model": "x",
            "vote": "model_a",
            "blind": True,
            "excluded": False,
        }  # a vote as stillhouse wrote it before migration 2
        store._write("record_vote", [{"op": "insert", "table": "votes", "row": row}])
    finally:
        migrations.MIGRATIONS = saved
        migrations.SCHEMA_VERSION = old_version
    with duckdb.connect(str(path)) as con:
        assert "turns" not in [c[0] for c in con.execute("DESCRIBE votes").fetchall()]
    store = Store(path)
    record_vote(
        store,
        {
            "battle_id": "new",
            "model_a": "x",
            "model_b": "y",
            "vote": "tie",
            "prompt": "hi",
            "turns": 1,
        },
        VotePolicy(salt="s"),
    )
    rows = {r["battle_id"]: r for r in store.votes()}
    assert rows["old"]["turns"] is None and rows["new"]["prompt"] == "hi"
    assert store.verify().ok


def test_markdown_counts_skip_code_blocks():
    text = "# T\n## U\n1. a\n2. b\n* c\n**x** and __y__\n```\n# not a header\n- nor a list\n```"
    counts = markdown_counts(text)
    assert counts["header_count"]["h1"] == 1 and counts["header_count"]["h2"] == 1
    assert counts["list_count"] == {"ordered": 2, "unordered": 1}
    assert counts["bold_count"] == {"**": 1, "__": 1}
