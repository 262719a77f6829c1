"""A visitor who leaves mid-answer stops the app's generation (issue 14, problem 6), seen in
the engines' step counts of the live app on loopback, over Gradio's own HTTP API."""

from __future__ import annotations

import json
import time

import httpx
import pytest

pytestmark = pytest.mark.timeout(600)
MAX_TOKENS = 400


@pytest.fixture(scope="module")
def slow_app(tiny_model_dir, tiny_teacher_dir, tmp_path_factory):
    """The live app, each forward pass of both models 20 ms slower (real models, just slow)."""
    from tests.security.conftest import launched_app

    folder = tmp_path_factory.mktemp("slow-app")
    with launched_app(
        tiny_teacher_dir, tiny_model_dir, folder, max_new_tokens=MAX_TOKENS, temperature=0.0
    ) as demo:
        hooks = [
            demo.services.models.backend(role).model.register_forward_pre_hook(
                lambda module, args: time.sleep(0.02)
            )
            for role in ("teacher", "student")
        ]
        yield demo
        for hook in hooks:
            hook.remove()


def engines(app) -> list:
    return [app.services.models.backend(role).engine for role in ("teacher", "student")]


def settled(app, wait_s: float = 0.3) -> int:
    """Both engines' decode steps, once they stop moving."""
    last = -1
    while (now := sum(engine.steps for engine in engines(app))) != last:
        last = now
        time.sleep(wait_s)
    return last


def leave_after(app, api_name: str, data: list, messages: int) -> float:
    """Start ``api_name`` over Gradio's HTTP API, read ``messages`` stream events (0: none),
    then hang up; the time of hanging up."""
    url = f"{app.url}/gradio_api/call/{api_name}"
    event_id = httpx.post(url, json={"data": data}).json()["event_id"]
    with httpx.stream("GET", f"{url}/{event_id}", timeout=60) as response:
        seen = 0
        for line in response.iter_lines():
            if messages == 0 or (line.startswith("event:") and (seen := seen + 1) >= messages):
                break
    return time.monotonic()


def test_leaving_the_arena_mid_answer_stops_both_models(slow_app):
    start = settled(slow_app)
    gone = leave_after(slow_app, "arena_ask", ["Tell me a long story.", [], [], MAX_TOKENS, 0], 6)
    end = settled(slow_app, wait_s=0.2)
    assert end - start < 60, f"{end - start} decode steps after leaving at ~3 tokens a side"
    assert time.monotonic() - gone < 3


def test_leaving_a_battle_before_the_answers_stops_both_models(slow_app):
    """The waiting Battle handler reads Gradio's record of its event every WATCH_S, and
    Gradio marks the event dead at the first heartbeat after the stream dropped: both sides
    (about 50 steps/s each at 20 ms a step) stop within about a heartbeat and a watch, far
    short of the 2 x 400 steps of a battle nobody stops, and without any message sent."""
    from ui.app import HEARTBEAT_S
    from ui.services.battle import WATCH_S

    start = settled(slow_app)
    gone = leave_after(slow_app, "battle_start", ["Tell me a long story.", None], 0)
    time.sleep(0.5)  # the battle has started and been abandoned
    end = settled(slow_app, wait_s=0.2)
    bound = 2 * 50 * (HEARTBEAT_S + WATCH_S + 1.0)
    assert end - start < bound, f"{end - start} decode steps for a battle nobody waits for"
    assert time.monotonic() - gone < HEARTBEAT_S + 3


def test_a_battle_someone_waits_for_still_finishes(slow_app):
    url = f"{slow_app.url}/gradio_api/call/battle_start"
    event_id = httpx.post(url, json={"data": ["Say hi.", None]}).json()["event_id"]
    with httpx.stream("GET", f"{url}/{event_id}", timeout=120) as response:
        events = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    assert "event: complete" in events, events[-4:]
    data = json.loads(events[events.index("event: complete") + 1][len("data:") :])
    assert data[1] and data[2]  # both conversations (data[0], the battle id, stays server-side)
