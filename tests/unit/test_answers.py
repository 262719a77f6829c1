"""Answer agreement between floor and ceiling, quality kept, and the pairwise judge."""

from __future__ import annotations

import socket

import pytest

from core.distill.answers import AnswerSet, agreement, quality_kept
from core.distill.judge import judge_win_rate, read_verdict

PROMPTS = ["Name a colour.", "Say hello.", "Count to three."]
TEACHER = ["Red is a colour.", "Hello! How can I help?", "One, two, three."]


def _answers(student: list[str]) -> AnswerSet:
    return AnswerSet(
        prompts=PROMPTS,
        teacher=TEACHER,
        teacher_again=["Blue is a colour.", "Hello there! How can I help?", "One, two and three."],
        student=student,
        temperature=0.7,
        max_new_tokens=16,
    )


@pytest.fixture(scope="module")
def scorer():
    from audit.similarity.agreement import answer_scorer

    return answer_scorer()


def test_a_student_that_copies_the_teacher_is_at_the_ceiling_and_noise_at_the_floor(scorer):
    copy = agreement(_answers(list(TEACHER)), scorer)
    noise = agreement(_answers(["zq xv kk", "pp rr tt", "mm nn oo"]), scorer)
    for metric in ("chrf", "cosine"):
        assert copy.ceiling[metric] > copy.floor[metric]
        assert copy.position[metric] >= 1.0  # identical to the teacher: beyond its own resample
        assert noise.position[metric] < 0.5
    assert copy.prompts == 3


def test_quality_kept_is_the_mean_of_its_parts(scorer):
    result = agreement(_answers(list(TEACHER)), scorer)
    kept, parts = quality_kept(2.0, result, win_rate=0.25)
    assert parts["perplexity"] == 0.5 and parts["win_rate"] == 0.5
    assert parts["agreement_chrf"] == 1.0  # clipped at the ceiling
    assert kept == pytest.approx(sum(parts.values()) / len(parts))
    assert quality_kept(None, None) == (None, {})


def test_judge_verdicts_are_read_strictly():
    assert read_verdict(" A.") == "A" and read_verdict("b") == "B"
    assert read_verdict("Tie") == "tie" and read_verdict("I think A") is None
    assert read_verdict("") is None


def test_a_judge_endpoint_that_fails_gives_no_win_rate_and_says_why():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = judge_win_rate(
        _answers(list(TEACHER)),
        model="judge",
        base_url=f"http://127.0.0.1:{port}/v1",
        timeout_s=2,
    )
    assert outcome.win_rate is None and outcome.judged == 0
    assert "judge judge at http://127.0.0.1" in (outcome.error or "")


def test_evaluate_pair_answers_held_out_prompts(tiny_teacher_dir, tiny_model_dir, scorer):
    from core.distill.evaluate import evaluate_pair

    report = evaluate_pair(
        str(tiny_teacher_dir),
        str(tiny_model_dir),
        ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France."],
        speed_tokens=2,
        prompts=PROMPTS,
        answer_tokens=6,
        scorer=scorer,
    )
    assert report.answers is not None and len(report.answers.student) == 3
    assert report.answers_perplexity and report.answers_perplexity["teacher"] > 0
    assert report.agreement is not None and set(report.agreement.position) == {"chrf", "cosine"}
    assert report.quality_kept is not None and 0 <= report.quality_kept <= 1
    assert "quality kept" in report.table()
