"""The facts licences turn on: each flag changes the verdict a counsel would expect, and a rule
whose fact is missing asks for it by flag instead of allowing silently."""

from __future__ import annotations

import json

import pytest

from audit.licences.preflight import PreflightRequest, preflight
from core.errors import InputError
from ui.cli import main


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["licenses", "check", *args])
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def cli_json(capsys, *args: str) -> dict:
    code, out, _ = cli(capsys, *args, "--json")
    assert code == 0
    return json.loads(out)


def cli_error(capsys, *args: str) -> list[str]:
    code, _, err = cli(capsys, *args)
    assert code == 2
    return err.strip().splitlines()


def cites(result: dict, license_id: str, severity: str) -> list[dict]:
    return [
        f for f in result["findings"] if f["license"] == license_id and f["severity"] == severity
    ]


# -- the Done-when scenarios, through the command line ---------------------------------------
def test_llama33_above_700m_mau_is_blocked_by_section_2(capsys):
    result = cli_json(capsys, "--teacher-license", "llama3.3", "--mau", "800000000")
    assert result["verdict"] == "blocked"
    (finding,) = cites(result, "llama3.3", "block")
    assert finding["clause"] == "2" and "700,000,000" in finding["message"]
    below = cli_json(capsys, "--teacher-license", "llama3.3", "--mau", "5000")
    assert below["verdict"] != "blocked"


def test_mistral_research_by_a_company_is_blocked_by_section_9(capsys):
    result = cli_json(
        capsys, "--teacher-license", "mistral-research", "--use", "research", "--entity", "company"
    )
    assert result["verdict"] == "blocked"
    (finding,) = cites(result, "mistral-research", "block")
    assert "9" in finding["clause"]
    academic = cli_json(
        capsys, "--teacher-license", "mistral-research", "--use", "research", "--entity", "academic"
    )
    assert academic["verdict"] != "blocked"
    unsaid = cli_json(capsys, "--teacher-license", "mistral-research", "--use", "research")
    assert unsaid["verdict"] == "needs_review"
    assert any(f["missing"] == "--entity" for f in unsaid["findings"])


def test_llama32_multimodal_teacher_in_the_eu_cites_the_use_policy_clause(capsys):
    args = ["--teacher-license", "llama3.2", "--region", "DE", "--entity", "company", "--mau", "1"]
    result = cli_json(capsys, *args, "--teacher-multimodal")
    assert result["verdict"] in ("blocked", "needs_review")
    (finding,) = cites(result, "llama3.2", "block")
    assert "Acceptable Use Policy" in finding["clause"] and "multimodal" in finding["clause"]
    assert finding["verified"] is True
    text_only = cli_json(capsys, *args)
    assert cites(text_only, "llama3.2", "block") == []
    assert not any(f["severity"] in ("block", "review") for f in text_only["findings"])
    assert text_only["verdict"] == "allowed_with_conditions"


def test_llama4_is_multimodal_without_the_flag(capsys):
    result = cli_json(
        capsys, "--teacher-license", "llama4", "--region", "FR", "--entity", "individual"
    )
    assert result["verdict"] == "blocked"
    us = cli_json(capsys, "--teacher-license", "llama4", "--region", "US", "--entity", "company")
    assert cites(us, "llama4", "block") == []
    nowhere = cli_json(capsys, "--teacher-license", "llama4", "--mau", "1")
    assert any(f["missing"] == "--region" for f in nowhere["findings"])
    assert nowhere["verdict"] == "needs_review"


def test_gemma_and_llama31_teachers_both_checked_naming_finding_present(capsys):
    result = cli_json(
        capsys,
        *("--teacher-license", "gemma", "--teacher-license", "llama3.1"),
        *("--student-name", "MyBot", "--mau", "1000"),
    )
    (naming,) = [f for f in result["findings"] if f["clause"] == "1.b.i"]
    assert naming["license"] == "llama3.1" and "MyBot" in naming["message"]
    assert {o["license"] for o in result["obligations"]} >= {"gemma", "llama3.1"}
    unmet = [o for o in result["obligations"] if o["unmet"]]
    assert [o["license"] for o in unmet] == ["llama3.1"]


