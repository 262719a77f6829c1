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

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from audit.licences.knowledge import UNKNOWN, LicenseInfo, get_license, knowledge_version
from core.errors import InputError
from core.licence_facts import PreflightFacts, fact_problems

Verdict = Literal["allowed", "allowed_with_conditions", "needs_review", "blocked"]
Severity = Literal["block", "review", "condition", "info"]
Role = Literal["teacher", "data", "student_base", "release"]
When = Literal["now", "on_release", "on_hosting"]


class PreflightRequest(PreflightFacts):
    """What is about to be distilled, under which licences, for which use, by whom."""

    model_config = ConfigDict(extra="forbid")

    teacher_license: str = Field(description="Licence id of the teacher model (or 'unknown').")
    data_licenses: list[str] = Field(
        default_factory=list, description="Licence ids of the prompt / training data."
    )
    use: Literal["commercial", "research"] = Field(
        default="commercial", description="Intended use of the student."
    )
    student_name: str | None = Field(
        default=None, description="Name the student will be published under."
    )
    student_base_license: str | None = Field(
        default=None, description="Licence id of the model the student starts from."
    )

    def teachers(self) -> list[str]:
        """Every teacher licence id, the first one first, without repeats."""
        return list(dict.fromkeys([self.teacher_license, *self.teacher_licenses]))


class Finding(BaseModel):
    """One thing the pre-flight found, citing the clause behind it."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity = Field(description="block, review, condition or info.")
    license: str = Field(description="Licence id the finding comes from.")
    clause: str | None = Field(default=None, description="Section of the licence cited.")
    message: str = Field(description="What it means for this run, in one or two sentences.")
    verified: bool = Field(
        default=True,
        description="True when the cited answer was checked against the licence text.",
    )
    missing: str | None = Field(
        default=None, description="The flag to give when the rule turns on a fact not given."
    )


class Obligation(BaseModel):
    """Something the student inherits and its publisher must do."""

    model_config = ConfigDict(extra="forbid")

    license: str = Field(description="Licence id the obligation comes from.")
    source: Role = Field(description="teacher, data, student_base or release.")
    clause: str | None = Field(default=None, description="Section of the licence cited.")
    text: str = Field(description="The obligation, in our own words.")
    binding: bool = Field(
        default=True,
        description="True when the text requires it of this student; false: conservative advice.",
    )
    when: When = Field(default="on_release", description="now, on_release or on_hosting.")
    unmet: bool = Field(
        default=False, description="True when the facts given show it is not met now."
    )


class PreflightResult(BaseModel):
    """The verdict, its findings, the student's obligations and the knowledge base used."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict = Field(
        description="allowed, allowed_with_conditions, needs_review or blocked."
    )
    findings: list[Finding] = Field(
        default_factory=list, description="Findings, most severe first."
    )
    obligations: list[Obligation] = Field(
        default_factory=list, description="What the student inherits."
    )
    knowledge_base: dict[str, Any] = Field(
        default_factory=dict,
        description="Version of the knowledge base: git commit, SHA-256 over the YAMLs, count.",
    )

    def unmet_now(self) -> list[Obligation]:
        return [o for o in self.obligations if o.unmet]

    def due(self, when: When) -> list[Obligation]:
        return [o for o in self.obligations if not o.unmet and o.when == when]


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
    from audit.licences.rules import Check

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
