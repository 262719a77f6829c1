"""The first start: the page answers while the student distills in the background, the Arena
and Battle say it is on its way, and once it is saved the Arena serves it with no restart."""

from __future__ import annotations

import contextlib
import time
import urllib.request

import pytest

from tests.live_server import free_port

# the tiny preset on the 4-layer tiny teacher: few prompts, enough steps to be seen running
OVERRIDES = [
    "prune.layers=2",
    "prune.mlp_keep=1.0",
    "max_prompts=12",
    "max_new_tokens=10",
    "gen_batch_size=6",
    "batch_size=4",
    "topk=16",
    "tail_samples=0",
    "speed_tokens=4",
    "eval_max_len=48",
    "save_steps=1000",
    "logging_steps=1",
    "bf16=false",
    "gen_dtype=float32",
]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def config_for(teacher_dir, tmp_path, student: str):
    from ui.config import AppConfig

    return AppConfig(
        teacher=str(teacher_dir),
        student=student,
        db_path=str(tmp_path / "l.duckdb"),
        preload=False,
        max_new_tokens=4,
        temperature=0.0,
    )


@contextlib.contextmanager
def started_first_run(tiny_teacher_dir, tmp_path, name: str):
    """A live app on loopback whose student distills in the background (tiny preset, 30
    steps); yields (demo, its url) and waits for the run to end on the way out."""
    from ui.app import start

    port = free_port()
    config = config_for(tiny_teacher_dir, tmp_path, f"{name}-{port}")
    demo = start(
        config,
        preset="tiny",
        distill=True,
        host="127.0.0.1",
        port=port,
        block=False,
        overrides=[*OVERRIDES, "max_steps=30"],
    )
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        job = demo.services.student_job
        if job is not None and job.thread is not None:
            job.thread.join(timeout=300)
        demo.close()
        demo.services.models.close()


@pytest.fixture
def first_start(tiny_teacher_dir, tmp_path):
    with started_first_run(tiny_teacher_dir, tmp_path, "first-start") as (demo, url):
        yield demo, demo.services, url


def test_page_answers_while_the_student_trains_then_the_arena_serves_it(first_start):
    from gradio_client import Client

    demo, services, url = first_start
    with urllib.request.urlopen(url, timeout=10) as page:  # served before any training ends
        assert page.status == 200
    view = services.student_view()
    assert view.state in ("idle", "running"), view
    assert not services.models.student_ready()

    client = Client(url, verbose=False)
    teacher, student, *_ = client.predict(
        "Hello", [], [], 16, 0.0, api_name="/arena_ask"
    )  # the teacher answers while the student is missing; the student side says why
    assert teacher[-1]["role"] == "assistant" and teacher[-1]["content"]
    assert "on its way" in str(student[-1]["content"])
    battle = client.predict("Hello", None, api_name="/battle_start")
    assert "Battles need two models" in str(battle) and "on its way" in str(battle)

    wait_for(
        lambda: (
            services.student_job.view().stage == "training" and services.student_job.view().step
        ),
        240,
        "a training step",
    )
    training = services.student_view()
    assert training.steps == 30 and 0 < training.step <= 30
    assert f"step {training.step}/30" in training.line
    header = services.student_view().line
    assert header.startswith("student training: step")

    job = services.student_job
    wait_for(lambda: job.view().state in ("done", "failed", "refused"), 300, "the run's end")
    assert job.view().state == "done" and services.student_view().state == "done", job.view()
    assert services.models.student_ready()
    teacher, student, _, stats_b, *_ = client.predict(  # same server, no restart
        "Hello", [], [], 16, 0.0, api_name="/arena_ask"
    )
    assert "on its way" not in str(student[-1]["content"]) and "tokens/s" in stats_b
    names = {row["name"] for row in services.store.models()}
    assert services.models.student_label() in names  # recorded as served once saved


def test_a_refused_preflight_keeps_serving_the_teacher_and_says_why(tiny_teacher_dir, tmp_path):
    from ui.services.app import AppServices

    config = config_for(tiny_teacher_dir, tmp_path, "refused-student")
    services = AppServices(config)
    # a research-only prompt set used commercially: the pre-flight blocks it
    job = services.first_distill(
        preset="tiny", overrides=[*OVERRIDES, "max_steps=2", "prompts_license=openai-terms"]
    )
    job.thread.join(timeout=120)
    view = services.student_view()
    assert view.state == "refused" and "pre-flight" in view.message, view
    assert view.line.startswith("no student:")
    params = services.models.params(max_new_tokens=3, temperature=0.0)
    turn = list(services.arena.turn("Hello", [], [], params))[-1]
    assert turn.history_a[-1]["content"] and "tokens/s" in turn.stats_a
    assert "no student" in str(turn.history_b[-1]["content"])
    services.models.close()


def test_progress_reads_stage_step_and_eta():
    from ui.config import AppConfig
    from ui.services.student import FirstDistill

    job = FirstDistill(AppConfig(teacher="t", student="s"), store=None, preset="tiny")  # type: ignore[arg-type]
    job._set(state="running")  # what run() sets before the pre-flight
    job.report(0.5, desc="teacher answers")
    assert job.view().stage == "teacher answers" and job.view().percent == 50
    assert job.view().line.startswith("student on its way: teacher answers 50%")
    job.report(None, desc="a note")  # notes leave the stage alone
    assert job.view().stage == "teacher answers"
    job.report(0.25, desc="training step 40")
    view = job.view()
    assert (view.stage, view.step, view.steps) == ("training", 40, 160)
    job._stage_started -= 60  # a minute into training, a quarter done: three minutes left
    job.report(0.25, desc="training step 40")
    assert job.view().line == "student training: step 40/160, about 3 min left"
