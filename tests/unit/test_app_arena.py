"""The arena as the app serves it: multi-turn chat and battles, the leaderboard's columns."""

from __future__ import annotations

import pytest


@pytest.fixture
def services(tiny_model_dir, tiny_teacher_dir, tmp_path):
    from ui.config import AppConfig
    from ui.services.app import AppServices

    config = AppConfig(
        teacher=str(tiny_teacher_dir),
        student=str(tiny_model_dir),
        db_path=str(tmp_path / "l.duckdb"),
        preload=False,
        max_new_tokens=4,
        temperature=0.0,
        bootstrap=20,
    )
    return AppServices(config)


def test_arena_keeps_each_sides_conversation_over_turns(services):
    params = services.models.params(max_new_tokens=3, temperature=0.0)
    first = list(services.arena.turn("Hello", [], [], params))[-1]
    second = list(services.arena.turn("And again?", first.history_a, first.history_b, params))[-1]
    assert [m["role"] for m in second.history_a] == ["user", "assistant"] * 2
    assert second.history_a[:2] == first.history_a and second.history_b[:2] == first.history_b
    assert second.note == ""


def test_two_turn_battle_vote_then_leaderboard_with_style_and_categories(services):
    battle = services.battle.send(None, "Write a poem about the sea.")
    battle = services.battle.send(battle.battle_id, "Shorter, please.")
    assert battle.turns == 2 and len(battle.conversation_left) == 4
    outcome = services.battle.vote(battle.battle_id, "left")
    assert outcome.accepted
    [row] = services.store.votes()
    assert row["turns"] == 2 and row["prompt"].startswith("Write a poem")
    assert row["conv_metadata"]["turns"] == 2 and row["category"]
    from audit.ledger.votes import VotePolicy, record_vote
    from core.vote import conv_metadata

    teacher, student = services.models.teacher_label(), services.models.student_label()
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "- a"}]
    for i in range(6):  # tiny random models' answers are often flagged: add clean votes
        record_vote(
            services.store,
            {
                "battle_id": f"extra{i}",
                "session_id": f"s{i}",
                "model_a": teacher if i % 2 else student,
                "model_b": student if i % 2 else teacher,
                "vote": "model_a" if i % 3 else "tie",
                "category": "math",
                "conv_metadata": conv_metadata(conv, conv, tokens_a=10 + i, tokens_b=12),
            },
            VotePolicy(salt="t"),
        )
    board = services.leaderboard.view()
    counted = 6 + (not row["excluded"])
    assert (f"all ({counted})", "all") in board.categories and (
        "math (6)",
        "math",
    ) in board.categories
    from ui.services.leaderboard import COLUMNS

    assert "Style-controlled" in COLUMNS and "Online Elo (K=4)" in COLUMNS
    assert len(board.rows) == 2 and all(len(r) == len(COLUMNS) for r in board.rows)
    assert f"`{teacher}` = 1000" in board.counts  # anchored on the served teacher
    assert {r[1]: r[2] for r in board.rows}[teacher] == 1000
    assert "Style coefficients" in board.style
    one = services.leaderboard.view("math")
    assert len(one.rows) == 2 and "Category **math**: 6 battles" in one.counts


def test_a_deployment_without_text_says_so_on_the_battle_tab(tiny_model_dir, tiny_teacher_dir):
    from ui.tabs.battle import HASHES_ONLY, PUBLISHED

    assert "your prompts and votes may be published" in PUBLISHED
    assert "only hashes" in HASHES_ONLY
