"""The Distill scorecard shows the speed-up, the answer agreement and one quality-kept number."""

from __future__ import annotations

import pytest


def _evaluation(answers: dict | None = None) -> dict:
    return {
        "teacher": {
            "name": "t",
            "parameters": 134_500_000,
            "tokens_per_s": 20.0,
            "perplexity": 10.0,
        },
        "student": {
            "name": "s",
            "parameters": 91_600_000,
            "tokens_per_s": 30.0,
            "perplexity": 20.0,
        },
        "kl": 1.0,
        "top1_agreement": 0.6,
        "answers": answers,
    }


def test_scorecard_shows_speed_up_and_quality_kept_with_its_parts():
    from ui.services.scorecard import scorecard

    votes = [{"model_a": "s", "model_b": "t", "vote": "tie", "blind": True, "excluded": False}]
    rows = {row[0]: row for row in scorecard(_evaluation(), votes, cost_per_hour=0.36)}
    assert rows["Decode speed-up (batch 1, interleaved)"][2] == "1.50x"
    kept = rows["Quality kept"]
    assert kept[2] == "75%"  # mean of perplexity 10/20 = 0.5 and win rate 2 x 0.5 = 1.0
    assert "perplexity 0.50" in kept[3] and "win_rate 1.00" in kept[3]


def test_scorecard_places_answer_agreement_between_floor_and_ceiling():
    from ui.services.quality import answer_quality
    from ui.services.scorecard import scorecard

    teacher = ["Red is a colour.", "Hello! How can I help?", "One, two, three."]
    answers = {
        "prompts": ["Name a colour.", "Say hello.", "Count to three."],
        "teacher": teacher,
        "teacher_again": ["Blue is a colour.", "Hello there! How can I help?", "One, two, three!"],
        "student": ["Green is a colour.", "Hello! Can I help?", "One, two, three."],
        "temperature": 0.7,
        "max_new_tokens": 16,
    }
    rows = {row[0]: row for row in scorecard(_evaluation(answers), [], cost_per_hour=0.36)}
    chrf = rows["Answer agreement, chrF (floor / ceiling)"]
    assert "of the way from floor" in chrf[3]
    view = answer_quality(_evaluation(answers))
    position = view["agreement"]["position"]["chrf"]
    assert 0.5 < position <= 1.5
    assert view["kept"] == pytest.approx(sum(view["parts"].values()) / len(view["parts"]))
    assert any(line.startswith("quality kept:") for line in view["lines"])
