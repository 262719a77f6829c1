"""Reports built from a real DuckDB ledger: the facts, the integrity check, bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from audit.ledger.store import Store
from audit.reports.export import build_report, export_report, render_report, verify_report
from audit.reports.model import content_sha256
from core.errors import InputError, NotFoundError
from tests.unit.report_helpers import EVIL, STUDENT_SHA, TEACHER_SHA, make_ledger


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One ledger built through the public API; each test gets its own copy of the file."""
    folder = tmp_path_factory.mktemp("template")
    return folder, make_ledger(folder)[1]


@pytest.fixture
def ledger(template, tmp_path):
    folder, run_id = template
    shutil.copy(folder / "ledger.duckdb", tmp_path / "ledger.duckdb")
    return Store(tmp_path / "ledger.duckdb"), run_id


def test_report_carries_every_fact_a_lawyer_asks_for(ledger):
    store, run_id = ledger
    data = build_report(store, run_id=run_id)
    assert data.verdict.code == "allowed_with_conditions" and data.verdict.use == "commercial"
    assert "obligation" in data.verdict.headline
    (teacher,) = data.role("teacher")
    (student,) = data.role("student")
    assert (teacher.name, teacher.license, teacher.weights_sha256) == (
        "llama-teacher",
        "llama3.1",
        TEACHER_SHA,
    )
    assert teacher.hf_id == "meta/llama-teacher"
    assert (student.name, student.weights_sha256, student.base_model, student.parameters) == (
        "MyBot",
        STUDENT_SHA,
        "llama-teacher",
        57_000_000,
    )
    prompts, answers = data.datasets
    assert (prompts.license, prompts.source, prompts.collected, prompts.records) == (
        "cc-by-4.0",
        "https://example.org/prompts",
        "2026-10-01",
        20,
    )
    assert prompts.merkle_root == store.datasets()[0]["merkle_root"]
    assert "registered" in prompts.fingerprint
    (naming,) = [
        f for f in data.findings if f.severity == "condition"
    ]  # the real pre-flight: a Llama 3.1 student must be named "Llama..."
    assert (naming.license, naming.clause) == ("llama3.1", "1.b.i") and "Llama" in naming.message
    assert any("Built with Llama" in o.text and o.clause == "1.b.i" for o in data.obligations)
    assert {o.source for o in data.obligations} == {"teacher", "data"}
    assert data.training.seed == 7 and data.training.code_version == "0.1.0+test"
    assert data.training.config["loss"] == "forward_kl"
    assert [(f.name, f.sha256) for f in data.training.files] == [("evaluation.json", "3" * 64)]
    assert data.metrics["kl_reduction"] == 0.41
    assert data.similarity[0].risk == "high" and data.similarity[0].p_value == 0.004
    assert data.integrity.ledger_head == store.head_hash() and data.integrity.verify_ok
    assert data.integrity.content_sha256 == content_sha256(data)


def test_unregistered_data_is_fingerprinted_at_export_and_a_changed_file_is_flagged(tmp_path):
    from audit.ledger.fingerprints import dataset_fingerprint

    store, run_id = make_ledger(tmp_path)  # its own files: this test edits one
    data = build_report(store, run_id=run_id)
    answers = data.datasets[1]
    assert answers.merkle_root == dataset_fingerprint(answers.path).merkle_root
    assert "unchanged since the run" in answers.fingerprint
    path = export_report(data, "json", tmp_path / "r.json")
    with open(answers.path, "a") as handle:
        handle.write('{"id": 999, "prompt": "slipped in later"}\n')
    changed = build_report(store, run_id=run_id).datasets[1]
    assert changed.merkle_root is None and "CHANGED" in changed.fingerprint
    assert verify_report(store, path).status == "stale"


def test_report_by_model_name_finds_the_run_that_made_it(ledger):
    store, run_id = ledger
    data = build_report(store, model="MyBot")
    assert data.subject.run_id == run_id and data.subject.model == "MyBot"


def test_override_reason_and_time_are_reported(tmp_path):
    store, run_id = make_ledger(
        tmp_path, teacher_license="openai-terms", override="Counsel approved research use."
    )
    data = build_report(store, run_id=run_id)
    assert data.verdict.code == "blocked" and data.verdict.overridden
    (override,) = data.overrides
    assert override.reason == "Counsel approved research use." and override.verdict == "blocked"
    assert override.at and override.at.startswith("20")


def test_arena_votes_for_the_student_are_counted(ledger):
    store, run_id = ledger
    for i, vote in enumerate(["a", "a", "b", "tie"]):
        store.record_vote(
            {"battle_id": f"b{i}", "model_a": "MyBot", "model_b": "llama-teacher", "vote": vote}
        )
    arena = {a.model: a for a in build_report(store, run_id=run_id).arena}
    assert (arena["MyBot"].wins, arena["MyBot"].losses, arena["MyBot"].ties) == (2, 1, 1)
    assert arena["llama-teacher"].wins == 1 and arena["llama-teacher"].battles == 4


