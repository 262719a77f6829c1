"""The pre-flight's types: the request (facts included), findings, obligations, the result.

Kept apart from the rules so that ``audit.licences.rules`` and ``audit.licences.inherit`` can
name them without an import cycle; ``audit.licences.preflight`` re-exports them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.licence_facts import PreflightFacts

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
