"""The licence knowledge base: one reviewed YAML file per licence under ``data/licences/``.

Each file answers the questions that matter when a teacher model's outputs train a
student: commercial use, whether outputs may train another model (and its
exceptions), naming and attribution rules, user thresholds, use policies, what flows
down to derivatives, whether distillation makes a derivative, and jurisdiction. Every
answer cites the section of the licence it comes from and says whether it was checked
against the text (``verified``); the pre-flight never silently allows on an
unverified answer. The notes are our own paraphrase, never the licence's words.

    >>> load_licenses()["llama3.1"].naming.prefix
    'Llama'
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import InputError, IntegrityError
from core.licence_facts import Entity, StudentType

LICENSES_DIR = Path(__file__).resolve().parents[2] / "data" / "licences"
UNKNOWN = "unknown"


class Clause(BaseModel):
    """One answer from a licence: where it stands, whether it was checked, what it means."""

    model_config = ConfigDict(extra="forbid")

    section: str | None = Field(
        default=None,
        description="Section of the licence text, e.g. '1.b.v'; null when no clause applies.",
    )
    verified: bool = Field(description="True when the answer was checked against the licence text.")
    note: str = Field(default="", description="What the clause means, in our own words.")


class CommercialUse(Clause):
    allowed: Literal["yes", "no", "limited"] = Field(description="May it be used commercially?")
    excluded_entities: list[Entity] = Field(
        default_factory=list,
        description="Licensees whose use does not count as the permitted (research) use, e.g. "
        "a company's staff under the Mistral Research Licence s.9.",
    )
    reaches_trained_model: Literal["yes", "no", "unclear"] = Field(
        default="yes",
        description="When this licence covers training data: does the restriction "
        "reach a model trained on it? 'unclear' makes the pre-flight ask for review.",
    )


class OutputsTraining(Clause):
    rule: Literal["allowed", "forbidden", "conditional", "no_clause"] = Field(
        description="May outputs be used to train another model?"
    )
    scope: Literal["any_model", "other_llms", "competing_models", "research_only", "none"] = Field(
        default="none",
        description="What the rule covers: any other model, other large language models only, "
        "competing models, research only.",
    )
    exception_licenses: list[str] = Field(
        default_factory=list,
        description="Student base licences that lift a 'forbidden' rule "
        "(e.g. a Llama 2 teacher may improve Llama 2 derivatives).",
    )
    exceptions: list[str] = Field(default_factory=list, description="Other exceptions, in words.")
    exception_student_types: list[StudentType] = Field(
        default_factory=list,
        description="Student types that lift a 'forbidden' rule while the student is not "
        "distributed or offered to others (e.g. OpenAI's Permitted Exception for classifiers).",
    )
    exception_section: str | None = Field(
        default=None, description="Section of the student-type exception."
    )


class Naming(Clause):
    prefix: str | None = Field(
        default=None, description="Text a distributed student's name must start with."
    )


class Attribution(Clause):
    text: str | None = Field(
        default=None, description="Short attribution the licence requires (a required phrase)."
    )


class UserThreshold(Clause):
    monthly_active_users: int | None = Field(
        default=None,
        description="Above this many monthly active users a separate licence is needed.",
    )


class UsePolicy(Clause):
    name: str | None = Field(
        default=None, description="Name of the acceptable or prohibited use policy."
    )
    url: str | None = Field(default=None, description="Where the policy is published.")
    text_file: str | None = Field(
        default=None, description="The collected copy under data/licences/texts/, when one exists."
    )
    excluded_regions: list[str] = Field(
        default_factory=list,
        description="Regions (ISO codes or EU) whose licensees get no rights under the policy.",
    )
    exclusion_multimodal_only: bool = Field(
        default=False, description="True when the region exclusion covers multimodal models only."
    )
    exclusion_entities: list[Entity] = Field(
        default_factory=list,
        description="Licensee kinds the region exclusion names (e.g. individuals and companies).",
    )
    exclusion_section: str | None = Field(
        default=None, description="Where the region exclusion stands in the policy."
    )
    distillation_needs_permission: bool = Field(
        default=False,
        description="True when the policy requires the provider's prior permission to train any "
        "model on its outputs (Anthropic's Usage Policy).",
    )


class ObligationRule(BaseModel):
    """One thing a derivative must carry or do, with whether the text requires it and when."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The obligation in our own words, ending with its section.")
    binding: bool = Field(
        description="True when the text requires it of this student; false marks conservative "
        "advice (e.g. a duty that attaches only to copies of the licensed materials)."
    )
    when: Literal["now", "on_release", "on_hosting"] = Field(
        description="now: already due; on_release: on distributing the student; on_hosting: "
        "on offering it to others as a service."
    )
    needs_materials: bool = Field(
        default=False,
        description="True when it binds only a student whose weights contain the licensed "
        "materials (its base is under this licence), not one trained on outputs alone.",
    )
    checks: Literal["naming", "research_only"] | None = Field(
        default=None,
        description="A fact the pre-flight can test now: the student's name or the intended use.",
    )