@pytest.mark.parametrize(
    "kwargs, error, needle",
    [
        ({"run_id": "nope"}, NotFoundError, "nope"),
        ({"model": "ghost"}, NotFoundError, "llama-teacher"),
        ({}, InputError, "--run"),
    ],
)
def test_unknown_subject_is_a_clear_error(ledger, kwargs, error, needle):
    store, _ = ledger
    with pytest.raises(error) as caught:
        build_report(store, **kwargs)
    assert needle in str(caught.value)


@pytest.mark.parametrize("fmt", ["json", "html", "pdf", "cyclonedx"])
def test_fresh_report_matches_the_ledger(ledger, tmp_path, fmt):
    store, run_id = ledger
    path = export_report(build_report(store, run_id=run_id), fmt, tmp_path / f"report.{fmt}")
    check = verify_report(store, path)
    assert check.ok and check.status == "matches", check.messages
    assert check.content_intact is (None if fmt == "cyclonedx" else True)


def test_new_evidence_makes_a_report_stale_but_not_tampered(ledger, tmp_path):
    store, run_id = ledger
    path = export_report(build_report(store, run_id=run_id), "json", tmp_path / "r.json")
    store.record_vote(
        {"battle_id": "late", "model_a": "MyBot", "model_b": "llama-teacher", "vote": "b"}
    )
    check = verify_report(store, path)
    assert not check.ok and check.status == "stale" and check.newer_events == 1
    assert check.content_intact is True


def test_unrelated_ledger_writes_keep_a_report_current(ledger, tmp_path):
    store, run_id = ledger
    path = export_report(build_report(store, run_id=run_id), "html", tmp_path / "r.html")
    store.record_report(format="html", path=path, sha256="0" * 64, run_id=run_id)
    check = verify_report(store, path)
    assert check.ok and check.newer_events == 1 and not check.head_current


def test_an_edited_report_is_caught(ledger, tmp_path):
    store, run_id = ledger
    path = export_report(build_report(store, run_id=run_id), "json", tmp_path / "r.json")
    doc = json.loads(path.read_text())
    doc["verdict"]["code"] = "allowed"
    path.write_text(json.dumps(doc))
    check = verify_report(store, path)
    assert not check.ok and check.status == "tampered" and check.content_intact is False


def _edit_a_finding(store) -> None:
    import duckdb

    con = duckdb.connect(str(store.path))
    con.execute("UPDATE findings SET message = 'nothing to see' WHERE clause = '1.b.i'")
    con.close()


def test_a_broken_ledger_still_exports_with_the_broken_row_named(ledger, tmp_path):
    store, run_id = ledger
    good = export_report(build_report(store, run_id=run_id), "json", tmp_path / "before.json")
    _edit_a_finding(store)
    data = build_report(store, run_id=run_id)
    assert not data.integrity.verify_ok and "findings" in data.integrity.first_bad_row
    html = export_report(data, "html", tmp_path / "r.html").read_text()
    assert "LEDGER VERIFICATION FAILED" in html and data.integrity.first_bad_row in html
    check = verify_report(store, good)
    assert not check.ok and check.status == "ledger_broken" and not check.ledger_ok


def test_missing_folder_is_a_clear_error_and_leaves_nothing(ledger, tmp_path):
    store, run_id = ledger
    data = build_report(store, run_id=run_id)
    with pytest.raises(InputError, match="does not exist"):
        export_report(data, "pdf", tmp_path / "no" / "such" / "report.pdf")
    assert not (tmp_path / "no").exists()
    with pytest.raises(InputError, match="folder"):
        export_report(data, "pdf", tmp_path)


def test_a_failed_export_keeps_the_old_file_and_leaves_no_temp_file(ledger, tmp_path):
    store, run_id = ledger
    data = build_report(store, run_id=run_id)
    old = tmp_path / "r.pdf"
    old.write_bytes(b"previous report")
    with pytest.raises(InputError, match="format"):
        export_report(data, "docx", old)
    assert old.read_bytes() == b"previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.duckdb", "r.pdf"]


def test_json_report_escapes_nothing_and_keeps_names_exact(ledger, tmp_path):
    store, run_id = ledger
    path = export_report(build_report(store, run_id=run_id), "json", tmp_path / "r.json")
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == "stillhouse.report/1"
    assert doc["datasets"][0]["name"] == f"prompts {EVIL}"


