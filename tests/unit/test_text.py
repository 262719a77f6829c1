"""Incremental detokenization: one DecodeStream step per token, same text as a full decode,
stop strings caught across token boundaries, never half a character shown."""

from __future__ import annotations

import pytest

from core.backends.text import Detokenizer, TextTracker

TEXT = "Paris is the capital of France. Café au lait, naïve — 日本 🙂. The end.\n\nMore"


@pytest.fixture(scope="module")
def detok(tiny_tokenizer):
    return Detokenizer(tiny_tokenizer)


def run(tracker: TextTracker, ids: list[int]) -> list[str]:
    deltas = []
    for token in ids:
        deltas.append(tracker.add(token))
        if tracker.stopped:
            break
    deltas.append(tracker.finish())
    return deltas


def test_streamed_text_equals_the_full_decode_and_never_shows_half_a_character(
    detok, tiny_tokenizer
):
    ids = tiny_tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(TEXT) // 3  # the tiny BPE splits the accents into byte tokens
    tracker = TextTracker(detok)
    assert tracker._step is not None  # the fast path: a DecodeStream per request
    deltas = run(tracker, ids)
    assert "".join(deltas) == tracker.text == tiny_tokenizer.decode(ids) == TEXT
    assert not any("\ufffd" in d for d in deltas)


def test_a_stop_string_split_across_tokens_is_caught_and_never_streamed(detok, tiny_tokenizer):
    ids = tiny_tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    stop = "t, na"  # spans several tokens of the tiny tokenizer
    pieces = [tiny_tokenizer.decode([i]) for i in ids]
    assert not any(stop in p for p in pieces)
    tracker = TextTracker(detok, stop=[stop])
    deltas = run(tracker, ids)
    assert tracker.stopped and tracker.text == TEXT[: TEXT.index(stop)]
    assert "".join(deltas) == tracker.text
    shown = ""
    for delta in deltas:  # at no moment did the visible text hold the start of the stop
        shown += delta
        assert stop not in shown


def test_the_old_whole_answer_decode_still_works(tiny_tokenizer):
    ids = tiny_tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    calls = []

    def decode(part: list[int]) -> str:
        calls.append(len(part))
        return tiny_tokenizer.decode(part)

    tracker = TextTracker(decode, stop=["\n\n"])
    deltas = run(tracker, ids)
    assert "".join(deltas) == TEXT[: TEXT.index("\n\n")] and tracker.stopped
    assert calls and max(calls) > 1  # re-decoded the whole answer on every token
