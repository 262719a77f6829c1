"""The facts of one provenance report, as one typed object every renderer reads.

``ReportData`` is built from the ledger by ``audit.reports.export.build_report`` and rendered
to JSON, HTML, PDF and CycloneDX by the ``audit.reports`` format modules. Renderers never
query the ledger: what is in this object is what the lawyer sees, in every format.

Integrity: ``content_sha256`` is the SHA-256 of the canonical JSON of the whole report
with that one field left empty; ``facts_sha256`` leaves out the export time and the
integrity block, so the same ledger facts always give the same value.

    data = ReportData(subject=Subject(run_id="abc"), verdict=Verdict(code="allowed"), ...)
    seal(data)            # fills integrity.facts_sha256 and integrity.content_sha256
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.hashing import canonical_json, sha256_text

SCHEMA_VERSION = "stillhouse.report/1"

VerdictCode = Literal["allowed", "allowed_with_conditions", "needs_review", "blocked", "unknown"]

HEADLINES: dict[str, str] = {
    "allowed": "Allowed: the licences permit this use of the student with no further conditions.",
    "allowed_with_conditions": "Allowed with conditions: the student may be used as intended "
    "if every obligation listed in this report is met.",
    "needs_review": "Needs legal review: at least one licence question could not be answered "
    "automatically; a person must decide before the student ships.",
    "blocked": "Blocked: a licence forbids this use of the teacher's outputs or data; "
    "do not ship the student.",
    "unknown": "No licence pre-flight was recorded for this subject; its terms were not checked.",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subject(_Strict):
    """What the report is about: a run, a model, or both."""

    run_id: str | None = Field(default=None, description="Ledger run id the report covers.")
    model: str | None = Field(default=None, description="Model name the report covers.")

    def label(self) -> str:
        """A short human label: 'run abc123 (student tiny-student)'."""
        if self.run_id and self.model:
            return f"run {self.run_id} (model {self.model})"
        return f"run {self.run_id}" if self.run_id else f"model {self.model}"


class Verdict(_Strict):
    """The answer first: may we ship, and what the override (if any) changed."""

    code: VerdictCode = Field(description="Pre-flight verdict recorded in the ledger.")
    headline: str = Field(default="", description="The verdict in plain words.")
    use: str | None = Field(
        default=None, description="Intended use checked: commercial or research."
    )
    overridden: bool = Field(
        default=False, description="True when a blocked run went ahead by override."
    )

    def model_post_init(self, __context: Any) -> None:
        if not self.headline:
            self.headline = HEADLINES[self.code]


class ModelEntry(_Strict):
    """A model in the lineage: teacher, student base or student."""

    role: str = Field(description="teacher, student_base or student.")
    name: str = Field(description="Model name in the ledger.")
    license: str = Field(default="unknown", description="Licence id.")
    source: str | None = Field(default=None, description="bundled, hf, local, gguf or openai.")
    hf_id: str | None = Field(default=None, description="Hugging Face id, when known.")
    revision: str | None = Field(default=None, description="Revision of the Hugging Face id.")
    weights_sha256: str | None = Field(default=None, description="SHA-256 of the weights.")
    parameters: int | None = Field(default=None, description="Parameter count, when known.")
    base_model: str | None = Field(default=None, description="Model this one was made from.")
    registered_at: str | None = Field(default=None, description="When the ledger first saw it.")


class DatasetEntry(_Strict):
    """A dataset in the lineage, with its fingerprint."""

    role: str = Field(default="train_data", description="train_data, teacher_data, heldout, ...")
    name: str = Field(description="Dataset name in the ledger.")
    license: str = Field(default="unknown", description="Licence id.")
    source: str | None = Field(default=None, description="Where the data came from (URL).")
    collected: str | None = Field(default=None, description="Collection date, ISO 8601.")
    records: int | None = Field(default=None, description="Number of records hashed.")
    merkle_root: str | None = Field(default=None, description="Merkle root of the record hashes.")
    sha256: str | None = Field(
        default=None, description="SHA-256 of the file (or root) the run recorded."
    )
    path: str | None = Field(default=None, description="Where the file was when the run used it.")
    fingerprint: str = Field(
        default="", description="Where the Merkle root comes from, or why it is missing."
    )
    registered_at: str | None = Field(default=None, description="When the ledger first saw it.")


class FindingEntry(_Strict):
    """One licence finding, with the clause it rests on."""

    severity: str = Field(description="info, condition, review or block.")
    license: str = Field(description="Licence id the finding comes from.")
    clause: str = Field(default="", description="Section of the licence cited, e.g. 's1.b.v'.")
    message: str = Field(description="What the clause means for this run, in plain words.")
    verified: bool = Field(
        default=True, description="True when the cited answer was checked against the text."
    )
    missing: str | None = Field(default=None, description="The fact (flag) the rule still needs.")


class ObligationEntry(_Strict):
    """Something the student inherits and whoever ships it must do."""

    kind: str = Field(
        default="obligation", description="naming, attribution, notice, use_policy, ..."
    )
    source: str | None = Field(
        default=None, description="Whose licence passes it on: teacher, data, student_base."
    )
    text: str = Field(description="What must be done, in plain words.")
    license: str | None = Field(default=None, description="Licence the obligation comes from.")
    clause: str | None = Field(default=None, description="Section of the licence cited.")
    binding: bool = Field(
        default=True, description="True when the text requires it; false: conservative advice."
    )
    when: str = Field(default="on_release", description="now, on_release or on_hosting.")
    unmet: bool = Field(default=False, description="True when the facts show it is unmet now.")


class LegalBasis(_Strict):
    """What the verdict rests on: which knowledge base, which facts, and what it does not say."""

    notice: str = Field(default="", description="The not-legal-advice notice.")
    knowledge_base: dict[str, Any] = Field(
        default_factory=dict, description="Git commit and SHA-256 over the licence YAMLs."
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="The pre-flight inputs (facts) as recorded."
    )
    student_license: str = Field(
        default="", description="The student's own licence record: base licence plus inherited."
    )
    notice_file: str = Field(default="", description="A draft NOTICE file for the student.")
    similarity_plain: str = Field(
        default="", description="The similarity result in plain words, under competing-model terms."
    )


class OverrideEntry(_Strict):
    """A blocked verdict that a person overrode, with their reason."""

    reason: str = Field(description="The written reason given for the override.")
    at: str | None = Field(default=None, description="When the override was recorded (UTC).")
    verdict: str | None = Field(default=None, description="The verdict that was overridden.")
    run_id: str | None = Field(default=None, description="Run the override applied to.")


class FileEntry(_Strict):
    """Another file a run used or made (evaluation JSON, loss curve, checkpoint), hashed."""

    role: str = Field(description="evaluation, loss_curve, checkpoint, ...")
    name: str = Field(description="File name.")
    direction: str = Field(default="output", description="input or output of the run.")
    sha256: str | None = Field(default=None, description="SHA-256 of the file.")
    path: str | None = Field(default=None, description="Where it was written.")


class TrainingEntry(_Strict):
    """How the student was made: the run's config, seed and code version."""

    run_id: str = Field(description="Ledger run id.")
    kind: str = Field(default="distill", description="Run kind (distill, teacher_data, ...).")
    status: str | None = Field(default=None, description="succeeded, failed or interrupted.")
    started_at: str | None = Field(default=None, description="Start time (UTC).")
    finished_at: str | None = Field(default=None, description="End time (UTC).")
    seed: int | None = Field(default=None, description="Random seed.")
    code_version: str | None = Field(default=None, description="stillhouse version and commit.")
    config: dict[str, Any] = Field(default_factory=dict, description="Training config as recorded.")
    files: list[FileEntry] = Field(
        default_factory=list, description="Other files the run used or made."
    )


