"""Replication risk end to end on texts built from CPython's help topics.

The embedding model is loaded once per session (``load_embedder`` is cached); the two
tests that use it are marked slow (tens of seconds on a busy 2-core machine), the others
score the lexical metrics only.
"""

from __future__ import annotations

import pytest

from audit.similarity.metrics import tokenize
from audit.similarity.score import SimilarityConfig, score_texts
from core.errors import InputError
from tests.similarity_texts import corpus, extra_words

LEXICAL = SimilarityConfig(
    metrics=["rougeL", "chrF", "minhash", "longest_run"], primary_metric="rougeL", permutations=2000
)


@pytest.fixture(scope="module")
def texts():
    return corpus(30)


@pytest.mark.slow
def test_a_lightly_reworded_copy_scores_high_risk(texts):
    report = score_texts(texts["reference"], texts["reworded"], {"other-model": texts["baseline"]})
    assert report.risk.level == "high" and report.risk.calibrated
    assert report.p_value is not None and report.p_value <= 0.01
    embedding = report.metric("embedding")
    assert embedding.candidate_mean > embedding.comparisons[0].baseline_mean
    assert embedding.effect_size >= 0.8
    # light rewording defeats a verbatim filter: the calibrated test is what catches it
    assert not [v for v in report.verbatim if v.level == "finding"]
    assert any(r.startswith("high: embedding") for r in report.risk.reasons)
    assert (
        "0.01" in report.risk.thresholds["high"] and "50 tokens" in report.risk.thresholds["high"]
    )


@pytest.mark.slow
def test_answers_from_an_unrelated_source_score_low(texts):
    report = score_texts(texts["reference"], texts["unrelated"], {"other-model": texts["baseline"]})
    assert report.risk.level == "low", report.risk.reasons
    assert report.p_value > 0.05
    # raw similarity is far from zero anyway: same topics, so a bare cosine would mislead
    assert report.metric("embedding").candidate_mean > 0.4


def test_a_60_token_verbatim_passage_is_reported_with_prompt_and_span(texts):
    candidate = [dict(row) for row in texts["unrelated"]]
    target = texts["reference"][11]
    copied = tokenize(target["text"]).span_text(8, 60)
    candidate[11]["text"] = f"{extra_words(20)} {copied} {extra_words(10)}"
    report = score_texts(texts["reference"], candidate, {"b": texts["baseline"]}, config=LEXICAL)
    finding = report.verbatim[0]
    assert (finding.prompt_id, finding.level) == (target["prompt_id"], "finding")
    assert finding.tokens >= 60 and copied in finding.span
    assert finding.baseline_tokens is not None and finding.baseline_tokens < 25
    assert report.risk.level == "high"


def test_holm_is_applied_across_several_baselines(texts):
    bases = {"b1": texts["baseline"], "b2": texts["unrelated"]}
    report = score_texts(texts["reference"], texts["reworded"], bases, config=LEXICAL)
    rouge = report.metric("rougeL")
    assert [c.baseline for c in rouge.comparisons] == ["b1", "b2"]
    for c in rouge.comparisons:
        assert c.p_holm >= c.p_value
    assert rouge.p_value == max(c.p_holm for c in rouge.comparisons)
    assert any("Holm" in note for note in report.notes)


def test_without_a_baseline_it_scores_but_says_uncalibrated(texts):
    report = score_texts(texts["reference"], texts["reworded"], None, config=LEXICAL)
    assert not report.risk.calibrated and report.p_value is None
    assert report.metric("rougeL").candidate_mean > 0.6
    assert any("uncalibrated" in note for note in report.notes)


def test_a_single_prompt_says_no_test_is_possible(texts):
    one = {k: v[:1] for k, v in texts.items()}
    report = score_texts(one["reference"], one["reworded"], {"b": one["baseline"]}, config=LEXICAL)
    assert report.matching.matched == 1 and report.p_value is None and not report.risk.calibrated
    assert any("no permutation test" in note for note in report.notes)


def test_mismatched_prompt_ids_are_refused_with_the_count(texts):
    renamed = [{"prompt_id": f"x-{r['prompt_id']}", "text": r["text"]} for r in texts["reworded"]]
    mixed = renamed[:20] + texts["reworded"][20:]
    with pytest.raises(InputError, match=r"only 10 of 30 .*minimum 15"):
        score_texts(texts["reference"], mixed, {"b": texts["baseline"]}, config=LEXICAL)
    report = score_texts(
        texts["reference"],
        renamed[:5] + texts["reworded"][5:],
        {"b": texts["baseline"]},
        config=LEXICAL,
    )
    assert report.matching.matched == 25 and len(report.matching.unmatched) == 5
    assert any("25 of 30" in note for note in report.notes)


def test_empty_texts_are_skipped_and_named(texts):
    candidate = [dict(r) for r in texts["reworded"]]
    candidate[3]["text"] = "   "
    report = score_texts(texts["reference"], candidate, {"b": texts["baseline"]}, config=LEXICAL)
    assert report.matching.matched == 29
    assert report.matching.empty == {"candidate": [candidate[3]["prompt_id"]]}
    assert any("empty" in note and candidate[3]["prompt_id"] in note for note in report.notes)


def test_protected_passages_raise_the_risk(texts):
    book = [{"prompt_id": "book-1", "text": extra_words(200)}]
    candidate = [dict(r) for r in texts["unrelated"]]
    candidate[2]["text"] += " " + extra_words(40)
    report = score_texts(
        texts["reference"], candidate, {"b": texts["baseline"]}, protected=book, config=LEXICAL
    )
    assert [(p.prompt_id, p.passage_id) for p in report.protected] == [
        (candidate[2]["prompt_id"], "book-1")
    ]
    assert report.risk.level == "high"


def test_bad_settings_are_one_input_error():
    with pytest.raises(InputError, match="permutations"):
        SimilarityConfig.build(permutations=10)
    with pytest.raises(InputError, match="verbatim_warn_tokens"):
        SimilarityConfig.build(verbatim_tokens=20, verbatim_warn_tokens=30)


def test_the_picture_is_a_png(texts, tmp_path):
    from audit.similarity.plot import plot_similarity

    report = score_texts(
        texts["reference"], texts["reworded"], {"b": texts["baseline"]}, config=LEXICAL
    )
    out = plot_similarity(report, tmp_path / "dist.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    with pytest.raises(InputError):
        plot_similarity(report, tmp_path / "x.png", metric="embedding")