def test_real_similarity_evidence_shows_risk_reasons_and_copied_spans(ledger, tmp_path):
    from audit.similarity.schema import SimilarityConfig
    from audit.similarity.score import record_report, score_texts

    store, run_id = ledger
    copied = f"{EVIL} " + " ".join(f"word{i}" for i in range(60))
    reference = [
        {"prompt_id": str(i), "text": copied if i == 0 else f"teacher answer {i} about tea"}
        for i in range(6)
    ]
    candidate = [
        {"prompt_id": str(i), "text": copied if i == 0 else f"teacher answer {i} about tea"}
        for i in range(6)
    ]
    baseline = [{"prompt_id": str(i), "text": f"something unrelated number {i}"} for i in range(6)]
    config = SimilarityConfig(
        metrics=["rougeL", "longest_run"], primary_metric="rougeL", permutations=1000
    )
    result = score_texts(
        reference,
        candidate,
        {"other": baseline},
        config=config,
        names={"reference": "llama-teacher", "candidate": "MyBot"},
    )
    record_report(store, result, run_id=run_id)
    evidence = build_report(store, run_id=run_id).similarity[-1]
    assert evidence.risk == result.risk.level and evidence.baselines == ["other"]
    assert any("verbatim run" in r for r in evidence.reasons)
    (example,) = evidence.examples
    assert example.startswith("verbatim, ") and EVIL in example
    html = export_report(
        build_report(store, run_id=run_id), "html", tmp_path / "r.html"
    ).read_text()
    assert "<script>alert" not in html and "verbatim, " in html


def test_report_states_its_legal_basis(ledger):
    store, run_id = ledger
    data = build_report(store, run_id=run_id)
    basis = data.legal_basis
    assert "not legal advice" in basis.notice.lower()
    assert len(basis.knowledge_base["sha256"]) == 64 and basis.knowledge_base["files"] >= 22
    assert basis.inputs["mau"] == 50_000 and basis.inputs["region"] == "US"
    assert all(isinstance(f.verified, bool) for f in data.findings)
    unmet = [o for o in data.obligations if o.unmet]
    assert [o.clause for o in unmet] == ["1.b.i"]  # "MyBot" already breaks the naming rule
    assert any(o.when == "on_release" and not o.unmet for o in data.obligations)
    assert "NOTICE for MyBot" in basis.notice_file and "DRAFT" in basis.notice_file
    assert "compet" in basis.similarity_plain
    assert render_report(data, "notice").decode() == basis.notice_file
    html = render_report(data, "html").decode()
    for words in (
        "Not legal advice",
        "Unmet now",
        "Due on release",
        basis.knowledge_base["sha256"],
    ):
        assert words in html
    assert 'download="NOTICE"' in html


def test_cyclonedx_carries_signoff_formulation_acknowledgement_and_no_merkle_hash(ledger):
    from audit.reports.cyclonedx import render_cyclonedx

    store, run_id = ledger
    data = build_report(store, run_id=run_id)
    doc = json.loads(render_cyclonedx(data, validate=True))
    student = doc["metadata"]["component"]
    assert {lic["license"].get("acknowledgement") for lic in student["licenses"]} == {"declared"}
    assert "technicalLimitations" not in json.dumps(doc)
    obligations = [
        p["value"] for p in student["properties"] if p["name"] == "stillhouse:obligation"
    ]
    assert any("unmet now" in o for o in obligations) and any(
        "due on release" in o for o in obligations
    )
    (attestation,) = doc["declarations"]["attestations"]
    assert attestation["map"][0]["claims"] == ["claim:preflight-verdict"]
    assert "NOT YET SIGNED" in doc["declarations"]["affirmation"]["statement"]
    (workflow,) = doc["formulation"][0]["workflows"]
    assert (
        workflow["uid"] == run_id
        and workflow["outputs"][0]["resource"]["ref"] == student["bom-ref"]
    )
    merkle = {d.merkle_root for d in data.datasets if d.merkle_root}
    hashes = {h["content"] for c in doc["components"] for h in c.get("hashes", [])}
    assert merkle and not merkle & hashes
    for component in doc["components"]:
        if component["type"] == "data":
            names = {p["name"] for p in component["properties"]}
            assert "stillhouse:merkle_root" in names


def test_pdf_prints_the_legal_basis_and_the_split(ledger):
    import io

    from pypdf import PdfReader

    store, run_id = ledger
    data = build_report(store, run_id=run_id)
    pdf = render_report(data, "pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    for words in (
        "not legal advice",
        "Knowledge base SHA-256",
        data.legal_basis.knowledge_base["sha256"][:16],
        "mau = 50000",
        "region = US",
        "Obligations unmet now",
        "Obligations due on release",
        "Draft NOTICE for the student",
        "Verified",
    ):
        assert words in text, words
