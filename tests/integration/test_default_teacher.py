"""The real default teacher loads offline and answers sensibly."""

from __future__ import annotations

import pytest

from core.generation import ChatRequest, GenerationParams

pytestmark = pytest.mark.slow


def test_greedy_answer_mentions_a_colour(default_teacher):
    result = default_teacher.generate(
        [ChatRequest.from_prompt("Name three primary colours.")],
        GenerationParams(max_new_tokens=48),
    )[0]
    text = result.text.lower()
    assert any(colour in text for colour in ("red", "blue", "yellow", "green")), text
    assert sum(ch.isalpha() for ch in text) > 0.6 * len(text.replace(" ", ""))


def test_default_teacher_is_the_converted_smollm2(default_teacher):
    info = default_teacher.info()
    assert info.parameters == 134_515_008
    assert info.dtype == "float32"
