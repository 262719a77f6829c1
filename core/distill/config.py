"""``DistillConfig``: every knob of a distillation run, loaded from a YAML preset.

    config = load_preset("quick", ["max_steps=50", "loss=reverse_kl"])

Presets live in ``data/presets/<name>.yaml`` (or give a path to a YAML file). Overrides are
``key=value`` strings whose value is read as YAML (``prune.keep_layers=[0,5,29]``,
``bf16=false``); a dotted key sets one field of a nested setting (``prune.layers=20``).
Every problem (unknown keys, bad values, malformed overrides) is reported at once in one
``InputError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import InputError, NotFoundError
from core.licence_facts import PreflightFacts

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRESETS_DIR = PROJECT_ROOT / "data" / "presets"
STDLIB = "python-stdlib"  # texts made from the standard library (core/distill/texts.py)

LossName = Literal["forward_kl", "reverse_kl", "generalized_jsd", "skew_kl"]


class PruneConfig(BaseModel):
    """How the student is cut from the teacher: depth (which layers) and width (how narrow)."""

    model_config = ConfigDict(extra="forbid")

    layers: int | None = Field(
        default=None, ge=1, description="Decoder layers the student keeps (None: all of them)."
    )
    method: Literal["uniform", "angular", "block_influence", "greedy_kl"] = Field(
        default="angular",
        description="Which layers: uniform (evenly spaced, first and last kept), angular "
        "(drop the contiguous block whose input and output hidden states differ least), "
        "block_influence (drop the layers with the lowest 1 - cos(input, output)), greedy_kl "
        "(drop one layer at a time, the one whose removal raises the output KL on calibration "
        "text least; slow).",
    )
    keep_layers: list[int] | None = Field(
        default=None,
        description="Exact teacher layer indices to keep (overrides layers and method).",
    )
    mlp_keep: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Share of MLP neurons kept in every layer, the most active on "
        "calibration text (1: all).",
    )
    heads_keep: int | None = Field(
        default=None,
        ge=1,
        description="Query heads kept per layer (None: all). GQA-aware: a multiple of the KV "
        "heads (the best heads of every group) or of the group size (whole groups).",
    )
    hidden_keep: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Share of hidden (embedding) channels kept, the most active on "
        "calibration text (1: all; below 1 the RMSNorms change, so it needs training).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PruneConfig:
        if self.keep_layers is not None:
            if not self.keep_layers or len(set(self.keep_layers)) != len(self.keep_layers):
                raise ValueError("keep_layers must list distinct layer indices")
            if min(self.keep_layers) < 0:
                raise ValueError("keep_layers must be >= 0")
        return self


class DistillConfig(BaseModel):
    """One distillation run: teacher, student, teacher data, loss, training and evaluation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # lr=inf is refused

    # -- models -----------------------------------------------------------------------
    teacher: str = Field(
        default="smollm2-135m-instruct",
        description="Teacher model: catalogue name, folder, .gguf file or HF id.",
    )
    student_name: str = Field(
        default="smollm2-distilled",
        description="Name the distilled student is saved under "
        "($STILLHOUSE_HOME/models/<student_name>).",
    )
    student_from: str | None = Field(
        default=None,
        description="Start from this smaller model (same tokenizer as the "
        "teacher) instead of pruning the teacher.",
    )
    prune: PruneConfig = Field(
        default_factory=PruneConfig,
        description="How the student is pruned from the teacher: {layers, method, "
        "keep_layers, mlp_keep, heads_keep, hidden_keep} (ignored with student_from).",
    )
    # -- teacher data -----------------------------------------------------------------
    prompts: str = Field(
        default="data/prompts/default.jsonl",
        description='JSONL prompt set ({"id", "prompt"} per line) the teacher answers.',
    )
    prompts_license: str = Field(default="apache-2.0", description="Licence id of the prompt set.")
    max_prompts: int | None = Field(default=None, ge=1, description="Use only the first N prompts.")
    max_new_tokens: int = Field(default=96, ge=1, description="Longest teacher answer, in tokens.")
    gen_temperature: float = Field(
        default=0.0, ge=0.0, description="Teacher sampling temperature (0 = greedy)."
    )
    answers_per_prompt: int = Field(
        default=1,
        ge=1,
        description="Teacher answers per prompt (sample i uses seed + i; needs "
        "gen_temperature > 0 when above 1): more teacher data from the same prompts.",
    )
    gen_batch_size: int = Field(
        default=32, ge=1, description="Prompts per teacher generate() call."
    )
    teacher_engine: Literal["auto", "transformers", "vllm", "openai"] = Field(
        default="auto", description="Backend that generates the teacher data (auto: vLLM on CUDA)."
    )
    gen_dtype: Literal["float32", "bfloat16"] | None = Field(
        default=None,
        description="Dtype of the teacher backend that writes the answers (transformers "
        "engine; None = the backend's default). bfloat16 is 1.5-4x faster on CPUs with bf16 "
        "instructions.",
    )
    heldout: str = Field(
        default="data/prompts/heldout.jsonl",
        description='JSONL held-out texts ({"id", "text"}) for evaluation.',
    )
    heldout_license: str = Field(
        default="apache-2.0", description="Licence id of the held-out set."
    )
    preflight: PreflightFacts = Field(
        default_factory=PreflightFacts,
        description="Facts for the licence pre-flight: mau, entity, region, hosted, internal, "
        "release_license, student_type, teacher_multimodal, further teacher_licenses.",
    )
    heldout_prompts: str | None = Field(
        default="data/prompts/heldout_prompts.jsonl",
        description='JSONL held-out prompts ({"id", "prompt"}) both models answer for the '
        "answer agreement (None: skip it).",
    )
    answer_tokens: int = Field(
        default=48, ge=1, description="Longest answer to a held-out prompt, in tokens."
    )
    answer_temperature: float = Field(
        default=0.7,
        ge=0.0,
        description="Sampling temperature of the held-out answers (the teacher's two samples "
        "at this temperature are the agreement ceiling).",
    )
    # -- loss -------------------------------------------------------------------------
    loss: LossName = Field(default="forward_kl", description="Distillation divergence.")
    beta: float = Field(default=0.5, ge=0.0, le=1.0, description="generalized_jsd mixing weight.")
    alpha: float = Field(default=0.1, ge=0.0, lt=1.0, description="skew_kl skew weight.")
    temperature: float = Field(
        default=1.0,
        gt=0.0,
        description="Softmax temperature of both models in the KD loss; the "
        "KD term is multiplied by temperature**2.",
    )
    kd_weight: float = Field(default=1.0, ge=0.0, description="Weight of the KD term.")
    ce_weight: float = Field(
        default=0.0, ge=0.0, description="Weight of cross-entropy on the teacher's tokens."
    )
    topk: int = Field(
        default=32,
        ge=0,
        description="Teacher log-probs cached per token (offline KD); 0 runs the teacher "
        "in the training loop on dense logits.",
    )
    tail_samples: int = Field(
        default=32,
        ge=0,
        description="Tokens sampled per position from the teacher's tail (beyond the top-k) "
        "and cached with their log-probs and the tail's entropy: the top-k loss then "
        "estimates the full divergence (0: fold the tail into one bucket).",
    )
    teacher_dtype: Literal["float32", "bfloat16"] = Field(
        default="float32",
        description="Dtype the teacher is loaded in for the cache and evaluation.",
    )
    cache_bf16: bool = Field(
        default=True,
        description="Run the teacher under bf16 autocast while building the top-k cache.",
    )
    train_on_prompt: bool = Field(
        default=False,
        description="Distil on prompt tokens too, not only the teacher's answer "
        "(off: the loss covers answer tokens only).",
    )
    plain_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of the teacher-data records trained as plain text (prompt, blank "
        "line, answer; no chat template; every token a target), so the student keeps "
        "modelling ordinary prose, not only chat turns (0: all in chat form).",
    )
    texts: str | None = Field(
        default=None,
        description="Ready text trained on beside the teacher data (teacher-forced KD: the "
        'teacher only scores it, in the top-k cache pass): a JSONL file of {"id", "text"} '
        "records, or python-stdlib (small functions and reference prose of this "
        "interpreter's own standard library, PSF-2.0; core/distill/texts.py). None: none.",
    )
    texts_license: str | None = Field(
        default=None,
        description="Licence id of a texts file, recorded in the ledger (required with a "
        "file; python-stdlib is psf-2.0).",
    )
    max_texts: int = Field(
        default=400, ge=1, description="Most ready-text records used (python-stdlib: made)."
    )
    # -- training ---------------------------------------------------------------------
    max_seq_len: int = Field(
        default=160, ge=8, description="Tokens per training sequence (truncated)."
    )
    batch_size: int = Field(default=8, ge=1, description="Sequences per device per micro-batch.")
    grad_accum: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    max_steps: int = Field(default=150, ge=1, description="Optimizer steps.")
    train_seconds: float | None = Field(
        default=None,
        gt=0.0,
        description="Stop training after this many seconds of training, even before max_steps "
        "(the learning-rate schedule still runs to max_steps; None: no limit).",
    )
    lr: float = Field(default=2e-4, gt=0.0, description="AdamW peak learning rate.")
    warmup_ratio: float = Field(
        default=0.05, ge=0.0, lt=1.0, description="Linear warm-up share of steps."
    )
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = Field(
        default="cosine", description="Learning-rate schedule after warm-up."
    )
    weight_decay: float = Field(default=0.0, ge=0.0, description="AdamW weight decay.")
    bf16: bool = Field(
        default=True,
        description="bf16 autocast for the student (fast on CPUs with AMX/AVX512-BF16).",
    )
    seed: int = Field(default=0, description="Seed for data order and initialisation.")
    save_steps: int = Field(
        default=50, ge=1, description="Checkpoint every N steps (and on Ctrl-C)."
    )
    logging_steps: int = Field(default=5, ge=1, description="Log the loss every N steps.")
    keep_checkpoints: bool = Field(
        default=False, description="Keep training checkpoints after a successful run."
    )
    # -- scale (GPU presets; docs/distill.md "Distilling a 7B teacher on GPUs") ----------
    epochs: float | None = Field(
        default=None,
        gt=0.0,
        description="Passes over the teacher data; when set, max_steps is derived from the "
        "number of sequences, batch_size, grad_accum and the number of processes.",
    )
    kd_chunk_tokens: int = Field(
        default=0,
        ge=0,
        description="Positions per chunk of the top-k KD loss, computed from the last hidden "
        "state so the batch's full-vocabulary logits never exist (0: whole batch at once). "
        "One GPU or DDP.",
    )
    gradient_checkpointing: bool = Field(
        default=False,
        description="Recompute the student's activations in the backward pass (less memory, "
        "about a third more compute).",
    )
    freeze_embeddings: bool = Field(
        default=False,
        description="Keep the token embeddings (and a tied output head) as the teacher's: no "
        "gradient or optimizer state for them (about a tenth less time per step here).",
    )
    prompts_dataset: str | None = Field(
        default=None,
        description="Hugging Face dataset id[:split] of instructions to use instead of "
        "`prompts`, fetched once with `datasets` (needs network; refused clearly offline, "
        "where `prompts` is the fallback with prompts_offline=fallback).",
    )
    prompts_field: str = Field(
        default="instruction",
        description="Column of prompts_dataset that holds the instruction text.",
    )
    prompts_offline: Literal["refuse", "fallback"] = Field(
        default="refuse",
        description="Without network: refuse (say so and stop) or fall back to `prompts`.",
    )
    # -- evaluation -------------------------------------------------------------------
    eval_max_len: int = Field(default=256, ge=8, description="Held-out text truncation, in tokens.")
    eval_batch_size: int = Field(default=4, ge=1, description="Held-out texts per forward pass.")
    speed_tokens: int = Field(
        default=32, ge=1, description="New tokens generated to time tokens/s."
    )

    @field_validator("student_name")
    @classmethod
    def _safe_student_name(cls, value: str) -> str:
        from core.names import SLUG, SLUG_TEXT

        if not SLUG.fullmatch(value) or ".." in value:  # it becomes a folder name
            raise ValueError(f"must be a safe name ({SLUG_TEXT}), got {value[:60]!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DistillConfig:
        if self.answers_per_prompt > 1 and self.gen_temperature == 0:
            raise ValueError(
                "answers_per_prompt > 1 needs gen_temperature > 0 (greedy answers are identical)"
            )
        if self.kd_weight == 0 and self.ce_weight == 0:
            raise ValueError("kd_weight and ce_weight are both 0: nothing to train")
        if self.texts and self.texts != STDLIB and not self.texts_license:
            raise ValueError(
                "texts is a file: set texts_license to its licence id (it goes in the ledger)"
            )
        if self.texts and self.topk == 0:
            raise ValueError("texts needs the top-k cache (topk > 0): the cache pass scores them")
        return self


def preset_path(name: str) -> Path:
    """``data/presets/<name>.yaml``, or ``name`` itself when it is a YAML file."""
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = PRESETS_DIR / f"{name}.yaml"
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise NotFoundError("unknown_preset", f"unknown preset '{name}'; known: {known}")
    return candidate


def parse_overrides(overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``["a=1", "b=[0,1]"]`` -> ``({"a": 1, "b": [0, 1]}, problems)``."""
    import yaml

    values: dict[str, Any] = {}
    problems: list[str] = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set '{item}' is not key=value")
            continue
        try:
            values[key] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            problems.append(f"--set {key}: cannot read value '{raw}'")
    return values, problems


def _format_errors(error: ValidationError) -> list[str]:
    out = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        out.append(f"{where}: {message}")
    return out


def load_preset(name: str = "quick", overrides: list[str] | None = None) -> DistillConfig:
    """Read a preset and apply ``key=value`` overrides; report every problem in one error."""
    import yaml

    path = preset_path(name)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError("bad_preset", f"preset {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError("bad_preset", f"preset {path} must be a mapping of settings")
    values, problems = parse_overrides(list(overrides or []))
    if {"prune.layers", "prune.method"} & set(values) and "prune.keep_layers" not in values:
        # A preset's pinned layers give way to an override that asks for another depth or way
        # of choosing (``--set prune.layers=18`` on quick means 18 layers, not its pinned 20).
        prune = data.get("prune")
        if isinstance(prune, dict):
            data["prune"] = {k: v for k, v in prune.items() if k != "keep_layers"}
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if dot and isinstance(data.get(head, {}), dict):
            data[head] = {**(data.get(head) or {}), rest: value}
        else:
            data[key] = value
    try:
        config = DistillConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_format_errors(exc))
        config = None
    if problems:
        raise InputError(
            "bad_config",
            f"{len(problems)} problem(s) in the distill config: " + "; ".join(problems),
            hint="see docs/distill.md for every setting",
        )
    assert config is not None
    return config


def data_path(value: str) -> Path:
    """A data file path: absolute, relative to the working folder, or to the project root."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    return PROJECT_ROOT / path
