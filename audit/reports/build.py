"""Build the facts of one run or model from the ledger: the report model every format renders.

    from audit.ledger.store import Store
    from audit.reports.build import build_report

    data = build_report(Store(), run_id="3f2a9c1d0b7e")   # or model="my-student"

A ledger that fails ``verify`` still builds, with the broken row named in ``integrity``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast, get_args

from audit.reports.legal import legal_basis
from audit.reports.model import (
    PUBLISHED_CONTEXT,
    DatasetEntry,
    FileEntry,
    FindingEntry,
    Integrity,
    ModelEntry,
    ObligationEntry,
    OverrideEntry,
    ReportData,
    SimilarityEntry,
    Subject,
    TrainingEntry,
    Verdict,
    VerdictCode,
    seal,
)
from audit.reports.sources import arena_entries, dataset_entry, obligations_from, similarity_entry
from core.errors import InputError, NotFoundError


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _find_run_for_model(store: Any, model: str) -> str | None:
    """The latest run whose outputs include a model of this name."""
    for run in reversed(store.runs()):
        outputs = store.run(run["run_id"])["outputs"]
        if any(
            o.get("name") == model and o.get("kind") in ("model", "checkpoint") for o in outputs
        ):
            return run["run_id"]
    return None


def _model_entry(
    ref: dict[str, Any], registered: dict[str, dict[str, Any]], role: str
) -> ModelEntry:
    known = registered.get(ref.get("name") or "", {})
    details = {**(known.get("details") or {}), **(ref.get("details") or {})}
    details = {
        **(details.get("spec") or {}),
        **details,
    }  # the engine records the ModelSpec as "spec"
    config = known.get("config") or {}
    return ModelEntry(
        role=role,
        name=ref.get("name") or "unnamed",
        license=ref.get("license") or known.get("license") or "unknown",
        source=known.get("source") or details.get("source"),
        hf_id=known.get("hf_id") or details.get("hf_id"),
        revision=details.get("revision"),
        weights_sha256=ref.get("sha256") or known.get("weights_sha256"),
        parameters=details.get("parameters") or config.get("num_parameters"),
        base_model=details.get("base_model"),
        registered_at=known.get("registered_at"),
    )


def _lineage(store: Any, run: dict[str, Any]) -> tuple[list[ModelEntry], list[DatasetEntry]]:
    registered = {m["name"]: m for m in store.models()}
    datasets_known = store.datasets()
    models: list[ModelEntry] = []
    datasets: list[DatasetEntry] = []
    for ref in [*run["inputs"], *run["outputs"]]:
        if ref.get("kind") == "dataset":
            datasets.append(dataset_entry(ref, datasets_known))
        elif ref.get("kind") in ("model", "checkpoint"):
            role = ref.get("role") or ("student" if ref["direction"] == "output" else "teacher")
            if ref["direction"] == "output" and role not in ("teacher", "student_base"):
                role = "student"
            models.append(_model_entry(ref, registered, role))
    teachers = [m.name for m in models if m.role == "teacher"]
    for m in models:
        if m.role == "student" and not m.base_model and teachers:
            m.base_model = teachers[0]
    return models, datasets


def _verdict_and_findings(run: dict[str, Any]) -> tuple[Verdict, list, list, list]:
    preflights = run.get("preflights") or []
    result = (preflights[-1].get("result") or {}) if preflights else {}
    request = (preflights[-1].get("request") or {}) if preflights else {}
    code = preflights[-1]["verdict"] if preflights else "unknown"
    code = cast(VerdictCode, code if code in get_args(VerdictCode) else "unknown")
    overrides = [
        OverrideEntry(
            reason=o["reason"],
            at=o.get("created_at"),
            verdict=o.get("verdict"),
            run_id=o.get("run_id"),
        )
        for o in run.get("overrides") or []
    ]
    verdict = Verdict(
        code=code, use=request.get("use") or result.get("use"), overridden=bool(overrides)
    )
    recorded = {
        (f.get("license"), f.get("message")): f
        for f in result.get("findings") or []
        if isinstance(f, dict)
    }
    findings = [
        FindingEntry(
            severity=f.get("severity") or "info",
            license=f.get("license") or "",
            clause=f.get("clause") or "",
            message=f.get("message") or "",
            verified=bool(
                recorded.get((f.get("license"), f.get("message")), {}).get("verified", True)
            ),
            missing=recorded.get((f.get("license"), f.get("message")), {}).get("missing"),
        )
        for f in run.get("findings") or []
    ]
    obligations: list[ObligationEntry] = obligations_from(result.get("obligations") or [])
    return verdict, findings, obligations, overrides


def _integrity(store: Any) -> Integrity:
    result = store.verify()
    return Integrity(
        ledger_head=result.head_hash,
        ledger_rows=result.rows,
        verify_ok=result.ok,
        first_bad_row=result.first_bad_row,
        problem=result.problem,
        checkpoint=store.latest_checkpoint(),
    )


def _training(run: dict[str, Any]) -> TrainingEntry:
    files = [
        FileEntry(
            role=a.get("role") or "file",
            name=a.get("name") or "",
            direction=a["direction"],
            sha256=a.get("sha256"),
            path=a.get("path"),
        )
        for a in [*run["inputs"], *run["outputs"]]
        if a.get("kind") == "file"
    ]
    return TrainingEntry(
        run_id=run["run_id"],
        kind=run.get("kind") or "distill",
        status=run.get("status"),
        started_at=run.get("started_at"),
        finished_at=run.get("finished_at"),
        seed=run.get("seed"),
        code_version=run.get("code_version"),
        config=run.get("config") or {},
        files=files,
    )


def _resolve_subject(
    store: Any, run_id: str | None, model: str | None
) -> tuple[str | None, str | None]:
    if not run_id and not model:
        raise InputError(
            "report_subject", "say what the report is about: --run RUN_ID or --model NAME"
        )
    if run_id:
        store.run(run_id)  # NotFoundError names the ledger
        return run_id, model
    assert model is not None
    found = _find_run_for_model(store, model)
    if found is None and model not in {m["name"] for m in store.models()}:
        known = sorted({m["name"] for m in store.models()})
        raise NotFoundError(
            "unknown_model",
            f"no model {model!r} in the ledger {store.path}",
            hint=f"known: {', '.join(known)}" if known else "the ledger has no models",
        )
    return found, model


def build_report(store: Any, run_id: str | None = None, model: str | None = None) -> ReportData:
    """Everything the ledger knows about a run (or the latest run that made ``model``)."""
    run_id, model = _resolve_subject(store, run_id, model)
    if run_id:
        run = store.run(run_id)
        models, datasets = _lineage(store, run)
        verdict, findings, obligations, overrides = _verdict_and_findings(run)
        training, metrics = _training(run), run.get("metrics") or {}
        for m in models:
            if m.role == "student" and m.parameters is None:
                m.parameters = metrics.get("student_parameters")
        students = [m.name for m in models if m.role == "student"]
        model = model or (students[0] if students else None)
    else:
        known = next(m for m in store.models() if m["name"] == model)
        models = [_model_entry({"name": model}, {str(model): known}, "student")]
        datasets, findings, obligations, overrides = [], [], [], []
        verdict, training, metrics = Verdict(code="unknown"), None, {}
    names = {m.name for m in models} | ({model} if model else set())
    similarity: list[SimilarityEntry] = []
    for name in sorted(names):
        for row in store.similarity_results(model=name):
            entry = similarity_entry(row)
            if entry not in similarity:
                similarity.append(entry)
    data = ReportData(
        generated_at=_now(),
        subject=Subject(run_id=run_id, model=model),
        verdict=verdict,
        models=models,
        datasets=datasets,
        findings=findings,
        obligations=obligations,
        overrides=overrides,
        training=training,
        metrics=metrics,
        similarity=similarity,
        arena=arena_entries(store.votes(include_excluded=False), names),
        integrity=_integrity(store),
        references=list(PUBLISHED_CONTEXT),
    )
    preflights = (run.get("preflights") or []) if run_id else []
    request = (preflights[-1].get("request") or {}) if preflights else {}
    result = (preflights[-1].get("result") or {}) if preflights else {}
    data.legal_basis = legal_basis(data, request, result)
    base = request.get("student_base_license")
    for student in data.models:
        if student.role == "student" and base:
            student.license = base  # the student's weights start from its base, not the teacher
    return seal(data)
