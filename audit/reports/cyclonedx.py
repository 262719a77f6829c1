"""The report as a CycloneDX 1.6 ML-BOM, for supply-chain scanners.

Built with ``cyclonedx-python-lib``: the teacher(s) and the student are
``machine-learning-model`` components, datasets are ``data`` components, and the
student's ``pedigree.ancestors`` names its teacher(s). No standard field says what a
distilled student inherits, so verdict, findings, obligations (binding or advice, unmet now or
due on release) and overrides travel as ``stillhouse:*`` properties with the clause cited; the
student's licences carry a ``declared`` (the release licence) and ``concluded`` (its base's)
acknowledgement. A dataset's Merkle root is the ``stillhouse:merkle_root`` property, never a
hash: only a real file SHA-256 goes in ``hashes``, so re-hashing the file matches. The
pre-flight as ``declarations`` (an attestation awaiting sign-off) and the training run as
``formulation`` come from ``audit.reports.cyclonedx_extras``. The library has no model for
``modelCard`` or ``data`` blocks, so those are added to its JSON output; ``validation_error`` checks
the
result against the 1.6 schema with the library's own validator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from audit.reports.model import DatasetEntry, ModelEntry, ReportData, flat_metrics
from core.errors import IntegrityError

PREFIX = "stillhouse"


def _licence(license_id: str | None, concluded: str | None = None) -> list:
    """The declared licence (and, for the student, the concluded one) with its acknowledgement."""
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.license import LicenseAcknowledgement

    found = []
    for value, kind in ((license_id, "DECLARED"), (concluded, "CONCLUDED")):
        if value:
            licence = LicenseFactory().make_from_string(value)
            licence.acknowledgement = getattr(LicenseAcknowledgement, kind)
            found.append(licence)
    return found


def _hashes(value: str | None) -> list:
    from cyclonedx.model import HashAlgorithm, HashType

    if value and len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower()):
        return [HashType(alg=HashAlgorithm.SHA_256, content=value.lower())]
    return []


def _props(pairs: Sequence[tuple[str, object]]) -> list:
    from cyclonedx.model import Property

    return [Property(name=f"{PREFIX}:{k}", value=str(v)) for k, v in pairs if v not in (None, "")]


def _model(
    m: ModelEntry,
    ref: str,
    extra: Sequence[tuple[str, object]] = (),
    declared: str | None = None,
) -> Any:
    from cyclonedx.model.component import Component, ComponentType

    pairs: list[tuple[str, object]] = [
        ("role", m.role),
        ("license", m.license),
        ("source", m.source),
        ("hf_id", m.hf_id),
        ("revision", m.revision),
        ("parameters", m.parameters),
        ("base_model", m.base_model),
        *extra,
    ]
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=m.name,
        bom_ref=ref,
        version=m.revision,
        hashes=_hashes(m.weights_sha256),
        licenses=_licence(declared or m.license, m.license if declared else None),
        properties=_props(pairs),
    )


def _dataset(d: DatasetEntry) -> Any:
    from cyclonedx.model.component import Component, ComponentType

    pairs: list[tuple[str, object]] = [
        ("role", d.role),
        ("license", d.license),
        ("source", d.source),
        ("collected", d.collected),
        ("records", d.records),
        ("merkle_root", d.merkle_root),
        ("file_sha256", d.sha256 if d.sha256 != d.merkle_root else None),
        ("fingerprint", d.fingerprint),
    ]
    return Component(
        type=ComponentType.DATA,
        name=d.name,
        bom_ref=f"data:{d.name}",
        hashes=_hashes(d.sha256 if d.sha256 != d.merkle_root else None),
        licenses=_licence(d.license),
        properties=_props(pairs),
    )


def _inheritance(data: ReportData) -> list[tuple[str, object]]:
    """Verdict, findings, obligations and overrides as (name, value) property pairs."""
    pairs: list[tuple[str, object]] = [
        ("verdict", data.verdict.code),
        ("verdict:headline", data.verdict.headline),
        ("verdict:use", data.verdict.use),
    ]
    for f in data.findings:
        pairs.append(
            ("finding", f"{f.severity} | {f.license} {f.clause or 'no clause'} | {f.message}")
        )
    for o in data.obligations:
        cite = " ".join(x for x in (o.license, o.clause) if x)
        status = "unmet now" if o.unmet else f"due {o.when.replace('_', ' ')}"
        binding = "binding" if o.binding else "advice"
        pairs.append(
            (
                "obligation",
                f"{o.source or o.kind} | {status} | {binding} | {o.text}"
                + (f" | {cite}" if cite else ""),
            )
        )
    kb = data.legal_basis.knowledge_base
    pairs += [
        ("knowledge_base:commit", kb.get("commit")),
        ("knowledge_base:sha256", kb.get("sha256")),
    ]
    pairs += [
        (f"preflight:{k}", v) for k, v in data.legal_basis.inputs.items() if v not in (None, [])
    ]
    for over in data.overrides:
        pairs.append(
            ("override", f"{over.at or ''} | overrode {over.verdict or ''} | {over.reason}")
        )
    return pairs


def _integrity(data: ReportData) -> list[tuple[str, object]]:
    i = data.integrity
    return [
        ("report:schema_version", data.schema_version),
        ("report:generated_at", data.generated_at),
        ("report:run_id", data.subject.run_id),
        ("report:model", data.subject.model),
        ("report:content_sha256", i.content_sha256),
        ("report:facts_sha256", i.facts_sha256),
        ("ledger:head", i.ledger_head),
        ("ledger:rows", i.ledger_rows),
        ("ledger:verify_ok", str(i.verify_ok).lower()),
        ("ledger:first_bad_row", i.first_bad_row),
        ("ledger:problem", i.problem),
    ]


def build_bom(data: ReportData) -> Any:
    """The ``cyclonedx.model.bom.Bom`` for a report (before model cards are added)."""
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Pedigree

    teachers = [_model(m, f"model:{m.name}") for m in data.role("teacher")]
    others = [
        _model(m, f"model:{m.name}") for m in data.models if m.role not in ("teacher", "student")
    ]
    datasets = [_dataset(d) for d in data.datasets]
    students = data.role("student") or [
        ModelEntry(role="student", name=data.subject.model or "unknown")
    ]
    ancestors = [_model(m, f"ancestor:{m.name}") for m in data.role("teacher")]
    release = data.legal_basis.inputs.get("release_license")
    student = _model(students[0], f"model:{students[0].name}", _inheritance(data), declared=release)
    student.pedigree = Pedigree(
        ancestors=ancestors, notes="Distilled from the ancestor model(s) listed here."
    )
    bom = Bom(metadata=BomMetaData(component=student, properties=_props(_integrity(data))))
    for component in (*teachers, *others, *datasets):
        bom.components.add(component)
    bom.register_dependency(student, [*teachers, *others, *datasets])
    return bom


def _model_card(data: ReportData, entry: ModelEntry) -> dict[str, Any]:
    card: dict[str, Any] = {
        "modelParameters": {
            "task": "text-generation",
            "architectureFamily": "transformer",
            "datasets": [{"ref": f"data:{d.name}"} for d in data.datasets],
        }
    }
    if entry.role == "student":
        card["modelParameters"]["approach"] = {"type": "supervised"}
        metrics = [{"type": name, "value": value} for name, value in flat_metrics(data.metrics)]
        if metrics:
            card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
        card["considerations"] = {
            "useCases": [
                f"{data.verdict.use or 'unspecified'} use; pre-flight verdict "
                f"{data.verdict.code}: {data.verdict.headline}"
            ],
        }
    else:
        card["modelParameters"].pop("datasets")
    return card


def _data_block(d: DatasetEntry) -> list[dict[str, Any]]:
    block: dict[str, Any] = {
        "type": "dataset",
        "name": d.name,
        "description": f"{d.records if d.records is not None else 'unknown'} "
        f"records, licence {d.license}, collected {d.collected or 'unknown'}",
    }
    if d.source:
        block["contents"] = {"url": d.source}
    return [block]


def render_cyclonedx(data: ReportData, validate: bool = False) -> str:
    """CycloneDX 1.6 JSON text; with ``validate`` it is checked against the 1.6 schema first.

    Validation is off by default because importing the validator (jsonschema's format
    checkers) costs seconds per process; the test suite validates every shape we emit, and
    ``verify-report`` validates the file it is given.
    """
    from cyclonedx.output.json import JsonV1Dot6

    doc = json.loads(JsonV1Dot6(build_bom(data)).output_as_string())
    entries = {f"model:{m.name}": m for m in data.models}
    datasets = {f"data:{d.name}": d for d in data.datasets}
    student = doc["metadata"]["component"]
    if student["bom-ref"] in entries:
        student["modelCard"] = _model_card(data, entries[student["bom-ref"]])
    for component in doc.get("components", []):
        ref = component.get("bom-ref")
        if ref in entries:
            component["modelCard"] = _model_card(data, entries[ref])
        elif ref in datasets:
            component["data"] = _data_block(datasets[ref])
    from audit.reports.cyclonedx_extras import add_declarations, add_formulation

    add_declarations(doc, data, student["bom-ref"])
    add_formulation(doc, data, student["bom-ref"])
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    problem = validation_error(text) if validate else None
    if problem:
        raise IntegrityError("bad_cyclonedx", f"CycloneDX output failed 1.6 validation: {problem}")
    return text


def validation_error(text: str) -> str | None:
    """None when ``text`` is valid CycloneDX 1.6 JSON, else the validator's message."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)[:500]


def bom_properties(doc: dict[str, Any]) -> dict[str, str]:
    """The ``stillhouse:`` metadata properties of a CycloneDX report, prefix removed."""
    props = doc.get("metadata", {}).get("properties", [])
    return {
        p["name"][len(PREFIX) + 1 :]: p["value"]
        for p in props
        if p.get("name", "").startswith(f"{PREFIX}:")
    }