class FlowDown(Clause):
    obligations: list[ObligationRule] = Field(
        default_factory=list, description="What derivatives (the student) must carry or do."
    )
    applies_to_trained_model: Literal["yes", "no", "unclear"] = Field(
        default="yes",
        description="Whether these obligations reach a model trained with the material.",
    )


class DistillationDerivative(Clause):
    answer: Literal["yes", "no", "unclear"] = Field(
        description="Does distillation make the student a derivative?"
    )


class Jurisdiction(Clause):
    law: str | None = Field(
        default=None, description="Governing law and courts, when the licence names them."
    )


class LicenseInfo(BaseModel):
    """Everything the pre-flight needs to know about one licence."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Short id used on the command line and in specs.")
    name: str = Field(description="Full name of the licence or terms.")
    kind: Literal["model", "data", "service_terms", "software"] = Field(
        description="What it usually governs."
    )
    url: str = Field(description="The publisher's URL for the text.")
    version: str = Field(
        description="Version or date of the text the answers were checked against."
    )
    text_source: str | None = Field(
        default=None, description="Where the checked copy came from; null when none was found."
    )
    summary: str = Field(description="One or two sentences, our own words.")
    commercial: CommercialUse = Field(description="Commercial use.")
    outputs_training: OutputsTraining = Field(description="Using outputs to train another model.")
    naming: Naming = Field(description="Naming rule for models trained with it.")
    attribution: Attribution = Field(description="Attribution or notice that must be shown.")
    user_threshold: UserThreshold = Field(
        description="User count above which another licence is needed."
    )
    use_policy: UsePolicy = Field(description="Acceptable / prohibited use policy.")
    flow_down: FlowDown = Field(description="What flows down to derivatives.")
    distillation_derivative: DistillationDerivative = Field(
        description="Whether a distilled student is a derivative."
    )
    jurisdiction: Jurisdiction = Field(description="Governing law.")
    multimodal: Literal["always", "some", "never"] = Field(
        default="never",
        description="Whether the models under it are multimodal: always (Llama 4), some "
        "(Llama 3.2 Vision) or never; 'always' implies --teacher-multimodal.",
    )
    verified: bool = Field(
        description="True only when every answer above was checked against the text."
    )

    @model_validator(mode="after")
    def _verified_means_all_checked(self) -> LicenseInfo:
        unchecked = [name for name, clause in self.clauses().items() if not clause.verified]
        if self.verified and unchecked:
            raise ValueError(f"verified is true but these answers are not: {', '.join(unchecked)}")
        if self.outputs_training.exception_licenses and self.outputs_training.rule != "forbidden":
            raise ValueError("exception_licenses only make sense for a 'forbidden' outputs rule")
        return self

    def clauses(self) -> dict[str, Clause]:
        return {
            name: getattr(self, name)
            for name in (
                "commercial",
                "outputs_training",
                "naming",
                "attribution",
                "user_threshold",
                "use_policy",
                "flow_down",
                "distillation_derivative",
                "jurisdiction",
            )
        }


def load_license_file(path: str | Path) -> LicenseInfo:
    """Read and validate one licence YAML file; a broken file raises ``IntegrityError`` naming
    it."""
    import yaml

    path = Path(path)
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
        info = LicenseInfo.model_validate(data)
    except (yaml.YAMLError, ValidationError, TypeError) as error:
        first = str(error).splitlines()
        detail = "; ".join(line.strip() for line in first[:4])
        raise IntegrityError(
            "bad_license_file", f"licence file {path.name} breaks the schema: {detail}"
        ) from None
    if info.id != path.stem:
        raise IntegrityError(
            "bad_license_file",
            f"licence file {path.name} has id {info.id!r}; the id must match the file name",
        )
    return info


@functools.cache
def _load(folder: str) -> dict[str, LicenseInfo]:
    return {p.stem: load_license_file(p) for p in sorted(Path(folder).glob("*.yaml"))}


def load_licenses(folder: str | Path | None = None) -> dict[str, LicenseInfo]:
    """Every licence in the knowledge base, by id (cached per folder)."""
    return dict(_load(str(folder or LICENSES_DIR)))


def knowledge_version(folder: str | Path | None = None) -> dict[str, str | int | None]:
    """Which knowledge base answered: a SHA-256 over the licence YAMLs (name and bytes, in name
    order), their count, and the git commit of the checkout when there is one."""
    import hashlib
    import subprocess

    root = Path(folder or LICENSES_DIR)
    digest = hashlib.sha256()
    files = sorted(root.glob("*.yaml"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        commit = f"{commit}+local-changes" if dirty else commit
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"commit": commit or None, "sha256": digest.hexdigest(), "files": len(files)}


def known_license_ids() -> list[str]:
    return sorted(load_licenses())


def get_license(license_id: str) -> LicenseInfo:
    """One licence by id; an unknown id raises ``InputError`` listing the known ids."""
    licenses = load_licenses()
    key = license_id.strip().lower()
    if key not in licenses:
        raise InputError(
            "unknown_license",
            f"unknown licence id {license_id!r}",
            hint="known: " + ", ".join(sorted(licenses)) + f", or '{UNKNOWN}'",
        )
    return licenses[key]
