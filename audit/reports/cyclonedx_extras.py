"""CycloneDX 1.6 blocks the library does not model: sign-off declarations and formulation.

``add_declarations`` states the pre-flight as an attestation: the knowledge base is the
standard (its SHA-256 as the version), each licence question a requirement, the verdict a
claim on the student, each finding evidence; the affirmation waits for a person's signature
(an override's written reason is recorded beside it). ``add_formulation`` describes the run
that made the student: a ``build`` workflow whose inputs are the teacher(s) and datasets and
whose output is the student, with seed, code version and config as properties.

    doc = json.loads(bom_json); add_declarations(doc, data); add_formulation(doc, data)
"""

from __future__ import annotations

import json
from typing import Any

from audit.reports.model import ReportData

PREFIX = "stillhouse"


def _prop(name: str, value: object) -> dict[str, str]:
    return {"name": f"{PREFIX}:{name}", "value": str(value)}


def add_declarations(doc: dict[str, Any], data: ReportData, student_ref: str) -> None:
    kb = data.legal_basis.knowledge_base
    standard_ref = "standard:stillhouse-licence-preflight"
    requirement = {
        "bom-ref": "requirement:licence-preflight",
        "identifier": "licence-preflight",
        "title": "Teacher, data and base licences permit this student and its use",
        "text": "Every teacher, dataset and base licence allows training this student on the "
        "teacher's outputs for the stated use, and the student's obligations are listed.",
    }
    doc["definitions"] = {
        "standards": [
            {
                "bom-ref": standard_ref,
                "name": "stillhouse licence knowledge base",
                "version": str(kb.get("sha256") or "unknown"),
                "description": f"data/licences at commit {kb.get('commit') or 'unknown'}",
                "requirements": [requirement],
            }
        ]
    }
    evidence = [
        {
            "bom-ref": f"evidence:finding-{i}",
            "propertyName": f"{PREFIX}:finding",
            "description": f"{f.severity} | {f.license} {f.clause or 'no clause'} | {f.message}"
            + ("" if f.verified else " | NOT VERIFIED against the licence text"),
        }
        for i, f in enumerate(data.findings)
    ]
    claim: dict[str, Any] = {
        "bom-ref": "claim:preflight-verdict",
        "target": student_ref,
        "predicate": f"licence pre-flight verdict: {data.verdict.code}",
        "reasoning": data.verdict.headline,
        "evidence": [e["bom-ref"] for e in evidence],
    }
    unmet = [o.text for o in data.obligations if o.unmet]
    if unmet:
        claim["reasoning"] = f"{data.verdict.headline} Unmet now: {'; '.join(unmet)}"
    declarations: dict[str, Any] = {
        "assessors": [
            {
                "bom-ref": "assessor:stillhouse-preflight",
                "thirdParty": False,
                "organization": {"name": "stillhouse pre-flight (automated, not legal advice)"},
            }
        ],
        "attestations": [
            {
                "summary": "Automated licence pre-flight; a person must sign off before release.",
                "assessor": "assessor:stillhouse-preflight",
                "map": [{"requirement": requirement["bom-ref"], "claims": [claim["bom-ref"]]}],
            }
        ],
        "claims": [claim],
        "evidence": evidence,
        "affirmation": {
            "statement": "NOT YET SIGNED: to be affirmed by the person responsible for release "
            "after legal review. "
            + "; ".join(f"Override recorded: {o.reason}" for o in data.overrides)
        },
    }
    if not evidence:
        declarations.pop("evidence")
        claim.pop("evidence")
    doc["declarations"] = declarations


def add_formulation(doc: dict[str, Any], data: ReportData, student_ref: str) -> None:
    run = data.training
    if run is None:
        return
    inputs = [{"resource": {"ref": f"model:{m.name}"}} for m in data.role("teacher")]
    inputs += [{"resource": {"ref": f"data:{d.name}"}} for d in data.datasets]
    workflow: dict[str, Any] = {
        "bom-ref": f"workflow:{run.run_id}",
        "uid": run.run_id,
        "name": f"stillhouse {run.kind}",
        "description": "Distillation run that made the student, as recorded in the ledger.",
        "taskTypes": ["build"],
        "outputs": [{"resource": {"ref": student_ref}}],
        "properties": [
            _prop(name, value)
            for name, value in (
                ("run:status", run.status),
                ("run:seed", run.seed),
                ("run:code_version", run.code_version),
                ("run:config", json.dumps(run.config, sort_keys=True, default=str)),
            )
            if value not in (None, "")
        ],
    }
    if inputs:
        workflow["inputs"] = inputs
    if run.started_at:
        workflow["timeStart"] = _iso(run.started_at)
    if run.finished_at:
        workflow["timeEnd"] = _iso(run.finished_at)
    doc["formulation"] = [{"bom-ref": f"formula:{run.run_id}", "workflows": [workflow]}]


def _iso(stamp: str) -> str:
    text = stamp.replace(" ", "T")
    return text if text.endswith("Z") or "+" in text[10:] else text + "Z"
