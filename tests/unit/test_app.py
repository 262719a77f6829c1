"""The app builds with every tab, keeps admin locked, and its scorecard and Space entry behave."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def app_config(tiny_model_dir, tiny_teacher_dir, tmp_path):
    from ui.app import AppConfig

    return AppConfig(
        teacher=str(tiny_teacher_dir),
        student=str(tiny_model_dir),
        db_path=str(tmp_path / "l.duckdb"),
        admin_password="s3cret",
        preload=False,
    )


def test_app_has_every_tab_and_the_public_api(app_config):
    from ui.app import build_app

    demo = build_app(app_config)
    config = demo.get_config_file()
    labels = {c["props"].get("label") for c in config["components"] if c["type"] == "tabitem"}
    assert {"Arena", "Battle", "Leaderboard", "Distill", "Audit", "Similarity", "Reports"} <= labels
    api = {d.get("api_name") for d in config["dependencies"]}
    for name in (
        "arena_ask",
        "battle_start",
        "battle_vote_left",
        "battle_vote_bothbad",
        "leaderboard",
        "distill_start",
        "report_export",
        "audit_verify",
    ):
        assert name in api


def test_admin_password_is_checked_exactly(app_config):
    from ui.services import AppServices

    services = AppServices(app_config)
    assert services.is_admin_password("s3cret")
    for wrong in ("", None, "s3cret ", "S3CRET"):
        assert not services.is_admin_password(wrong)
    locked = AppServices(app_config.model_copy(update={"admin_password": None}))
    assert not locked.is_admin_password("")


def test_admin_password_comes_from_the_environment(monkeypatch):
    from ui.app import AppConfig

    monkeypatch.setenv("STILLHOUSE_ADMIN_PASSWORD", "from-env")
    assert AppConfig().admin_password == "from-env"
    assert "from-env" not in repr(AppConfig())


def test_scorecard_answers_is_the_student_worth_it():
    from ui.services.scorecard import scorecard, vote_share

    evaluation = {
        "teacher": {
            "name": "t",
            "parameters": 134_500_000,
            "bytes": 538_000_000,
            "tokens_per_s": 20.0,
            "perplexity": 10.0,
        },
        "student": {
            "name": "s",
            "parameters": 56_600_000,
            "bytes": 226_400_000,
            "tokens_per_s": 50.0,
            "perplexity": 14.0,
        },
        "kl": 3.0,
        "top1_agreement": 0.6,
        "kl_reduction": 0.77,
    }
    votes = [
        {"model_a": "s", "model_b": "t", "vote": "model_a", "blind": True, "excluded": False},
        {"model_a": "t", "model_b": "s", "vote": "model_a", "blind": True, "excluded": False},
        {"model_a": "t", "model_b": "s", "vote": "tie", "blind": True, "excluded": False},
        {"model_a": "t", "model_b": "s", "vote": "model_b", "blind": True, "excluded": True},
    ]
    assert vote_share(votes, "t", "s") == (pytest.approx(0.5), 3)
    rows = {row[0]: row for row in scorecard(evaluation, votes, cost_per_hour=0.36)}
    assert rows["Parameters"][3] == "42% of the teacher"
    assert rows["Tokens/s (greedy, batch 1)"][3] == "250% of the teacher"
    assert rows["Blind-vote win rate"][2] == "50%"
    cost = rows["Cost per 1M generated tokens (at $0.36/h)"]
    assert cost[1:] == [
        "$5.00",
        "$2.00",
        "40% of the teacher",
    ]  # 0.36 $/h / (20 tok/s * 3600) * 1e6


def test_space_entry_uses_data_when_writable(tmp_path, monkeypatch):
    import app

    monkeypatch.delenv("STILLHOUSE_HOME", raising=False)
    app.use_persistent_storage(tmp_path / "missing")
    assert "STILLHOUSE_HOME" not in os.environ
    app.use_persistent_storage(tmp_path)
    assert os.environ["STILLHOUSE_HOME"] == str(tmp_path / "stillhouse")


def test_app_command_without_student_and_no_distill_exits_2_in_one_line(tiny_teacher_dir):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "app",
            "--teacher",
            str(tiny_teacher_dir),
            "--student",
            "no-such-student",
            "--no-distill",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-student" in lines[0] and "--no-distill" in lines[0]
