"""What each report format shows: escaped HTML, extractable PDF text, a valid CycloneDX 1.6 BOM."""

from __future__ import annotations

import io
import json

import pytest

from audit.reports.cyclonedx import render_cyclonedx, validation_error
from audit.reports.html import extract_json, render_html
from audit.reports.lineage import render_lineage, save_lineage
from audit.reports.model import (
    PUBLISHED_CONTEXT,
    DatasetEntry,
    FindingEntry,
    Integrity,
    ModelEntry,
    ObligationEntry,
    OverrideEntry,
    ReportData,
    Subject,
    TrainingEntry,
    Verdict,
    seal,
)
from audit.reports.pdf import render_pdf

EVIL = '<script>alert("pwned")</script>'


def report(verdict: str = "allowed_with_conditions", verify_ok: bool = True) -> ReportData:
    return seal(
        ReportData(
            generated_at="2026-11-29T17:00:00Z",
            subject=Subject(run_id="run123", model="Llama-student"),
            verdict=Verdict(code=verdict, use="commercial"),
            models=[
                ModelEntry(
                    role="teacher", name="llama-3.1-8b", license="llama3.1", weights_sha256="a" * 64
                ),
                ModelEntry(
                    role="student",
                    name="Llama-student",
                    license="llama3.1",
                    weights_sha256="b" * 64,
                ),
            ],
            datasets=[
                DatasetEntry(
                    name=f"prompts {EVIL}",
                    license="cc-by-4.0",
                    records=10_000,
                    merkle_root="c" * 64,
                    source="https://example.org",
                    collected="2026-10-01",
                )
            ],
            findings=[
                FindingEntry(
                    severity="condition",
                    license="llama3.1",
                    clause="s1.b.i",
                    message=f"Name must start with 'Llama' {EVIL}",
                )
            ],
            obligations=[
                ObligationEntry(
                    kind="attribution",
                    text="Display 'Built with Llama'.",
                    license="llama3.1",
                    clause="s1.b.i",
                )
            ],
            overrides=[
                OverrideEntry(
                    reason="Counsel approved.", at="2026-11-29T16:00:00", verdict="blocked"
                )
            ],
            training=TrainingEntry(
                run_id="run123", seed=0, code_version="0.1.0+abc", config={"prompt": EVIL}
            ),
            metrics={"student": {"perplexity": 20.5}},
            integrity=Integrity(
                ledger_head="d" * 64,
                ledger_rows=9,
                verify_ok=verify_ok,
                first_bad_row=None if verify_ok else "findings finding_id=x:0",
                problem=None if verify_ok else "row edited",
            ),
            references=list(PUBLISHED_CONTEXT),
        )
    )


def test_html_escapes_names_and_prompts_and_is_self_contained():
    data = report()
    html = render_html(data, render_lineage(data))
    assert "<script>alert" not in html  # neither in the tables nor in the embedded JSON
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert 'src="data:image/png;base64,' in html
    assert "http://" not in html.replace('href="', "") and "<link" not in html
    assert extract_json(html) == data.model_dump(mode="json")  # names survive exactly
    verdict_at, models_at = html.index("Verdict: allowed with conditions"), html.index("<h2>Models")
    assert verdict_at < models_at  # the answer comes first


def test_html_of_a_broken_ledger_has_a_red_banner_naming_the_row():
    html = render_html(report(verify_ok=False), b"")
    assert 'class="banner broken"' in html and "findings finding_id=x:0" in html


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_pdf_text_is_extractable_with_verdict_clause_and_sign_off():
    data = report()
    pdf = render_pdf(data)
    text = _pdf_text(pdf)
    assert "VERDICT: ALLOWED WITH CONDITIONS" in text
    assert "s1.b.i" in text and "Built with Llama" in text
    assert EVIL in text  # shown as text, exactly
    assert "Legal sign-off" in text and "Reviewer name" in text
    assert data.integrity.content_sha256 in text.replace("\n", " ")


def test_pdf_of_a_broken_ledger_says_so_first():
    text = _pdf_text(render_pdf(report(verify_ok=False)))
    assert text.index("LEDGER VERIFICATION FAILED") < text.index("VERDICT")
    assert "findings finding_id=x:0" in text


def test_cyclonedx_is_valid_1_6_with_model_cards_pedigree_and_obligations():
    doc_text = render_cyclonedx(report(), validate=True)
    assert validation_error(doc_text) is None
    doc = json.loads(doc_text)
    assert doc["specVersion"] == "1.6"
    student = doc["metadata"]["component"]
    assert student["type"] == "machine-learning-model" and "modelCard" in student
    assert [a["name"] for a in student["pedigree"]["ancestors"]] == ["llama-3.1-8b"]
    props = [(p["name"], p["value"]) for p in student["properties"]]
    assert ("stillhouse:verdict", "allowed_with_conditions") in props
    assert any(
        n == "stillhouse:obligation" and "Built with Llama" in v and "s1.b.i" in v for n, v in props
    )
    assert any(n == "stillhouse:finding" and "s1.b.i" in v for n, v in props)
    kinds = {c["name"]: c["type"] for c in doc["components"]}
    assert kinds == {"llama-3.1-8b": "machine-learning-model", f"prompts {EVIL}": "data"}
    teacher = next(c for c in doc["components"] if c["name"] == "llama-3.1-8b")
    assert "modelCard" in teacher and teacher["hashes"][0]["content"] == "a" * 64


def test_cyclonedx_validator_rejects_a_broken_bom():
    doc = json.loads(render_cyclonedx(report()))
    doc["metadata"]["component"]["type"] = "spaceship"
    assert validation_error(json.dumps(doc)) is not None


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_lineage_picture_shows_licences_on_edges(tmp_path, suffix, magic):
    path = save_lineage(report(), tmp_path / f"lineage{suffix}")
    assert path.read_bytes().startswith(magic)
    if suffix == ".svg":
        svg = path.read_text()
        assert "cc-by-4.0" in svg and "llama3.1" in svg and "&lt;script&gt;" in svg
