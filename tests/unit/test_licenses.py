"""The licence knowledge base loads, covers every reference licence, cites clauses and copies no
text."""

from __future__ import annotations

import re

import pytest

from audit.licences.knowledge import (
    LICENSES_DIR,
    get_license,
    known_license_ids,
    load_license_file,
    load_licenses,
)
from core.errors import InputError, IntegrityError

REFERENCE_IDS = {
    "llama2",
    "llama3",
    "llama3.1",
    "llama3.2",
    "llama3.3",
    "llama4",
    "gemma",
    "tongyi-qianwen",
    "qwen",
    "qwen-research",
    "deepseek",
    "mit",
    "apache-2.0",
    "mistral-research",
    "falcon-180b",
    "openrail-m",
    "cc-by-4.0",
    "cc-by-nc-4.0",
    "cc-by-sa-4.0",
    "openai-terms",
    "anthropic-terms",
    "gemini-api-terms",
}
TEXTS = LICENSES_DIR / "texts"  # the licences' own texts, with provenance (texts/INDEX.md)


def test_every_file_loads_and_every_reference_id_is_covered():
    licenses = load_licenses()
    assert len(licenses) == len(list(LICENSES_DIR.glob("*.yaml")))
    assert REFERENCE_IDS <= set(licenses)
    assert known_license_ids() == sorted(licenses)


def test_key_facts_match_the_licence_texts():
    licenses = load_licenses()
    assert licenses["llama3.1"].naming.prefix == "Llama"
    assert licenses["llama3"].naming.prefix == "Llama 3"
    assert licenses["llama2"].outputs_training.rule == "forbidden"
    assert licenses["llama2"].outputs_training.exception_licenses == ["llama2"]
    assert licenses["openai-terms"].outputs_training.scope == "competing_models"
    assert licenses["gemma"].distillation_derivative.answer == "yes"
    assert licenses["qwen-research"].commercial.allowed == "no"
    assert licenses["mistral-research"].commercial.allowed == "no"
    assert licenses["llama3.1"].user_threshold.monthly_active_users == 700_000_000
    assert licenses["tongyi-qianwen"].user_threshold.monthly_active_users == 100_000_000


def test_licences_without_a_checked_text_are_unverified():
    licenses = load_licenses()
    for license_id in ("qwen", "falcon-180b"):
        info = licenses[license_id]
        assert not info.verified and info.text_source is None
        assert not info.outputs_training.verified


def test_verified_answers_cite_a_section_when_a_rule_applies():
    for info in load_licenses().values():
        rules = {
            "outputs_training": info.outputs_training.rule in ("forbidden", "conditional"),
            "naming": info.naming.prefix is not None,
            "commercial": info.commercial.allowed != "yes",
        }
        for name, applies in rules.items():
            clause = getattr(info, name)
            if applies and clause.verified:
                assert clause.section, f"{info.id}.{name} has a rule but cites no section"


def test_unknown_id_lists_the_known_ones():
    with pytest.raises(InputError) as caught:
        get_license("llama9")
    assert "llama3.1" in caught.value.hint and "apache-2.0" in caught.value.hint


def test_a_file_that_breaks_the_schema_is_named(tmp_path):
    text = (LICENSES_DIR / "mit.yaml").read_text()
    broken = tmp_path / "mit.yaml"
    broken.write_text(text.replace('allowed: "yes"', "allowed: sometimes", 1))
    with pytest.raises(IntegrityError, match="mit.yaml"):
        load_license_file(broken)


def test_verified_true_needs_every_answer_checked(tmp_path):
    text = (LICENSES_DIR / "qwen.yaml").read_text().replace("\nverified: false", "\nverified: true")
    path = tmp_path / "qwen.yaml"
    path.write_text(text)
    with pytest.raises(IntegrityError, match="not"):
        load_license_file(path)


def test_file_name_must_match_id(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text((LICENSES_DIR / "mit.yaml").read_text())
    with pytest.raises(IntegrityError, match="id"):
        load_license_file(path)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_notes_paraphrase_and_never_copy_licence_text():
    """No run of 12 words from any note appears verbatim in the licence's own text."""
    checked = 0
    for info in load_licenses().values():
        source = TEXTS / f"{info.id}.txt"
        if not source.is_file():
            assert not info.verified, f"{info.id} is verified but ships no text in {TEXTS}"
            continue
        checked += 1
        body = " ".join(_words(source.read_text(encoding="utf-8")))
        for name, clause in info.clauses().items():
            for text in [clause.note, *getattr(clause, "obligations", [])]:
                words = _words(text)
                for start in range(0, max(0, len(words) - 11)):
                    window = " ".join(words[start : start + 12])
                    assert window not in body, f"{info.id}.{name} copies licence text: {window!r}"
    assert checked >= 20  # every licence with a collected text (qwen, falcon-180b have none)
