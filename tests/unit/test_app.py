"""The app builds with every tab, keeps admin locked, and its scorecard and Space entry behave."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def app_config(tiny_model_dir, tiny_teacher_dir, tmp_path):
    from ui.config import AppConfig

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
    from ui.services.app import AppServices

    services = AppServices(app_config)
    assert services.access.is_admin_password("s3cret")
    for wrong in ("", None, "s3cret ", "S3CRET"):
        assert not services.access.is_admin_password(wrong)
    locked = AppServices(app_config.model_copy(update={"admin_password": None}))
    assert not locked.access.is_admin_password("")


def test_admin_password_comes_from_the_environment(monkeypatch):
    from ui.config import AppConfig

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


def test_services_answer_with_views_from_a_fresh_ledger(app_config):
    from ui.services.app import AppServices
    from ui.services.arena import ArenaTurn
    from ui.services.audit import LedgerTables
    from ui.services.leaderboard import LeaderboardView

    services = AppServices(app_config)
    board = services.leaderboard.view()
    assert isinstance(board, LeaderboardView) and board.rows == [] and "**0** votes" in board.counts
    tables = services.audit.tables()
    assert isinstance(tables, LedgerTables) and tables.runs == []
    assert "Ledger verified: 0 events" in services.audit.verify_html()
    assert services.reports.subjects() == []
    params = services.models.params(max_new_tokens=3, temperature=0.0)
    turns = list(services.arena.turn("Hello", [], [], params))
    assert all(isinstance(t, ArenaTurn) for t in turns)
    last = turns[-1]
    assert [m["role"] for m in last.history_a] == ["user", "assistant"]
    assert "tokens/s" in last.stats_a and "tokens/s" in last.stats_b


def test_a_blind_vote_lands_in_the_ledger_and_names_the_models(app_config):
    from ui.services.app import AppServices

    services = AppServices(app_config)
    battle = services.battle.start("Name a colour.")
    outcome = services.battle.vote(battle.battle_id, "left")
    assert outcome.accepted
    served = {services.models.teacher_label(), services.models.student_label()}
    assert {outcome.model_left, outcome.model_right} == served
    assert services.store.count_votes() == 1


def test_every_app_handler_is_guarded(app_config):
    from ui.app import build_app

    demo = build_app(app_config)
    handlers = [f.fn for f in demo.fns.values() if f.fn is not None]
    assert handlers and all(getattr(fn, "__stillhouse_guarded__", False) for fn in handlers)


def test_errors_reach_the_page_as_one_clean_message(caplog):
    """A StillhouseError shows its message; anything else shows only an id, logged in full."""
    import socket

    import gradio as gr
    from gradio_client import Client

    from core.errors import InputError
    from ui.errors import guard_handlers

    def known(text: str) -> str:
        raise InputError("bad_prompt", "the prompt is empty")

    def unknown(text: str) -> str:
        raise KeyError("secret/path")

    def streaming(text: str):
        yield "partial"
        raise KeyError("secret/path")

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        gr.Button("a").click(known, box, out, api_name="known")
        gr.Button("b").click(unknown, box, out, api_name="unknown")
        gr.Button("c").click(streaming, box, out, api_name="streaming")
    assert guard_handlers(demo) == 3
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        show_error=False,
        ssr_mode=False,
    )
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        with pytest.raises(Exception) as shown:
            client.predict("x", api_name="/known")
        assert "the prompt is empty" in str(shown.value)
        for name in ("/unknown", "/streaming"):
            caplog.clear()
            with caplog.at_level("ERROR", logger="stillhouse.ui"):
                with pytest.raises(Exception) as shown:
                    client.predict("x", api_name=name)
            text = str(shown.value)
            assert "internal error, id " in text and "secret" not in text
            incident = text.split("internal error, id ")[1].split()[0].strip("'\".,")
            logged = caplog.text
            assert incident in logged and "KeyError" in logged and "secret/path" in logged
            assert "Traceback" in logged
    finally:
        demo.close()


def test_registering_a_model_then_exporting_its_report(app_config, tiny_model_dir):
    from core.errors import InputError
    from ui.services.app import AppServices

    services = AppServices(app_config)
    said = services.audit.register_model("tiny-student", "apache-2.0", str(tiny_model_dir))
    assert said.startswith("Model **tiny-student** registered")
    assert [row[0] for row in services.audit.tables().models] == ["tiny-student"]
    subjects = services.reports.subjects()
    assert ("model tiny-student", "model:tiny-student") in subjects
    path = services.reports.export("json", "model:tiny-student")
    assert path.is_file() and path.name == "stillhouse-report-tiny-student.json"
    assert [row[2] for row in services.audit.tables().reports] == ["json"]
    with pytest.raises(InputError):
        services.reports.export("json", "nonsense")


def test_distill_preflight_view_before_anything_runs(app_config):
    from ui.services.app import AppServices

    services = AppServices(app_config)
    view = services.distill.preflight("quick", {"prompts_license": "apache-2.0"}, "commercial")
    assert view.verdict in ("allowed", "allowed_with_conditions", "needs_review", "blocked")
    assert view.summary and services.distill.latest() is None
    assert services.store.runs() == []  # nothing recorded by a pre-flight view


def test_served_models_close_releases_both_backends(tmp_path, tiny_model_dir):
    from ui.config import AppConfig
    from ui.services.models import ServedModels

    served = ServedModels(
        AppConfig(
            teacher=str(tiny_model_dir),
            student=str(tiny_model_dir),
            db_path=str(tmp_path / "l.duckdb"),
        )
    )
    backends = [served.backend("teacher"), served.backend("student")]
    served.close()
    assert [b.health().ok for b in backends] == [False, False]