class SimilarityEntry(_Strict):
    """Replication-risk evidence: how close a candidate's answers are to a reference's."""

    reference: str | None = Field(default=None, description="Reference model (e.g. the teacher).")
    candidate: str | None = Field(default=None, description="Candidate model (e.g. the student).")
    risk: str | None = Field(default=None, description="Replication risk level.")
    p_value: float | None = Field(default=None, description="p-value against the baseline.")
    scores: dict[str, Any] = Field(default_factory=dict, description="Measured scores.")
    baselines: list[str] = Field(
        default_factory=list, description="Unrelated models compared against."
    )
    reasons: list[str] = Field(
        default_factory=list, description="Why the risk is what it is; caveats."
    )
    examples: list[str] = Field(
        default_factory=list, description="Longest verbatim or protected spans shared."
    )
    at: str | None = Field(default=None, description="When it was recorded (UTC).")


class ArenaEntry(_Strict):
    """Blind-vote results for one model."""

    model: str = Field(description="Model name.")
    battles: int = Field(default=0, description="Battles the model took part in.")
    wins: int = Field(default=0, description="Votes for this model.")
    losses: int = Field(default=0, description="Votes for the other model.")
    ties: int = Field(default=0, description="Ties and both-bad votes.")


class Integrity(_Strict):
    """Evidence that the report and the ledger it came from are intact."""

    ledger_head: str | None = Field(default=None, description="Ledger head hash at export.")
    ledger_rows: int | None = Field(default=None, description="Rows in the hash chain at export.")
    verify_ok: bool = Field(default=True, description="Did `audit verify` pass at export?")
    first_bad_row: str | None = Field(default=None, description="First broken ledger row, if any.")
    problem: str | None = Field(default=None, description="What verification found wrong.")
    checkpoint: dict[str, Any] | None = Field(
        default=None, description="The ledger's newest signed checkpoint at export, if any."
    )
    facts_sha256: str | None = Field(default=None, description="SHA-256 of the facts alone.")
    content_sha256: str | None = Field(default=None, description="SHA-256 of this report's JSON.")


