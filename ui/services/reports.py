"""The Reports tab's service: what a report can be about, and the export itself.

    reports = ReportsService(store, scratch)
    reports.subjects()                        # [(label, "run:ID" | "model:NAME"), ...]
    path = reports.export("pdf", "run:3f2a9c1d0b7e")

Each export is written by ``audit.reports.export.write_report`` and recorded in the ledger.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputError
from ui.services.audit import run_choices
from ui.services.scratch import Scratch

if TYPE_CHECKING:
    from audit.ledger.store import Store

SUFFIXES = {"pdf": ".pdf", "html": ".html", "json": ".json", "cyclonedx": ".cdx.json"}


class ReportsService:
    """Report export for the app's ledger."""

    def __init__(self, store: Store, scratch: Scratch) -> None:
        self.store = store
        self.scratch = scratch

    def subjects(self) -> list[tuple[str, str]]:
        """Runs and registered models a report can be about, newest first, as (label,
        "run:ID"/"model:NAME")."""
        runs = [(label, f"run:{run_id}") for label, run_id in run_choices(self.store)]
        names = dict.fromkeys(m["name"] for m in reversed(self.store.models()))
        return runs + [(f"model {name}", f"model:{name}") for name in names]

    def export(self, fmt: str, subject: str) -> Path:
        """Write a report (pdf, html, json or cyclonedx) about ``subject`` ("run:ID" or
        "model:NAME") and record the export in the ledger."""
        from audit.reports.export import write_report

        kind, _, value = subject.partition(":")
        if kind not in ("run", "model") or not value:
            raise InputError("bad_subject", f"not a run or a model: {subject!r}")
        if fmt not in SUFFIXES:
            raise InputError("bad_format", f"unknown report format {fmt!r}")
        _, path = write_report(
            self.store,
            fmt,
            self.scratch.folder / f"stillhouse-report-{_safe(value)}{SUFFIXES[fmt]}",
            run_id=value if kind == "run" else None,
            model=value if kind == "model" else None,
        )
        return path


def _safe(name: str) -> str:
    """``name`` fit for a file name (a model id like ``org/model`` has a slash)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)
