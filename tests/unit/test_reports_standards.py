"""SPDX 3.0 (AI and Dataset profiles) and the EU AI Act training-content summary: valid, complete
where the ledger knows, marked for a person where it does not, and fast on a 10,000-record run."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from audit.ledger.store import Store
from audit.reports.export import FORMATS, build_report, render_report
from audit.reports.spdx import license_expression, validation_problems
from tests.unit.report_helpers import TEACHER_SHA, make_ledger


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standards")
    return folder, make_ledger(folder)[1]


@pytest.fixture
def data(template, tmp_path):
    folder, run_id = template
    shutil.copy(folder / "ledger.duckdb", tmp_path / "ledger.duckdb")
    return build_report(Store(tmp_path / "ledger.duckdb"), run_id=run_id)


def graph(text: str) -> list[dict]:
    return json.loads(text)["@graph"]


def test_spdx_is_valid_with_ai_and_dataset_profiles(data):
    text = render_report(data, "spdx").decode()
    assert validation_problems(text) == []
    items = graph(text)
    (document,) = [g for g in items if g["type"] == "SpdxDocument"]
    assert {"ai", "dataset"} <= set(document["profileConformance"])
    models = {g["name"]: g for g in items if g["type"] == "ai_AIPackage"}
    assert set(models) == {"llama-teacher", "MyBot"}
    assert models["llama-teacher"]["verifiedUsing"][0]["hashValue"] == TEACHER_SHA
    datasets = [g for g in items if g["type"] == "dataset_DatasetPackage"]
    assert {d["dataset_datasetType"][0] for d in datasets} == {"text"}
    kinds = {g["relationshipType"] for g in items if g["type"] == "Relationship"}
    assert {"trainedOn", "descendantOf", "generates", "hasDeclaredLicense"} <= kinds
    assert "hasConcludedLicense" in kinds


def test_spdx_keeps_merkle_roots_out_of_hashes_and_carries_the_inheritance(data):
    items = graph(render_report(data, "spdx").decode())
    hashes = {h["hashValue"] for g in items for h in g.get("verifiedUsing", [])}
    roots = {d.merkle_root for d in data.datasets if d.merkle_root}
    assert roots and not roots & hashes
    notes = [g["statement"] for g in items if g["type"] == "Annotation"]
    assert any(n.startswith("stillhouse:merkle_root") for n in notes)
    assert any("stillhouse:obligation unmet now" in n and "1.b.i" in n for n in notes)
    assert any(n.startswith("stillhouse:finding") and "verified" in n for n in notes)
    expressions = {
        g["simplelicensing_licenseExpression"]
        for g in items
        if "simplelicensing_licenseExpression" in g
    }
    assert {"LicenseRef-llama3.1", "CC-BY-4.0"} <= expressions


def test_spdx_validation_catches_a_broken_file(data):
    text = render_report(data, "spdx").decode()
    doc = json.loads(text)
    relation = next(g for g in doc["@graph"] if g["type"] == "Relationship")
    relation.pop("relationshipType")
    assert validation_problems(json.dumps(doc))
    assert license_expression("Llama 3.1!") == "LicenseRef-llama-3.1"


def test_eu_ai_act_summary_follows_the_template_and_marks_the_unknown(data):
    text = render_report(data, "eu-ai-act").decode()
    for heading in (
        "## 1. General information",
        "### 1.1 Provider identification",
        "### 1.2 Model identification",
        "### 1.3 Modalities",
        "## 2. List of data sources",
        "### 2.1 Publicly available datasets",
        "### 2.2 Private",
        "### 2.3 Data crawled",
        "### 2.4 User data",
        "### 2.5 Synthetic data",
        "### 2.6 Other sources",
        "## 3. Data processing aspects",
        "### 3.1 Respect of reservation of rights",
        "### 3.2 Removal of illegal content",
    ):
        assert heading in text
    assert "Article 53(1)(d)" in text and "TO COMPLETE" in text
    synthetic = text.split("### 2.5 Synthetic data")[1].split("### 2.6")[0]
    assert "Synthetic data used: yes" in synthetic and "llama-teacher" in synthetic
    assert "&lt;script>" in text and "<script>" not in text
    for d in data.datasets:
        assert f"`{d.merkle_root}`" in text if d.merkle_root else True


def test_every_format_exports_a_10000_record_run_within_two_seconds(tmp_path):
    store, run_id = make_ledger(tmp_path, records=10_000)
    data = build_report(store, run_id=run_id)
    for format in FORMATS:  # first call per format pays for imports (reportlab, matplotlib)
        render_report(data, format)
    slowest = 0.0
    for format in FORMATS:
        start = time.perf_counter()
        assert render_report(data, format)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest <= 2.0, f"slowest format took {slowest:.2f} s"


def test_a_ledger_from_before_the_facts_still_reports(data):
    """Pre-flights recorded before obligations had binding/when (plain strings) still export."""
    from audit.reports.legal import legal_basis
    from audit.reports.sources import obligations_from

    data.obligations = obligations_from(["Keep the NOTICE file."])
    basis = legal_basis(data, {"teacher_license": "apache-2.0"}, {"verdict": "allowed"})
    assert "Keep the NOTICE file." in basis.notice_file
    assert basis.knowledge_base["sha256"] and "as of export" in basis.knowledge_base["note"]
    assert basis.inputs == {"teacher_license": "apache-2.0"}
    for format in FORMATS:
        assert render_report(data, format)
