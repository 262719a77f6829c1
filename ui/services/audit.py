"""The Audit tab's service: ledger tables, verify, lineage, registration.

    audit = AuditService(store, scratch)
    audit.tables().runs           # rows of each ledger table, newest first
    audit.verify_html()           # the hash chain checked, as a coloured line
    audit.lineage_png(run_id)     # teacher -> data -> student picture

Every method calls ``audit`` functions on the app's ``Store``; the only thing done here
is choosing which columns people see and naming files.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ui.services.scratch import Scratch

if TYPE_CHECKING:
    from audit.ledger.store import Store

COLUMNS: dict[str, list[str]] = {
    "models": ["name", "license", "source", "weights_sha256", "registered_at"],
    "datasets": ["name", "license", "records", "merkle_root", "registered_at"],
    "runs": ["run_id", "kind", "status", "code_version", "started_at", "finished_at"],
    "findings": ["run_id", "severity", "license", "clause", "message"],
    "overrides": ["run_id", "verdict", "reason", "created_at"],
    "reports": ["run_id", "model", "format", "sha256", "created_at"],
}


class LedgerTables(BaseModel):
    """Rows of each ledger table, newest first, with the columns in ``COLUMNS``."""

    models: list[list[Any]] = Field(description="Registered models.")
    datasets: list[list[Any]] = Field(description="Registered datasets.")
    runs: list[list[Any]] = Field(description="Runs (distill, similarity, ...).")
    findings: list[list[Any]] = Field(description="Pre-flight findings.")
    overrides: list[list[Any]] = Field(description="Overrides of a blocked pre-flight.")
    reports: list[list[Any]] = Field(description="Reports exported.")


class AuditService:
    """What the Audit tab reads from, and registers in, the app's ledger."""

    def __init__(self, store: Store, scratch: Scratch) -> None:
        self.store = store
        self.scratch = scratch

    def tables(self) -> LedgerTables:
        """Rows of each ledger table, newest first, with the columns people read."""
        store = self.store
        sources = {
            "models": store.models,
            "datasets": store.datasets,
            "runs": store.runs,
            "findings": store.findings,
            "overrides": store.overrides,
            "reports": store.reports,
        }
        return LedgerTables(
            **{
                name: [[_cell(row.get(c)) for c in COLUMNS[name]] for row in reversed(fetch())]
                for name, fetch in sources.items()
            }
        )

    def verify_html(self) -> str:
        """The ledger's hash chain checked, as a coloured line."""
        result = self.store.verify()
        if result.ok:
            return (
                f"<div class='sh-verdict sh-allowed'>Ledger verified: {result.rows} events, hash "
                "chain intact. "
                f"Head <code>{result.head_hash[:16]}…</code></div>"
            )
        where = f" at row {result.first_bad_row}" if result.first_bad_row is not None else ""
        return (
            f"<div class='sh-verdict sh-blocked'>Ledger check FAILED{where}: "
            f"{html.escape(str(result.problem))}</div>"
        )

    def run_choices(self, kind: str | None = None) -> list[tuple[str, str]]:
        """(label, run id) for each run, newest first."""
        return run_choices(self.store, kind)

    def lineage_png(self, run_id: str) -> Path:
        """The lineage picture (teacher -> data -> student, licence on each edge) of one run."""
        from audit.reports.export import build_report
        from audit.reports.lineage import render_lineage

        out = self.scratch.file(".png")
        out.write_bytes(render_lineage(build_report(self.store, run_id=run_id), "png"))
        return out

    def license_ids(self) -> list[str]:
        """Licence ids in the knowledge base, for the registration forms."""
        from audit.licences.knowledge import known_license_ids

        return known_license_ids()

    def register_model(self, name: str, license: str, path: str) -> str:
        row = self.store.register_model(name.strip(), license=license, path=path.strip())
        state = "was already registered" if row.get("already") else "registered"
        return (
            f"Model **{row['name']}** {state} "
            f"(weights SHA-256 `{str(row['weights_sha256'])[:16]}…`)."
        )

    def register_dataset(self, path: str, name: str, license: str) -> str:
        row = self.store.register_dataset(path, name=name.strip(), license=license)
        state = (
            f"was already registered as **{row['name']}**" if row.get("already") else "registered"
        )
        return (
            f"Dataset {state}: {row['records']} records, Merkle root `{row['merkle_root'][:16]}…`."
        )


def run_choices(store: Store, kind: str | None = None) -> list[tuple[str, str]]:
    """(label, run id) for each run in ``store``, newest first."""
    return [
        (f"{r['run_id']} · {r['kind']} · {r['status']} · {str(r['started_at'])[:16]}", r["run_id"])
        for r in reversed(store.runs(kind=kind))
    ]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    return str(value)
