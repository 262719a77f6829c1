"""Typed settings and results of a replication-risk score (pydantic, JSON-ready).

``SimilarityConfig`` holds every threshold; ``SimilarityReport`` is what
``audit.similarity.score.score_texts`` returns, what ``--json`` prints and what the ledger stores.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import InputError

MetricName = Literal["embedding", "rougeL", "chrF", "minhash", "longest_run"]
RiskLevel = Literal["low", "medium", "high"]


class SimilarityConfig(BaseModel):
    """Every setting of a score, with the thresholds the risk level is decided by."""

    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricName] = Field(
        default=["embedding", "rougeL", "chrF", "minhash", "longest_run"],
        description="Metrics to compute; longest_run is always computed for the verbatim findings.",
    )
    primary_metric: MetricName = Field(
        default="embedding",
        description="Metric whose calibrated test decides the similarity part of the risk.",
    )
    permutations: int = Field(
        default=9999, ge=1000, description="Permutations per test (at least 1,000)."
    )
    seed: int = Field(default=0, description="Seed of the permutation test.")
    alpha_high: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Holm-adjusted p-value at or below which similarity counts for high risk.",
    )
    alpha_medium: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Holm-adjusted p-value at or below which similarity counts for medium risk.",
    )
    effect_high: float = Field(
        default=0.8, ge=0, description="Smallest paired effect size d_z for high risk (0.8: large)."
    )
    effect_medium: float = Field(
        default=0.5,
        ge=0,
        description="Smallest paired effect size d_z for medium risk (0.5: medium).",
    )
    verbatim_tokens: int = Field(
        default=50,
        ge=1,
        description=(
            "A shared run of this many tokens is a verbatim finding (the usual memorisation bar)."
        ),
    )
    verbatim_warn_tokens: int = Field(
        default=25, ge=1, description="A shared run of this many tokens is a verbatim warning."
    )
    near_duplicate_jaccard: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description=(
            "MinHash Jaccard at or above which an answer is a near-duplicate of the reference."
        ),
    )
    near_duplicate_min_tokens: int = Field(
        default=20,
        ge=1,
        description="Answers shorter than this (tokens) are never near-duplicates.",
    )
    near_duplicate_share_high: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Share of prompts with near-duplicates that counts as high risk.",
    )
    shingle_size: int = Field(default=5, ge=1, description="Words per shingle for MinHash.")
    minhash_permutations: int = Field(
        default=128, ge=16, description="MinHash permutations (datasketch num_perm)."
    )
    protected_min_tokens: int = Field(
        default=25,
        ge=5,
        description="A run of this many tokens shared with a protected passage is flagged.",
    )
    min_match_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Least share of the reference's prompts that must be answered in every file.",
    )
    embedding_model: str | None = Field(
        default=None,
        description="sentence-transformers model folder; default the bundled all-MiniLM-L6-v2.",
    )
    embedding_backend: Literal["auto", "torch", "torch-bf16", "onnx"] = Field(
        default="auto",
        description="auto (torch under bf16 autocast on a CPU with native bf16, else ONNX "
        "Runtime when the onnx extra and the model's export are there, else torch), torch, "
        "torch-bf16, or onnx.",
    )
    batch_size: int = Field(default=32, ge=1, description="Embedding batch size.")

    @model_validator(mode="after")
    def _ordered(self) -> SimilarityConfig:
        if self.verbatim_warn_tokens > self.verbatim_tokens:
            raise ValueError("verbatim_warn_tokens must not exceed verbatim_tokens")
        if self.alpha_high > self.alpha_medium or self.effect_high < self.effect_medium:
            raise ValueError("the high-risk thresholds must be stricter than the medium ones")
        return self

    @classmethod
    def build(cls, **values: Any) -> SimilarityConfig:
        """Validate settings, turning pydantic's error into one readable InputError."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            raise InputError("bad_similarity_config", f"{where}: {first['msg']}") from None


class BaselineComparison(BaseModel):
    """One metric, candidate vs one baseline, both against the reference."""

    model_config = ConfigDict(extra="forbid")

    baseline: str = Field(description="Baseline name.")
    baseline_mean: float = Field(description="Mean baseline-vs-reference similarity.")
    difference: float = Field(description="Candidate mean minus baseline mean.")
    effect_size: float | None = Field(
        description="Paired Cohen's d_z of the per-prompt differences (clipped to +-100)."
    )
    p_value: float | None = Field(
        description=(
            "One-sided permutation p-value, stratified by prompt (None: fewer than 2 prompts)."
        )
    )
    p_holm: float | None = Field(description="p-value after Holm-Bonferroni across the baselines.")


class MetricResult(BaseModel):
    """One metric's candidate mean and its calibrated comparisons."""

    model_config = ConfigDict(extra="forbid")

    metric: MetricName = Field(description="Metric name.")
    description: str = Field(description="What the metric measures and its range.")
    candidate_mean: float = Field(description="Mean candidate-vs-reference similarity.")
    comparisons: list[BaselineComparison] = Field(description="One per baseline.")
    p_value: float | None = Field(
        description=(
            "Largest Holm-adjusted p-value over the baselines (candidate closer than every "
            "baseline)."
        )
    )
    effect_size: float | None = Field(description="Smallest effect size over the baselines.")
    level: Literal["high", "medium"] | None = Field(
        description="Which risk thresholds this metric passes, if any."
    )


