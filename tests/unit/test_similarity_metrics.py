"""Library-backed similarity metrics: verbatim runs, ROUGE-L, chrF, MinHash, protected passages."""

from __future__ import annotations

import pytest

from audit.similarity import metrics as sm
from audit.similarity.score import find_protected
from core.errors import InputError
from tests.similarity_texts import corpus, extra_words


@pytest.fixture(scope="module")
def texts():
    return corpus(30)


def _passage(text: str, start: int, size: int) -> str:
    tok = sm.tokenize(text)
    return tok.span_text(start, size)


def test_a_60_token_verbatim_passage_is_found_with_its_span(texts):
    reference = texts["reference"][4]["text"]
    copied = _passage(reference, 5, 60)
    candidate = f"{extra_words(30)} {copied} {extra_words(12)}"
    run = sm.longest_run(sm.tokenize(reference), sm.tokenize(candidate))
    assert run.tokens >= 60
    assert copied in run.span


def test_tokens_keep_offsets_and_fold_case():
    tok = sm.tokenize("Hello, WORLD --- again")
    assert tok.tokens == ("hello", ",", "world", "---", "again")
    assert tok.span_text(2, 2) == "WORLD ---"


def test_lexical_metrics_rank_copies_above_unrelated_answers(texts):
    ref, unrelated = texts["reference"][0]["text"], texts["unrelated"][0]["text"]
    reworded = texts["reworded"][0]["text"]
    assert sm.rouge_l(ref, ref) == pytest.approx(1.0)
    assert sm.chrf(ref, ref) == pytest.approx(1.0)
    assert sm.rouge_l(ref, reworded) > 0.6 > 0.3 > sm.rouge_l(ref, unrelated)
    assert sm.chrf(ref, reworded) > sm.chrf(ref, unrelated)
    jac = sm.minhash_jaccards([sm.tokenize(ref)] * 2, [sm.tokenize(ref), sm.tokenize(unrelated)])
    assert jac[0] == pytest.approx(1.0) and jac[1] < 0.1


def test_protected_passages_are_flagged_only_when_reproduced(texts):
    book = {"novel-ch1": texts["baseline"][7]["text"]}
    copied = _passage(book["novel-ch1"], 10, 30)
    outputs = {
        "q1": f"As the story goes: {copied}. The end.",
        "q2": texts["unrelated"][7]["text"],
        "q3": f"A short quote: {_passage(book['novel-ch1'], 10, 12)}",
    }
    found = find_protected(outputs, book, min_tokens=25)
    assert [(f.prompt_id, f.passage_id) for f in found] == [("q1", "novel-ch1")]
    assert found[0].tokens >= 30 and copied in found[0].span
    # a protected passage shorter than the bar is flagged when reproduced whole
    slogan = {"slogan": "Think different, think small."}
    found = find_protected(
        {"q9": "As they say: think different, think small. Indeed."}, slogan, min_tokens=25
    )
    assert [(f.prompt_id, f.tokens) for f in found] == [("q9", 6)]


def test_onnx_backend_is_refused_in_words_when_not_installed():
    if sm.onnx_available():
        pytest.skip("onnxruntime and optimum are installed here")
    assert sm.embedding_backends()["onnx"].startswith("unavailable")
    with pytest.raises(InputError, match="ONNX"):
        sm.load_embedder(None, "onnx")
