"""Pre-flight verdicts follow the licence rules and cite the clause behind every finding."""

from __future__ import annotations

import pytest

from audit.ledger.store import Store
from audit.licences.gate import preflight_gate
from audit.licences.preflight import PreflightRequest, preflight
from core.errors import InputError


def check(**fields):
    return preflight(PreflightRequest(**fields))


def naming_findings(result):
    return [f for f in result.findings if "name" in f.message and f.severity == "condition"]


def test_llama31_naming_is_a_condition_until_the_name_complies():
    result = check(teacher_license="llama3.1", use="commercial", student_name="MyBot", mau=10_000)
    assert result.verdict == "allowed_with_conditions"
    (finding,) = naming_findings(result)
    assert (
        finding.license == "llama3.1" and finding.clause == "1.b.i" and "Llama" in finding.message
    )
    fixed = check(
        teacher_license="llama3.1", use="commercial", student_name="Llama-MyBot", mau=10_000
    )
    assert naming_findings(fixed) == []
    assert (
        fixed.verdict == "allowed_with_conditions"
    )  # attribution and licence copy still flow down
    assert any("Built with Llama" in o.text for o in fixed.obligations)


@pytest.mark.parametrize(
    "name, complies",
    [
        ("Llama 3 Bot", True),
        ("Llama-3-Bot", True),
        ("Llama3Bot", True),
        ("Llama-Bot", False),
        ("MyLlama 3", False),
    ],
)
def test_llama3_prefix_is_llama_3(name, complies):
    result = check(teacher_license="llama3", student_base_license="llama3", student_name=name)
    assert (naming_findings(result) == []) == complies


def test_internal_student_is_not_bound_by_naming():
    result = check(teacher_license="llama3.1", student_name="MyBot", internal=True)
    assert naming_findings(result) == []


def test_terms_against_competing_models_block_a_distributed_student():
    result = check(teacher_license="openai-terms", use="commercial")
    assert result.verdict == "blocked"
    assert result.findings[0].severity == "block" and result.findings[0].license == "openai-terms"
    assert check(teacher_license="openai-terms", use="research").verdict == "blocked"
    assert check(teacher_license="openai-terms", internal=True).verdict == "needs_review"


def test_data_generated_under_forbidding_terms_blocks_too():
    result = check(teacher_license="apache-2.0", data_licenses=["anthropic-terms"])
    assert result.verdict == "blocked" and result.findings[0].clause == "D.4(a)"


def test_llama2_outputs_only_improve_llama2_derivatives():
    assert check(teacher_license="llama2").verdict == "blocked"
    assert check(teacher_license="llama2", internal=True).verdict == "blocked"
    allowed = check(teacher_license="llama2", student_base_license="llama2", mau=10_000)
    assert allowed.verdict == "allowed_with_conditions"
    assert any(f.severity == "info" and f.clause == "1.b.v" for f in allowed.findings)


def test_non_commercial_terms_block_commercial_use_only():
    assert check(teacher_license="qwen-research", use="commercial").verdict == "blocked"
    research = check(teacher_license="qwen-research", use="research")
    assert research.verdict == "allowed_with_conditions"
    assert any("Built with Qwen" in o.text for o in research.obligations)
    assert check(teacher_license="mistral-research", use="commercial").verdict == "blocked"
    assert (
        check(teacher_license="apache-2.0", student_base_license="qwen-research").verdict
        == "blocked"
    )


def test_unsettled_data_terms_need_review():
    assert (
        check(teacher_license="apache-2.0", data_licenses=["cc-by-nc-4.0"]).verdict
        == "needs_review"
    )
    assert (
        check(teacher_license="apache-2.0", data_licenses=["cc-by-nc-4.0"], use="research").verdict
        == "allowed_with_conditions"
    )
    assert (
        check(teacher_license="apache-2.0", data_licenses=["cc-by-sa-4.0"]).verdict
        == "needs_review"
    )


def test_unverified_clause_is_never_a_silent_allow():
    result = check(teacher_license="qwen", use="research")
    assert result.verdict == "needs_review"
    assert any(f.severity == "review" and "not checked" in f.message for f in result.findings)
    assert check(teacher_license="falcon-180b").verdict == "needs_review"
    assert check(teacher_license="unknown").verdict == "needs_review"


def test_permissive_teacher_is_allowed():
    assert check(teacher_license="apache-2.0", data_licenses=["apache-2.0"]).verdict == "allowed"
    assert check(teacher_license="mit").verdict == "allowed"


def test_a_pruned_student_keeps_its_base_licence_redistribution_terms():
    # The quick preset: the student is the Apache-2.0 teacher with layers dropped, so its
    # weights are a copy and Apache-2.0 section 4 (licence copy, NOTICE) travels with them.
    shipped = check(teacher_license="apache-2.0", student_base_license="apache-2.0")
    assert shipped.verdict == "allowed_with_conditions"
    duty = [o for o in shipped.obligations if o.source == "student_base"]
    assert duty and duty[0].clause == "4" and "NOTICE" in duty[0].text
    internal = check(teacher_license="apache-2.0", student_base_license="apache-2.0", internal=True)
    assert internal.verdict == "allowed"


def test_obligations_are_the_union_of_teacher_data_and_base():
    result = check(
        teacher_license="gemma",
        data_licenses=["cc-by-4.0"],
        student_base_license="llama3.2",
        student_name="Llama-Gem",
    )
    sources = {(o.license, o.source) for o in result.obligations}
    assert {("gemma", "teacher"), ("cc-by-4.0", "data"), ("llama3.2", "student_base")} <= sources
    gemma = [o for o in result.obligations if o.license == "gemma"]
    assert any(o.clause == "3.1" and "use restrictions" in o.text for o in gemma)
    assert any(f.severity == "condition" and f.clause == "1.1(e)" for f in result.findings)


def test_unknown_licence_id_is_an_input_error():
    with pytest.raises(InputError) as caught:
        check(teacher_license="not-a-licence")
    assert "llama3.1" in caught.value.hint
    with pytest.raises(InputError):
        check(teacher_license="mit", data_licenses=["nope"])


def test_gate_refuses_blocked_without_override_and_records_both(tmp_path):
    store = Store(tmp_path / "ledger.duckdb")
    refused = preflight_gate(store, PreflightRequest(teacher_license="openai-terms"))
    assert refused.refused and not refused.overridden
    gate = preflight_gate(
        store,
        PreflightRequest(teacher_license="openai-terms"),
        override_reason="evaluation under a separate agreement",
    )
    assert not gate.refused and gate.overridden
    run_id = gate.recorder.start_run("distill", config={}, seed=0, code_version="x", inputs=[])
    gate.recorder.finish_run(run_id, outputs=[], metrics={}, status="succeeded")
    run = store.run(run_id)
    assert run["overrides"][0]["reason"] == "evaluation under a separate agreement"
    assert run["findings"][0]["license"] == "openai-terms"
    assert len(store.preflights()) == 2 and store.verify().ok
    with pytest.raises(InputError):
        preflight_gate(store, PreflightRequest(teacher_license="mit"), override_reason="  ")
