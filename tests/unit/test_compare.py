"""compare(): both sides stream at once, a slow or failing side never holds the other back."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from core.backends import BackendInfo, backend_for, chunks_from_deltas
from core.compare import compare, compare_all
from core.errors import BackendError
from core.generation import ChatRequest, GenerationParams
from core.models import resolve_model

PARAMS = GenerationParams(max_new_tokens=12, temperature=1.0, seed=4)


@pytest.fixture(scope="module")
def pair(tiny_model_dir, tiny_teacher_dir):
    a = backend_for(resolve_model(str(tiny_teacher_dir)))
    b = backend_for(resolve_model(str(tiny_model_dir)))
    yield a, b
    a.close()
    b.close()


class Gated:
    """A server that sends one word, then nothing until the test opens the gate (or 30 s pass)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def info(self) -> BackendInfo:
        return BackendInfo(name="gated", engine="test")

    def generate(self, requests, params):
        raise NotImplementedError

    def stream(self, request, params):
        yield "first "
        if not self.gate.wait(timeout=30):
            raise BackendError("stuck", "the gate was never opened")
        yield "second"

    def stream_chunks(self, request, params):
        return chunks_from_deltas(self.stream(request, params))


class Broken:
    def info(self) -> BackendInfo:
        return BackendInfo(name="broken", engine="test")

    def generate(self, requests, params):
        raise NotImplementedError

    def stream(self, request, params):
        raise BackendError("server_unreachable", "cannot reach http://nowhere/v1")
        yield  # a generator

    def stream_chunks(self, request, params):
        return chunks_from_deltas(self.stream(request, params))


def test_each_side_streams_its_own_answer_with_figures(pair):
    a, b = pair
    request = ChatRequest.from_prompt("Hello")
    texts = {"a": "", "b": ""}
    done = {}
    for event in compare(request, a, b, PARAMS):
        if event.kind == "delta":
            texts[event.side] += event.text
        else:
            assert event.kind == "done", event.error
            done[event.side] = event.stats
    for side, backend in (("a", a), ("b", b)):
        expected = backend.generate([request], PARAMS)[0]
        stats = done[side]
        assert texts[side] == stats.text == expected.text
        assert stats.tokens == expected.tokens == 12 and stats.finish_reason == "length"
        assert stats.name == backend.info().name
        assert 0 < stats.ttft_s <= stats.total_s and stats.tokens_per_s > 0


def test_a_slow_side_never_stalls_the_other(pair):
    gated = Gated()
    order = []
    for event in compare(ChatRequest.from_prompt("Hello"), gated, pair[1], PARAMS):
        order.append((event.side, event.kind))
        if (event.side, event.kind) == ("b", "done"):
            gated.gate.set()  # only now may the slow side go on
    assert order.index(("b", "done")) < order.index(("a", "done"))
    assert ("a", "error") not in order


def test_a_failing_side_reports_and_the_other_finishes(pair):
    result = {}
    for event in compare(ChatRequest.from_prompt("Hello"), Broken(), pair[1], PARAMS):
        result[(event.side, event.kind)] = event
    assert "cannot reach" in result[("a", "error")].error
    assert result[("b", "done")].stats.tokens == 12


def test_walking_away_early_does_not_hang(pair):
    events = compare(
        ChatRequest.from_prompt("Hello"), pair[0], pair[1], GenerationParams(max_new_tokens=200)
    )
    next(events)
    events.close()
    after = compare_all(ChatRequest.from_prompt("Paris is"), pair[0], pair[1], PARAMS)
    assert after.a.tokens == after.b.tokens == 12


def test_empty_prompt_is_refused_before_either_side_starts(pair):
    from core.errors import InputError

    blank = ChatRequest(messages=[{"role": "user", "content": "   "}])
    with pytest.raises(InputError, match="empty"):
        next(compare(blank, pair[0], pair[1], PARAMS))


def test_compare_cli_prints_both_answers_and_figures(tiny_model_dir, tiny_teacher_dir, pair):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "compare",
            "--a",
            str(tiny_teacher_dir),
            "--b",
            str(tiny_model_dir),
            "--prompt",
            "Hello",
            "--max-new-tokens",
            "12",
            "--temperature",
            "1.0",
            "--seed",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    expected = compare_all(ChatRequest.from_prompt("Hello"), pair[0], pair[1], PARAMS)
    assert f"== a: {tiny_teacher_dir}" in done.stdout and f"== b: {tiny_model_dir}" in done.stdout
    assert expected.a.text in done.stdout and expected.b.text in done.stdout
    assert done.stdout.count("12 tokens, time to first token") == 2


def test_compare_cli_bad_input_is_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "compare", "--a", "x", "--b", "y", "--prompt", " "],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "empty" in done.stderr and "Traceback" not in done.stderr
