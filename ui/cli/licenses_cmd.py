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
            k: v
            for k, v in clause.model_dump().items()
            if k not in ("section", "verified", "note", "obligations")
        }
        shown = ", ".join(f"{k}={v}" for k, v in values.items() if v not in (None, [], ""))
        mark = "" if clause.verified else "  [NOT VERIFIED]"
        print(f"{name:<24} {shown or '-'}  (s. {clause.section or 'n/a'}){mark}")
        if clause.note:
            print(f"{'':<24} {clause.note}")
        for rule in getattr(clause, "obligations", []):
            binds = "binding" if rule.binding else "advice"
            extra = ", only if it contains the materials" if rule.needs_materials else ""
            print(f"{'':<24} - {rule.text} [{binds}, {rule.when}{extra}]")


@licenses_app.command("check")
def check(
    teacher_license: list[str] = typer.Option(
        ...,
        "--teacher-license",
        help="Licence id of a teacher model (repeatable: every teacher whose outputs reach the "
        "student is checked).",
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
    mau: int | None = typer.Option(
        None, "--mau", help="The licensee's monthly active users (for user thresholds)."
    ),
    entity: str | None = typer.Option(
        None,
        "--entity",
        help="Who the licensee is: company, academic, individual, government or nonprofit.",
    ),
    region: str | None = typer.Option(
        None, "--region", help="Where the licensee is: ISO 3166 alpha-2 code (DE, US) or EU."
    ),
    hosted: bool = typer.Option(
        False, "--hosted", help="The student is offered to others as a service."
    ),
    release_license: str | None = typer.Option(
        None, "--release-license", help="Licence id the student will be published under."
    ),
    student_type: str = typer.Option(
        "llm", "--student-type", help="What the student is: llm, classifier, embedding or other."
    ),
    teacher_multimodal: bool = typer.Option(
        False,
        "--teacher-multimodal",
        help="A teacher is a multimodal model (e.g. Llama 3.2 Vision); implied for Llama 4.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Pre-flight a distillation: verdict, findings with clauses, and the student's obligations.

    Every verdict exits 0; an unknown licence id, a bad value or conflicting flags exit 2,
    one line per problem, all at once. A rule that turns on a fact not given answers
    needs_review and names the flag to give.
    """
    from audit.licences.preflight import PreflightRequest, check_request, preflight
    from core.errors import InputError
    from core.licence_facts import STUDENT_TYPES

    fields = dict(
        teacher_license=teacher_license[0],
        teacher_licenses=list(teacher_license[1:]),
        data_licenses=list(data_license),
        use=use,
        student_name=student_name,
        student_base_license=student_base_license,
        internal=internal,
        mau=mau,
        entity=entity,
        region=region,
        hosted=hosted,
        release_license=release_license,
        student_type=student_type,
        teacher_multimodal=teacher_multimodal,
    )
    problems = []
    if use not in ("commercial", "research"):
        problems.append(f"--use must be commercial or research, not {use!r}")
    if student_type not in STUDENT_TYPES:
        problems.append(
            f"--student-type must be one of {', '.join(STUDENT_TYPES)}, not {student_type!r}"
        )
    try:
        check_request(PreflightRequest.model_construct(**fields))
    except InputError as error:
        raise InputError(
            error.code, "\nerror: ".join([*problems, error.message]), hint=error.hint
        ) from None
    if problems:
        raise InputError("bad_preflight_input", "\nerror: ".join(problems))
    result = preflight(PreflightRequest(**fields))
    if as_json:
        print(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
    else:
        print(format_result(result))


def format_result(result) -> str:
    """A pre-flight result as lines for people: verdict, findings, obligations."""
    lines = [f"verdict: {result.verdict}"]
    for finding in result.findings:
        clause = f" s.{finding.clause}" if finding.clause else ""
        mark = "" if finding.verified else " [NOT VERIFIED]"
        lines.append(f"  [{finding.severity}] {finding.license}{clause}: {finding.message}{mark}")
    groups = [
        ("unmet now", result.unmet_now()),
        ("due now", result.due("now")),
        ("due on release", result.due("on_release")),
        ("due on hosting", result.due("on_hosting")),
    ]
    for title, obligations in groups:
        if obligations:
            lines.append(f"obligations, {title}:")
        for obligation in obligations:
            cited = not obligation.clause or f"({obligation.clause})" in obligation.text
            clause = "" if cited else f" s.{obligation.clause}"
            advice = "" if obligation.binding or "[advice" in obligation.text else " [advice]"
            lines.append(f"  - {obligation.text} ({obligation.license}{clause}){advice}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.add_typer(licenses_app, name="licenses")