class Reference(_Strict):
    """Published context a reader may want to cite."""

    title: str = Field(description="Short title.")
    note: str = Field(description="What it says that matters here.")
    url: str | None = Field(default=None, description="Where to read it.")


class ReportData(_Strict):
    """Everything one provenance report says, in the order a lawyer reads it."""

    schema_version: str = Field(default=SCHEMA_VERSION, description="Report JSON schema version.")
    generated_at: str = Field(default="", description="Export time, ISO 8601 UTC.")
    subject: Subject = Field(description="What the report covers.")
    verdict: Verdict = Field(description="The pre-flight verdict, first and in plain words.")
    models: list[ModelEntry] = Field(default_factory=list, description="Teacher(s), base, student.")
    datasets: list[DatasetEntry] = Field(
        default_factory=list, description="Data with fingerprints."
    )
    findings: list[FindingEntry] = Field(default_factory=list, description="Licence findings.")
    obligations: list[ObligationEntry] = Field(
        default_factory=list, description="Inherited duties."
    )
    overrides: list[OverrideEntry] = Field(
        default_factory=list, description="Overrides with reasons."
    )
    training: TrainingEntry | None = Field(
        default=None, description="The run that made the student."
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Evaluation metrics.")
    similarity: list[SimilarityEntry] = Field(
        default_factory=list, description="Similarity evidence."
    )
    arena: list[ArenaEntry] = Field(default_factory=list, description="Blind-vote results.")
    integrity: Integrity = Field(default_factory=Integrity, description="Ledger and report hashes.")
    legal_basis: LegalBasis = Field(
        default_factory=LegalBasis, description="Notice, knowledge-base version, inputs, NOTICE."
    )
    references: list[Reference] = Field(default_factory=list, description="Published context.")

    def role(self, role: str) -> list[ModelEntry]:
        """The models with one role, e.g. ``data.role("teacher")``."""
        return [m for m in self.models if m.role == role]


def facts_sha256(data: ReportData) -> str:
    """SHA-256 of what the ledger says, without the export time and the integrity block."""
    payload = data.model_dump(mode="json", exclude={"generated_at", "integrity"})
    return sha256_text(canonical_json(payload))


def content_sha256(data: ReportData) -> str:
    """SHA-256 of the report's JSON with ``integrity.content_sha256`` left empty."""
    payload = data.model_dump(mode="json")
    payload["integrity"]["content_sha256"] = None
    return sha256_text(canonical_json(payload))


def seal(data: ReportData) -> ReportData:
    """Fill in the two report hashes (in place) and return the report."""
    data.integrity.facts_sha256 = facts_sha256(data)
    data.integrity.content_sha256 = content_sha256(data)
    return data


PUBLISHED_CONTEXT = [
    Reference(
        title="Data Provenance Initiative (arXiv 2310.16787)",
        note="Audit of popular dataset hosting sites: licences omitted for over 70% of datasets "
        "and mis-stated for over 50%; includes a commercially licensed code model trained on "
        "data generated under terms that forbid that use.",
        url="https://arxiv.org/abs/2310.16787",
    ),
    Reference(
        title="No standard encodes teacher-to-student licence inheritance",
        note="SPDX 3.0, CycloneDX 1.6 and Hugging Face model-card metadata (base_model_relation "
        "has no 'distillation' value) cannot say what a distilled student inherits; this report "
        "carries inherited obligations as CycloneDX properties with the clause cited.",
        url=None,
    ),
]


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested metrics as sorted ``("teacher.perplexity", "12.3")`` rows for tables."""
    rows: list[tuple[str, str]] = []
    for key in sorted(metrics):
        value = metrics[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flat_metrics(value, prefix=f"{name}."))
        elif isinstance(value, float):
            rows.append((name, f"{value:.6g}"))
        else:
            rows.append((name, str(value)))
    return rows
