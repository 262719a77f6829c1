"""Glue for the Audit and Reports tabs: ledger tables, verify, lineage, registration, export.

Every function takes the app's ``audit.ledger.store.Store`` and calls ``audit`` functions; the
only thing done here is choosing which columns people see and naming files.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

COLUMNS: dict[str, list[str]] = {
    "models": ["name", "license", "source", "weights_sha256", "registered_at"],
    "datasets": ["name", "license", "records", "merkle_root", "registered_at"],
    "runs": ["run_id", "kind", "status", "code_version", "started_at", "finished_at"],
    "findings": ["run_id", "severity", "license", "clause", "message"],
    "overrides": ["run_id", "verdict", "reason", "created_at"],
    "reports": ["run_id", "model", "format", "sha256", "created_at"],
}


def ledger_tables(store: Any) -> dict[str, list[list[Any]]]:
    """Rows of each ledger table, newest first, with the columns people read."""
    sources = {
        "models": store.models,
        "datasets": store.datasets,
        "runs": store.runs,
        "findings": store.findings,
        "overrides": store.overrides,
        "reports": store.reports,
    }
    return {
        name: [[_cell(row.get(c)) for c in COLUMNS[name]] for row in reversed(fetch())]
        for name, fetch in sources.items()
    }


def verify_html(store: Any) -> str:
    """The ledger's hash chain checked, as a coloured line."""
    result = store.verify()
    if result.ok:
        return (
            f"<div class='sh-verdict sh-allowed'>Ledger verified: {result.rows} events, hash chain "
            "intact. "
            f"Head <code>{result.head_hash[:16]}…</code></div>"
        )
    where = f" at row {result.first_bad_row}" if result.first_bad_row is not None else ""
    return (
        f"<div class='sh-verdict sh-blocked'>Ledger check FAILED{where}: "
        f"{html.escape(str(result.problem))}</div>"
    )


def run_choices(store: Any, kind: str | None = None) -> list[tuple[str, str]]:
    """(label, run id) for each run, newest first."""
    return [
        (f"{r['run_id']} · {r['kind']} · {r['status']} · {str(r['started_at'])[:16]}", r["run_id"])
        for r in reversed(store.runs(kind=kind))
    ]


def lineage_png(store: Any, run_id: str, out: Path) -> Path:
    """The lineage picture (teacher -> data -> student, licence on each edge) of one run."""
    from audit.reports.export import build_report
    from audit.reports.lineage import render_lineage

    out.write_bytes(render_lineage(build_report(store, run_id=run_id), "png"))
    return out


def register_model(store: Any, name: str, license: str, path: str) -> str:
    row = store.register_model(name.strip(), license=license, path=path.strip())
    state = "was already registered" if row.get("already") else "registered"
    return (
        f"Model **{row['name']}** {state} (weights SHA-256 `{str(row['weights_sha256'])[:16]}…`)."
    )


def register_dataset(store: Any, path: str, name: str, license: str) -> str:
    row = store.register_dataset(path, name=name.strip(), license=license)
    state = f"was already registered as **{row['name']}**" if row.get("already") else "registered"
    return f"Dataset {state}: {row['records']} records, Merkle root `{row['merkle_root'][:16]}…`."


def export_report(
    store: Any, fmt: str, run_id: str | None, model: str | None, folder: Path
) -> Path:
    """Write a report (pdf, html, json or cyclonedx) and record the export in the ledger."""
    from audit.reports.export import write_report

    suffix = {"pdf": ".pdf", "html": ".html", "json": ".json", "cyclonedx": ".cdx.json"}[fmt]
    subject = run_id or model or "ledger"
    _, path = write_report(
        store,
        fmt,
        folder / f"stillhouse-report-{subject}{suffix}",
        run_id=run_id or None,
        model=model or None,
    )
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    return str(value)
