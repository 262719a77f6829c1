"""``stillhouse audit report`` and ``stillhouse audit verify-report``.

stillhouse audit report --run 3f2a9c1d0b7e --format pdf --out report.pdf
stillhouse audit report --model Llama-tiny-student --out bom.cdx.json   # format from suffix
stillhouse audit verify-report report.pdf                               # exit 0 = matches
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from core.errors import InputError
from ui.cli.common import DB_OPTION, open_ledger

_SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".json": "json"}


def _format_for(out: Path, given: str | None) -> str:
    from audit.reports.export import FORMATS

    if given:
        if given not in FORMATS:
            raise InputError(
                "bad_format",
                f"unknown report format {given!r}",
                hint=f"choose one of {', '.join(FORMATS)}",
            )
        return given
    name = out.name.lower()
    if name.endswith((".cdx.json", ".bom.json")):
        return "cyclonedx"
    if out.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[out.suffix.lower()]
    raise InputError(
        "bad_format",
        f"cannot tell the report format from {out.name!r}",
        hint="pass --format pdf|html|json|cyclonedx",
    )


def report(
    run: str | None = typer.Option(None, "--run", help="Run id from the ledger."),
    model: str | None = typer.Option(None, "--model", help="Model name (its latest run is used)."),
    format: str | None = typer.Option(
        None, "--format", "-f", help="pdf, html, json or cyclonedx (default: from --out's suffix)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="File to write; its folder must exist."),
    db: Path | None = DB_OPTION,
) -> None:
    """Export a provenance report for legal review: verdict, licences, hashes, lineage."""
    from audit.reports.export import write_report

    fmt = _format_for(out, format)
    data, path = write_report(open_ledger(db, create=False), fmt, out, run_id=run, model=model)
    print(f"wrote {path} ({fmt})")
    print(f"verdict        {data.verdict.code}")
    print(f"report sha256  {data.integrity.content_sha256}")
    print(f"ledger head    {data.integrity.ledger_head}")
    if not data.integrity.verify_ok:
        print(
            f"warning: the ledger FAILED verification at {data.integrity.first_bad_row} "
            f"({data.integrity.problem}); the report says so in a red banner",
            file=sys.stderr,
        )


def verify_report(
    file: Path = typer.Argument(..., help="A report written by `stillhouse audit report`."),
    db: Path | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """Say whether a report still matches the ledger (exit 0) or not (exit 1)."""
    from audit.reports.export import verify_report as check_report

    check = check_report(open_ledger(db, create=False), file)
    if as_json:
        print(json.dumps(check.model_dump(mode="json"), indent=2))
    else:
        print(f"{check.format} report for {check.subject}")
        for line in check.messages:
            print(f"  {line}")
        print(
            "OK: the report matches the ledger"
            if check.ok
            else (
                f"MISMATCH ({check.status.replace('_', ' ')}): the report does not match the ledger"
            )
        )
    if not check.ok:
        raise typer.Exit(1)
    return 0


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``verify-report`` to the ``audit`` group."""
    from ui.cli.audit_cmd import audit_app

    audit_app.command("report")(report)
    audit_app.command("verify-report")(verify_report)
