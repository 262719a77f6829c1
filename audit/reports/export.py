"""Provenance reports: build the facts of a run or model from the ledger, write them out, check
them.

    from audit.ledger.store import Store
    from audit.reports.export import build_report, export_report, verify_report

    store = Store()
    data = build_report(store, run_id="3f2a9c1d0b7e")      # or model="my-student"
    export_report(data, "pdf", Path("report.pdf"))        # pdf | html | json | cyclonedx
    check = verify_report(store, Path("report.pdf"))       # still matches the ledger?

A ledger that fails ``verify`` still exports, with a red banner naming the broken row.
A bad output path raises ``InputError`` and leaves no file behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from audit.reports.build import build_report
from audit.reports.model import ReportData, seal
from audit.reports.verify import ReportCheck, verify_report
from core.errors import InputError

FORMATS = ("pdf", "html", "json", "cyclonedx", "spdx", "eu-ai-act", "notice")
__all__ = [
    "FORMATS",
    "ReportCheck",
    "build_report",
    "export_report",
    "render_report",
    "verify_report",
    "write_report",
]


def render_report(data: ReportData, format: str) -> bytes:
    """The report in one format, as bytes."""
    if format not in FORMATS:
        raise InputError(
            "bad_format",
            f"unknown report format {format!r}",
            hint=f"choose one of {', '.join(FORMATS)}",
        )
    if not data.integrity.content_sha256:
        seal(data)
    if format == "json":
        import json

        return (
            json.dumps(data.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
        ).encode()
    if format == "spdx":
        from audit.reports.spdx import render_spdx

        return render_spdx(data).encode("utf-8")
    if format == "eu-ai-act":
        from audit.reports.eu_ai_act import render_eu_ai_act

        return render_eu_ai_act(data).encode("utf-8")
    if format == "notice":
        return data.legal_basis.notice_file.encode("utf-8")
    if format == "cyclonedx":
        from audit.reports.cyclonedx import render_cyclonedx

        return render_cyclonedx(data).encode("utf-8")
    from audit.reports.lineage import render_lineage

    png = render_lineage(data, "png")
    if format == "html":
        from audit.reports.html import render_html

        return render_html(data, png).encode("utf-8")
    from audit.reports.pdf import render_pdf

    return render_pdf(data, png)


def _check_out_path(out: Path) -> None:
    if out.is_dir():
        raise InputError(
            "out_is_folder", f"output path is a folder: {out}", hint="give a file name"
        )
    if not out.parent.is_dir():
        raise InputError("missing_folder", f"output folder does not exist: {out.parent}")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise InputError(
            "not_writable", f"cannot write to {out}", hint="check the folder's permissions"
        )


def export_report(data: ReportData, format: str, out: str | Path) -> Path:
    """Write the report to ``out`` atomically: a complete file, or no file and an InputError."""
    from core.paths import atomic_file

    out = Path(out).expanduser()
    _check_out_path(out)
    payload = render_report(data, format)  # render first: a failure here writes nothing
    try:
        with atomic_file(out, "wb") as handle:
            handle.write(payload)
    except PermissionError as error:
        raise InputError("not_writable", f"cannot write to {out}: {error.strerror}") from None
    except OSError as error:
        raise InputError(
            "write_failed", f"could not write {out}: {error.strerror or error}"
        ) from None
    return out


def write_report(
    store: Any, format: str, out: str | Path, *, run_id: str | None = None, model: str | None = None
) -> tuple[ReportData, Path]:
    """Build, export and record in the ledger that a report was exported (CLI and app use this)."""
    from core.hashing import sha256_file

    data = build_report(store, run_id=run_id, model=model)
    path = export_report(data, format, out)
    store.record_report(
        format=format,
        path=path.resolve(),
        sha256=sha256_file(path),
        run_id=data.subject.run_id,
        model=data.subject.model,
        details={
            "content_sha256": data.integrity.content_sha256,
            "ledger_head": data.integrity.ledger_head,
            "verify_ok": data.integrity.verify_ok,
        },
    )
    return data, path
