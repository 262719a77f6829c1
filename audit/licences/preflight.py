"""Licence pre-flight: may these teachers' outputs train this student, and what does it inherit?

``preflight`` reads the knowledge base (``audit.licences.knowledge``) for every teacher's
licence, each dataset's licence and the student's own base licence, applies the rules in
``audit.licences.rules``, and returns a verdict with findings that cite the clause behind
each one. The facts the rules turn on (monthly active users, who and where the licensee is,
hosting, the release licence, the student's type, a multimodal teacher) come in with the
request (``core.licence_facts.PreflightFacts``); a rule whose fact is missing answers
``needs_review`` naming the flag to give, never a silent allow. So does every answer in the
knowledge base that was not checked against the licence text.

    >>> preflight(PreflightRequest(teacher_license="llama3.1", student_name="MyBot",
    ...                            mau=1000)).verdict
    'allowed_with_conditions'
"""

from __future__ import annotations

from audit.licences.knowledge import UNKNOWN, LicenseInfo, get_license, knowledge_version
from audit.licences.rules import Check
from audit.licences.schema import (
    Finding,
    Obligation,
    PreflightRequest,
    PreflightResult,
    Role,
    Severity,
    Verdict,
    When,
)
from core.errors import InputError
from core.licence_facts import fact_problems

__all__ = [
    "Finding",
    "Obligation",
    "PreflightRequest",
    "PreflightResult",
    "Role",
    "Severity",
    "Verdict",
    "When",
    "check_request",
    "preflight",
    "request_problems",
]


def _resolve(license_id: str | None) -> LicenseInfo | None:
    if license_id is None or license_id.strip().lower() == UNKNOWN:
        return None
    return get_license(license_id)


def request_problems(request: PreflightRequest) -> list[str]:
    """Every unknown licence id and bad fact in a request, one line each."""
    from audit.licences.knowledge import load_licenses

    known = load_licenses()
    problems = fact_problems(
        mau=request.mau,
        entity=request.entity,
        region=request.region,
        internal=request.internal,
        hosted=request.hosted,
    )
    named = [
        *(("--teacher-license", t) for t in request.teachers()),
        *(("--data-license", d) for d in request.data_licenses),
        ("--student-base-license", request.student_base_license),
        ("--release-license", request.release_license),
    ]
    for flag, license_id in named:
        if license_id is not None and license_id.strip().lower() not in (*known, UNKNOWN):
            problems.append(f"{flag}: unknown licence id {license_id!r}")
    return problems


def check_request(request: PreflightRequest) -> None:
    """Raise one ``InputError`` listing every problem, the known ids in the hint."""
    problems = request_problems(request)
    if problems:
        from audit.licences.knowledge import known_license_ids

        unknown = any("unknown licence id" in p for p in problems)
        raise InputError(
            "bad_preflight_input",
            "\nerror: ".join(problems),
            hint=("known: " + ", ".join(known_license_ids()) + f", or '{UNKNOWN}'")
            if unknown
            else None,
        )


def preflight(request: PreflightRequest) -> PreflightResult:
    """Check a planned distillation against the licences; bad input raises ``InputError``."""
    check_request(request)
    check = Check(request)
    for teacher_id in request.teachers():
        teacher = _resolve(teacher_id)
        if teacher is None:
            check.unknown("teacher")
        else:
            check.teacher(teacher)
    for license_id in request.data_licenses:
        info = _resolve(license_id)
        if info is None:
            check.unknown("data")
        else:
            check.data(info)
    if request.student_base_license:
        base = _resolve(request.student_base_license)
        if base is None:
            check.unknown("student_base")
        else:
            check.student_base(base)
    release = _resolve(request.release_license) if request.release_license else None
    check.release(release)
    return check.result(knowledge_version())
