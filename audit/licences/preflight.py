"""Licence pre-flight: may this teacher's outputs train this student, and what does it inherit?

``preflight`` reads the knowledge base (``audit.licences.knowledge``) for the teacher's licence,
each dataset's licence and the student's own base licence, applies the rules below, and
returns a verdict with findings that cite the clause behind each one:

- terms that forbid using outputs to improve any other model block the run (unless the
  licence's own exception fits the student's base, e.g. Llama 2 -> a Llama 2 student);
  terms that forbid *competing* models block a distributed student and ask for review
  of an internal one;
- non-commercial or research-only terms block commercial use (for data licences where
  it is unsettled whether the restriction reaches a trained model: review);
- a naming rule (Llama 3.1+: the name must start with "Llama") is a condition until the
  student's name complies; it does not apply to an internal model;
- flow-down terms become the student's obligations: the union over teacher, data and base;
- an answer not checked against the licence text gives ``needs_review``, never a silent allow.

    >>> preflight(PreflightRequest(teacher_license="llama3.1", student_name="MyBot")).verdict
    'allowed_with_conditions'
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from audit.licences.knowledge import UNKNOWN, LicenseInfo, get_license

Verdict = Literal["allowed", "allowed_with_conditions", "needs_review", "blocked"]
Severity = Literal["block", "review", "condition", "info"]
Role = Literal["teacher", "data", "student_base"]


class PreflightRequest(BaseModel):
    """What is about to be distilled, under which licences, for which use."""

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
    internal: bool = Field(
        default=False, description="True when the student is never distributed or made available."
    )


class Finding(BaseModel):
    """One thing the pre-flight found, citing the clause behind it."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity = Field(description="block, review, condition or info.")
    license: str = Field(description="Licence id the finding comes from.")
    clause: str | None = Field(default=None, description="Section of the licence cited.")
    message: str = Field(description="What it means for this run, in one or two sentences.")


class Obligation(BaseModel):
    """Something the student inherits and its publisher must do."""

    model_config = ConfigDict(extra="forbid")

    license: str = Field(description="Licence id the obligation comes from.")
    source: Role = Field(description="teacher, data or student_base.")
    clause: str | None = Field(default=None, description="Section of the licence cited.")
    text: str = Field(description="The obligation, in our own words.")


class PreflightResult(BaseModel):
    """The verdict, its findings and the student's obligations."""

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


# A section cited at the end of an obligation's text: "... (1.b.iii)." or "... (3(a)(1))."
_CITED = re.compile(r"\((\d[^()]*(?:\([^()]*\)[^()]*)*|[A-Z]\.\d[^()]*)\)\.?$")
_RANK = {"block": 0, "review": 1, "condition": 2, "info": 3}


def _name_complies(name: str, prefix: str) -> bool:
    squash = lambda text: re.sub(r"[\s_\-.]+", "", text)  # noqa: E731
    return squash(name).startswith(squash(prefix))