def test_llama31_commercial_without_mau_asks_for_it(capsys):
    result = cli_json(capsys, "--teacher-license", "llama3.1", "--student-name", "Llama-Bot")
    assert result["verdict"] == "needs_review"
    (asks,) = [f for f in result["findings"] if f["missing"] == "--mau"]
    assert asks["clause"] == "2" and "--mau" in asks["message"]


# -- the other flags -------------------------------------------------------------------------
def test_student_type_matters_where_the_text_says_so():
    llm = preflight(PreflightRequest(teacher_license="llama2", mau=1))
    classifier = preflight(
        PreflightRequest(teacher_license="llama2", mau=1, student_type="classifier")
    )
    assert llm.verdict == "blocked" and classifier.verdict != "blocked"
    internal = preflight(
        PreflightRequest(teacher_license="openai-terms", internal=True, student_type="embedding")
    )
    assert internal.verdict == "allowed_with_conditions"
    assert any("Permitted Exception" in (f.clause or "") for f in internal.findings)
    shipped = preflight(PreflightRequest(teacher_license="openai-terms", student_type="embedding"))
    assert shipped.verdict == "blocked"


def test_release_licence_must_carry_what_the_sources_require():
    gemma = preflight(PreflightRequest(teacher_license="gemma", release_license="apache-2.0"))
    assert any("use restrictions" in f.message for f in gemma.findings if f.severity == "condition")
    unsaid = preflight(PreflightRequest(teacher_license="gemma"))
    assert any(f.missing == "--release-license" for f in unsaid.findings)
    research = preflight(
        PreflightRequest(
            teacher_license="qwen-research", use="research", release_license="apache-2.0"
        )
    )
    assert research.verdict == "blocked"


def test_hosted_students_are_distributed_and_list_hosting_duties():
    hosted = preflight(
        PreflightRequest(teacher_license="llama3.1", mau=1, hosted=True, student_name="Bot")
    )
    assert any(f.clause == "1.b.i" and f.severity == "condition" for f in hosted.findings)


def test_region_codes_fold_eu_members():
    eu = preflight(PreflightRequest(teacher_license="llama4", region="eu", entity="company", mau=1))
    assert eu.verdict == "blocked"
    university = preflight(
        PreflightRequest(teacher_license="llama4", region="IT", entity="academic", mau=1)
    )
    assert university.verdict == "needs_review"


# -- bad input: exit 2, one line each, all at once -------------------------------------------
def test_bad_values_and_conflicts_are_reported_together(capsys):
    lines = cli_error(
        capsys,
        *("--teacher-license", "llama3.1", "--mau", "-5", "--region", "XX"),
        *("--internal", "--hosted", "--student-type", "robot"),
    )
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    assert any("--mau" in line for line in lines) and any("'XX'" in line for line in lines)
    assert any("--internal and --hosted" in line for line in lines)
    assert any("--student-type" in line for line in lines)


def test_unknown_ids_in_any_licence_flag_list_the_known_ones(capsys):
    for flag in (
        "--teacher-license",
        "--data-license",
        "--release-license",
        "--student-base-license",
    ):
        extra = [] if flag == "--teacher-license" else ["--teacher-license", "mit"]
        lines = cli_error(capsys, *extra, flag, "nope")
        assert flag in lines[0] and "'nope'" in lines[0]
        assert "known:" in lines[-1] and "llama3.1" in lines[-1]


def test_the_library_refuses_bad_facts_too():
    with pytest.raises(ValueError):
        PreflightRequest(teacher_license="mit", mau=-1)
    with pytest.raises(InputError):
        preflight(PreflightRequest(teacher_license="mit", release_license="nope"))


def test_the_facts_are_recorded_in_the_ledger_with_the_verdict(tmp_path):
    import json as _json

    from audit.ledger.store import Store
    from audit.licences.gate import preflight_gate

    store = Store(tmp_path / "ledger.duckdb")
    request = PreflightRequest(
        teacher_license="llama3.3", mau=800_000_000, entity="company", region="FR"
    )
    gate = preflight_gate(store, request)
    assert gate.refused
    (row,) = store.preflights()
    recorded = row["request"] if isinstance(row["request"], dict) else _json.loads(row["request"])
    assert (recorded["mau"], recorded["entity"], recorded["region"]) == (
        800_000_000,
        "company",
        "FR",
    )
    assert row["verdict"] == "blocked" and store.verify().ok