class VerbatimFinding(BaseModel):
    """A run of tokens the candidate shares with the reference answer to the same prompt."""

    model_config = ConfigDict(extra="forbid")

    prompt_id: str = Field(description="Prompt id.")
    tokens: int = Field(description="Length of the shared run in tokens.")
    level: Literal["finding", "warning"] = Field(
        description="finding (>= verbatim_tokens) or warning (>= verbatim_warn_tokens)."
    )
    span: str = Field(description="The copied text, as the candidate wrote it.")
    baseline_tokens: int | None = Field(
        description="Longest run any baseline shares with the reference on this prompt."
    )


class NearDuplicate(BaseModel):
    """A candidate answer whose word shingles largely coincide with the reference's."""

    model_config = ConfigDict(extra="forbid")

    prompt_id: str = Field(description="Prompt id.")
    jaccard: float = Field(description="MinHash Jaccard estimate.")


class ProtectedFinding(BaseModel):
    """A candidate output reproducing part of a protected passage."""

    model_config = ConfigDict(extra="forbid")

    prompt_id: str = Field(description="Prompt id of the candidate output.")
    passage_id: str = Field(description="Id of the protected passage.")
    tokens: int = Field(description="Length of the shared run in tokens.")
    span: str = Field(description="The reproduced text, as the candidate wrote it.")


class MatchSummary(BaseModel):
    """How the files' prompt ids lined up."""

    model_config = ConfigDict(extra="forbid")

    reference: int = Field(description="Prompts in the reference.")
    candidate: int = Field(description="Prompts in the candidate.")
    baselines: dict[str, int] = Field(description="Prompts per baseline.")
    matched: int = Field(description="Prompts answered, non-empty, in every file: the ones scored.")
    minimum: int = Field(description="Fewest matched prompts accepted.")
    unmatched: list[str] = Field(description="Up to 10 reference prompt ids missing elsewhere.")
    empty: dict[str, list[str]] = Field(
        description="Per file, prompt ids skipped because the text was empty."
    )


class RiskAssessment(BaseModel):
    """The verdict, why, and the thresholds it was decided by."""

    model_config = ConfigDict(extra="forbid")

    level: RiskLevel = Field(description="low, medium or high.")
    calibrated: bool = Field(
        description="False without a baseline or with one prompt: similarity was not tested."
    )
    reasons: list[str] = Field(description="What pushed the level up (empty for low).")
    thresholds: dict[str, str] = Field(description="The rule for each level, in words.")


class PromptScores(BaseModel):
    """Per-prompt similarity to the reference, for the picture and the ledger."""

    model_config = ConfigDict(extra="forbid")

    prompt_id: str = Field(description="Prompt id.")
    candidate: dict[str, float] = Field(description="Metric -> candidate-vs-reference value.")
    baselines: dict[str, dict[str, float]] = Field(description="Baseline -> metric -> value.")


class SimilarityReport(BaseModel):
    """Everything a replication-risk score found."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["similarity"] = Field(
        default="similarity", description="Record type for the ledger."
    )
    reference: str = Field(
        description="Name of the reference (the model that may have been copied)."
    )
    candidate: str = Field(description="Name of the candidate (the model under suspicion).")
    baselines: list[str] = Field(description="Names of the unrelated baselines.")
    risk: RiskAssessment = Field(description="The verdict.")
    p_value: float | None = Field(
        description="The primary metric's calibrated p-value (None when uncalibrated)."
    )
    scores: dict[str, float] = Field(
        description=(
            "Summary for reports: per metric the candidate mean and the highest baseline mean."
        )
    )
    prompt_set_hash: str | None = Field(
        default=None, description="SHA-256 of the probe prompt set (probes only)."
    )
    metrics: list[MetricResult] = Field(description="Per metric means, effect sizes and p-values.")
    verbatim: list[VerbatimFinding] = Field(
        description="Shared runs at or above the warning level, longest first."
    )
    near_duplicates: list[NearDuplicate] = Field(description="Near-duplicate answers.")
    protected: list[ProtectedFinding] = Field(
        description="Protected passages the candidate reproduced."
    )
    matching: MatchSummary = Field(description="How the prompt ids lined up.")
    notes: list[str] = Field(
        description="Caveats in words: uncalibrated, too few prompts, skipped texts."
    )
    config: SimilarityConfig = Field(description="The settings used.")
    embedding: dict[str, str] = Field(
        description="Embedding model, backend and device (empty if not used)."
    )
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="Model specs, prompt-set hash, file hashes."
    )
    prompts: list[PromptScores] = Field(description="Per-prompt values.")

    def metric(self, name: str) -> MetricResult | None:
        """The result of one metric, if computed."""
        return next((m for m in self.metrics if m.metric == name), None)