class _Check:
    """Collects findings and obligations while the rules run."""

    def __init__(self, request: PreflightRequest) -> None:
        self.request = request
        self.commercial = request.use == "commercial"
        self.distributed = not request.internal
        self.findings: list[Finding] = []
        self.obligations: list[Obligation] = []

    def add(self, severity: Severity, info: LicenseInfo, clause: str | None, message: str) -> None:
        self.findings.append(
            Finding(severity=severity, license=info.id, clause=clause, message=message)
        )

    def commercial_use(self, info: LicenseInfo, role: Role) -> None:
        clause = info.commercial
        if not self.commercial or clause.allowed == "yes":
            return
        if clause.allowed == "limited":
            self.add(
                "condition",
                info,
                clause.section,
                f"{info.name} limits commercial use: {clause.note}",
            )
        elif role == "data" and clause.reaches_trained_model != "yes":
            self.add(
                "review" if clause.reaches_trained_model == "unclear" else "info",
                info,
                clause.section,
                f"the {role} licence {info.id} is non-commercial; whether that reaches a model "
                "trained on it is unsettled: a lawyer should review commercial use",
            )
        else:
            self.add(
                "block",
                info,
                clause.section,
                f"the {role.replace('_', ' ')} licence {info.id} does not allow commercial use "
                f"({clause.note or 'non-commercial terms'})",
            )

    def outputs(self, info: LicenseInfo, role: Role) -> None:
        rule, base = info.outputs_training, self.request.student_base_license
        if rule.rule == "forbidden":
            if base and base.lower() in rule.exception_licenses:
                self.add(
                    "info",
                    info,
                    rule.section,
                    f"{info.id} forbids training other models on its "
                    f"outputs, but its exception covers a student based on {base}",
                )
            elif rule.scope == "competing_models" and not self.distributed:
                self.add(
                    "review",
                    info,
                    rule.section,
                    f"{info.id}: output may not be used to develop "
                    "competing models; whether an internal student competes needs review",
                )
            else:
                what = (
                    "a competing model" if rule.scope == "competing_models" else "any other model"
                )
                self.add(
                    "block",
                    info,
                    rule.section,
                    f"{info.id}: outputs may not be used to train {what}. {rule.note}",
                )
        elif rule.rule == "conditional" and rule.scope == "research_only" and self.commercial:
            if info.commercial.allowed != "no":
                self.add(
                    "block", info, rule.section, f"{info.id} outputs may be used for research only"
                )
        elif rule.rule == "no_clause" and role == "teacher":
            self.add(
                "info", info, rule.section, f"{info.id} has no clause on training with its outputs"
            )

    def naming(self, info: LicenseInfo) -> None:
        prefix, name = info.naming.prefix, self.request.student_name
        if not prefix:
            return
        if not self.distributed:
            self.add(
                "info",
                info,
                info.naming.section,
                f"{info.id} requires a distributed student's name "
                f"to start with '{prefix}'; an internal model is not bound",
            )
        elif not name:
            self.add(
                "condition",
                info,
                info.naming.section,
                f"a distributed student must be named starting with '{prefix}' ({info.id})",
            )
        elif not _name_complies(name, prefix):
            self.add(
                "condition",
                info,
                info.naming.section,
                f"the student's name must start with "
                f"'{prefix}' ({info.id}); '{name}' does not, e.g. use '{prefix}-{name}'",
            )

    def inherit(self, info: LicenseInfo, role: Role) -> None:
        flow = info.flow_down
        for text in flow.obligations:
            cited = _CITED.search(text)
            self.obligations.append(
                Obligation(
                    license=info.id,
                    source=role,
                    text=text,
                    clause=cited.group(1) if cited else flow.section,
                )
            )
        threshold = info.user_threshold.monthly_active_users
        if threshold:
            self.obligations.append(
                Obligation(
                    license=info.id,
                    source=role,
                    clause=info.user_threshold.section,
                    text=f"Above {threshold:,} monthly active users a separate licence is needed.",
                )
            )
        if role == "data" and flow.applies_to_trained_model == "unclear" and self.distributed:
            self.add(
                "review",
                info,
                flow.section,
                f"whether a model trained on {info.id} data must carry "
                f"its terms is unsettled: {flow.note or flow.obligations[-1]}",
            )
        attribution = info.attribution
        if role == "student_base" and self.distributed and (attribution.text or attribution.note):
            # The student's weights are copied from its base: the base's redistribution terms apply.
            duty = f'show "{attribution.text}"' if attribution.text else attribution.note
            self.obligations.append(
                Obligation(
                    license=info.id,
                    source=role,
                    clause=attribution.section,
                    text=(
                        f"The student's weights are copied from a model under {info.id}; when "
                        f"distributing it: {duty}"
                    ),
                )
            )
        derivative = info.distillation_derivative
        if role == "teacher" and derivative.answer == "yes":
            self.add(
                "condition",
                info,
                derivative.section,
                f"the student is a derivative of the teacher "
                f"under {info.id} and must carry its flow-down terms: {derivative.note}",
            )

    def unverified(self, info: LicenseInfo, role: Role) -> None:
        relevant = ["outputs_training", "flow_down"] if role != "student_base" else ["flow_down"]
        if self.commercial:
            relevant.append("commercial")
        if self.distributed and role != "data":
            relevant.append("naming")
        unchecked = [name for name in relevant if not getattr(info, name).verified]
        if unchecked:
            self.add(
                "review",
                info,
                None,
                f"{info.id}: {', '.join(sorted(unchecked))} not checked against "
                "the licence text; review before relying on this verdict",
            )

    def unknown(self, role: Role) -> None:
        self.findings.append(
            Finding(
                severity="review",
                license=UNKNOWN,
                clause=None,
                message=f"the {role.replace('_', ' ')}'s licence is unknown",
            )
        )

    def result(self) -> PreflightResult:
        findings = list(
            {(f.severity, f.license, f.clause, f.message): f for f in self.findings}.values()
        )
        findings.sort(key=lambda f: _RANK[f.severity])
        obligations = list({(o.license, o.text): o for o in self.obligations}.values())
        severities = {f.severity for f in findings}
        if "block" in severities:
            verdict: Verdict = "blocked"
        elif "review" in severities:
            verdict = "needs_review"
        elif "condition" in severities or obligations:
            verdict = "allowed_with_conditions"
        else:
            verdict = "allowed"
        return PreflightResult(verdict=verdict, findings=findings, obligations=obligations)


def _resolve(license_id: str | None) -> LicenseInfo | None:
    if license_id is None or license_id.strip().lower() == UNKNOWN:
        return None
    return get_license(license_id)


def preflight(request: PreflightRequest) -> PreflightResult:
    """Check a planned distillation against the licences; unknown ids raise ``InputError``."""
    teacher = _resolve(request.teacher_license)
    data = [(license_id, _resolve(license_id)) for license_id in request.data_licenses]
    base = _resolve(request.student_base_license) if request.student_base_license else None
    check = _Check(request)
    if teacher is None:
        check.unknown("teacher")
    else:
        check.commercial_use(teacher, "teacher")
        check.outputs(teacher, "teacher")
        check.naming(teacher)
        check.inherit(teacher, "teacher")
        check.unverified(teacher, "teacher")
    for _, info in data:
        if info is None:
            check.unknown("data")
            continue
        check.commercial_use(info, "data")
        check.outputs(info, "data")
        check.inherit(info, "data")
        check.unverified(info, "data")
    if request.student_base_license and base is None:
        check.unknown("student_base")
    elif base is not None:
        check.commercial_use(base, "student_base")
        check.naming(base)
        check.inherit(base, "student_base")
        check.unverified(base, "student_base")
    return check.result()
