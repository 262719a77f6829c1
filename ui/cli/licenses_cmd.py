"""``stillhouse licenses list|show|check``: the licence knowledge base and the pre-flight."""

from __future__ import annotations

import json

import typer

licenses_app = typer.Typer(
    help="Licence knowledge base and distillation pre-flight.", no_args_is_help=True
)


@licenses_app.command("list")
def list_licenses() -> None:
    """List every licence id with commercial use, the outputs rule and whether it was verified."""
    from audit.licences.knowledge import load_licenses

    licenses = load_licenses()
    width = max(len(i) for i in licenses)
    print(f"{'id':<{width}}  {'commercial':<10} {'outputs':<11} {'verified':<8} name")
    for license_id, info in sorted(licenses.items()):
        print(
            f"{license_id:<{width}}  {info.commercial.allowed:<10} "
            f"{info.outputs_training.rule:<11} "
            f"{'yes' if info.verified else 'no':<8} {info.name}"
        )


@licenses_app.command("show")
def show(
    license_id: str = typer.Argument(..., help="Licence id (see `licenses list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full entry as JSON."),
) -> None:
    """Show one licence's answers with the section each one cites."""
    from audit.licences.knowledge import get_license

    info = get_license(license_id)
    if as_json:
        print(json.dumps(info.model_dump(), indent=2, ensure_ascii=False))
        return
    print(f"{info.name} ({info.id}, {info.version})\n{info.url}\n{info.summary}\n")
    for name, clause in info.clauses().items():
        values = {
            k: v for k, v in clause.model_dump().items() if k not in ("section", "verified", "note")
        }
        shown = ", ".join(f"{k}={v}" for k, v in values.items() if v not in (None, [], ""))
        mark = "" if clause.verified else "  [NOT VERIFIED]"
        print(f"{name:<24} {shown or '-'}  (s. {clause.section or 'n/a'}){mark}")
        if clause.note:
            print(f"{'':<24} {clause.note}")


@licenses_app.command("check")
def check(
    teacher_license: str = typer.Option(
        ..., "--teacher-license", help="Licence id of the teacher model."
    ),
    data_license: list[str] = typer.Option(
        [], "--data-license", help="Licence id of a dataset (repeatable)."
    ),
    use: str = typer.Option("commercial", "--use", help="commercial or research."),
    student_name: str | None = typer.Option(
        None, "--student-name", help="Name the student will be published under."
    ),
    student_base_license: str | None = typer.Option(
        None, "--student-base-license", help="Licence id of the model the student starts from."
    ),
    internal: bool = typer.Option(
        False, "--internal", help="The student is never distributed or made available."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Pre-flight a distillation: verdict, findings with clauses, and the student's obligations.

    Every verdict exits 0; an unknown licence id exits 2 and lists the known ids.
    """
    from audit.licences.preflight import PreflightRequest, preflight
    from core.errors import InputError

    if use not in ("commercial", "research"):
        raise InputError("bad_use", f"--use must be commercial or research, not {use!r}")
    request = PreflightRequest(
        teacher_license=teacher_license,
        data_licenses=list(data_license),
        use=use,
        student_name=student_name,
        student_base_license=student_base_license,
        internal=internal,
    )
    result = preflight(request)
    if as_json:
        print(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
    else:
        print(format_result(result))


def format_result(result) -> str:
    """A pre-flight result as lines for people: verdict, findings, obligations."""
    lines = [f"verdict: {result.verdict}"]
    for finding in result.findings:
        clause = f" s.{finding.clause}" if finding.clause else ""
        lines.append(f"  [{finding.severity}] {finding.license}{clause}: {finding.message}")
    if result.obligations:
        lines.append("obligations:")
        for obligation in result.obligations:
            cited = not obligation.clause or f"({obligation.clause})" in obligation.text
            clause = "" if cited else f" s.{obligation.clause}"
            lines.append(f"  - {obligation.text} ({obligation.license}{clause})")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.add_typer(licenses_app, name="licenses")
