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
    """No run of 12 words from any note or obligation appears verbatim in the licence's own text
    or its collected use policy."""
    checked = 0
    for info in load_licenses().values():
        source = TEXTS / f"{info.id}.txt"
        if not source.is_file():
            assert not info.verified, f"{info.id} is verified but ships no text in {TEXTS}"
            continue
        checked += 1
        bodies = [source.read_text(encoding="utf-8")]
        if info.use_policy.text_file:
            bodies.append((TEXTS / info.use_policy.text_file).read_text(encoding="utf-8"))
        body = " ".join(" ".join(_words(text)) for text in bodies)
        for name, clause in info.clauses().items():
            texts = [o.text for o in getattr(clause, "obligations", [])]
            for text in [clause.note, *texts]:
                words = _words(text)
                for start in range(0, max(0, len(words) - 11)):
                    window = " ".join(words[start : start + 12])
                    assert window not in body, f"{info.id}.{name} copies licence text: {window!r}"
    assert checked >= 20  # every licence with a collected text (qwen, falcon-180b have none)


def test_collected_texts_carry_provenance_headers():
    for path in sorted(TEXTS.glob("*.txt")):
        head = path.read_text(encoding="utf-8").splitlines()[:3]
        assert head[0].startswith("# source: github.com/"), path.name
        assert re.fullmatch(r"# commit: [0-9a-f]{40}", head[1]), path.name
        assert head[2] == "# ---", path.name
    for info in load_licenses().values():
        if info.use_policy.text_file:
            assert (TEXTS / info.use_policy.text_file).is_file(), info.id


def test_every_obligation_says_whether_it_binds_and_when(tmp_path):
    for info in load_licenses().values():
        for rule in info.flow_down.obligations:
            assert rule.when in ("now", "on_release", "on_hosting")
            assert isinstance(rule.binding, bool)
    text = (LICENSES_DIR / "llama3.1.yaml").read_text()
    for field in ("binding", "when"):
        broken = tmp_path / "llama3.1.yaml"
        lines = [line for line in text.splitlines() if not line.strip().startswith(f"{field}:")]
        broken.write_text("\n".join(lines))
        with pytest.raises(IntegrityError, match=field):
            load_license_file(broken)


def test_every_unverified_part_yields_a_review_finding():
    from audit.licences.preflight import PreflightRequest, preflight

    for info in load_licenses().values():
        unchecked = [name for name, clause in info.clauses().items() if not clause.verified]
        if not unchecked:
            continue
        for role in ("teacher", "data", "student_base"):
            fields = {"teacher_license": "apache-2.0", "mau": 1, "region": "US"}
            fields["entity"] = "academic"
            if role == "teacher":
                fields["teacher_license"] = info.id
            elif role == "data":
                fields["data_licenses"] = [info.id]
            else:
                fields["student_base_license"] = info.id
            result = preflight(PreflightRequest(**fields, use="research", internal=True))
            (finding,) = [
                f for f in result.findings if f.license == info.id and "not checked" in f.message
            ]
            assert finding.severity == "review" and finding.verified is False
            assert all(name in finding.message for name in unchecked), (info.id, role)
            assert result.verdict in ("needs_review", "blocked")


def test_knowledge_base_fixes_against_the_texts():
    kb = load_licenses()
    for license_id in ("llama2", "llama3", "tongyi-qianwen"):
        assert kb[license_id].outputs_training.scope == "other_llms"  # 1.b.v / 5.b: LLMs only
    for license_id in ("llama3.1", "llama3.2", "llama3.3", "llama4"):
        rules = {r.text.split(" (")[0]: r for r in kb[license_id].flow_down.obligations}
        materials = [r for r in rules.values() if r.needs_materials]
        assert len(materials) == 3  # licence copy, "Built with Llama", Notice: 1.b.i, 1.b.iii
        assert any(r.checks == "naming" and not r.needs_materials for r in rules.values())
    assert kb["llama3.2"].use_policy.excluded_regions == ["EU"]
    assert kb["llama4"].multimodal == "always" and kb["llama3.2"].multimodal == "some"
    assert kb["gemma"].attribution.text and "Gemma Terms of Use" in kb["gemma"].attribution.text
    assert kb["gemma"].use_policy.text_file == "gemma-prohibited-use-policy.txt"
    nc = kb["cc-by-nc-4.0"]
    assert nc.flow_down.applies_to_trained_model == nc.commercial.reaches_trained_model == "unclear"
    assert "2(a)(2)" in nc.commercial.section and "4" in nc.flow_down.section
    assert kb["mit"].outputs_training.rule == "no_clause"
    assert "image" in kb["openrail-m"].name
    assert any("latest version" in r.text for r in kb["openrail-m"].flow_down.obligations)
    assert "D.4(b)" in kb["anthropic-terms"].outputs_training.note
    assert kb["anthropic-terms"].use_policy.distillation_needs_permission
    openai = kb["openai-terms"]
    assert "Services Agreement" in openai.name and "3.3(e)" in openai.outputs_training.section
    assert "3.3(f)" in openai.outputs_training.note and "3.3(a)" in openai.use_policy.section
    assert kb["mistral-research"].commercial.excluded_entities == ["company"]
    bigcode = kb["bigcode-openrail-m"]  # StarCoder's terms differ from CreativeML's
    assert bigcode.verified and bigcode.distillation_derivative.section == "1.i"
    assert not any("latest version" in r.text for r in bigcode.flow_down.obligations)
    assert any(r.when == "on_hosting" for r in bigcode.flow_down.obligations)
