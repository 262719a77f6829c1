"""Probe live models: the candidate, the reference and baselines answer the same prompts.

Generation lives here (it needs the backends); scoring lives in ``audit.similarity.score``
(which never imports the backends); the CLI and the app glue them:

    prompts = load_prompts()                                   # data/probes/default.jsonl
    answers = probe_models(candidate_spec, reference_spec, [baseline_spec], prompts, params)
    report = score_texts(answers.reference, answers.candidate, answers.baselines,
                         names=answers.names(), provenance=answers.provenance())

Models are loaded one at a time and closed after answering, so three models never
sit in memory together. Greedy decoding (temperature 0) by default: same model, same text.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError, NotFoundError
from core.generation import ChatRequest, GenerationParams
from core.hashing import canonical_json, sha256_text
from core.specs import ModelSpec
from core.textfile import read_jsonl

PROBES_DIR = Path(__file__).resolve().parent.parent / "data" / "probes"


def default_prompts_path() -> Path:
    """The default probe set shipped in ``data/probes/default.jsonl``."""
    return PROBES_DIR / "default.jsonl"


class ProbePrompt(BaseModel):
    """One probe prompt."""

    model_config = ConfigDict(extra="forbid")

    prompt_id: str = Field(description="Stable id; answers are matched on it.")
    prompt: str = Field(description="The user's message.")


def load_prompts(path: str | Path | None = None) -> list[ProbePrompt]:
    """Prompts from a JSONL file of ``{"prompt_id" (or "id"), "prompt"}``; every problem is an
    InputError."""
    path = Path(path) if path else default_prompts_path()
    if not path.is_file():
        raise NotFoundError("missing_file", f"prompt file not found: {path}")
    prompts: list[ProbePrompt] = []
    seen: set[str] = set()
    for number, row in read_jsonl(path):
        pid = row.get("prompt_id", row.get("id")) if isinstance(row, dict) else None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if pid is None or not isinstance(prompt, str) or not prompt.strip():
            raise InputError(
                "bad_prompt", f"{path} line {number}: needs prompt_id and a non-empty prompt"
            )
        if str(pid) in seen:
            raise InputError(
                "duplicate_prompt_id", f"{path} line {number}: repeats prompt_id '{pid}'"
            )
        seen.add(str(pid))
        prompts.append(ProbePrompt(prompt_id=str(pid), prompt=prompt))
    if not prompts:
        raise InputError("empty_file", f"{path} holds no prompts")
    return prompts


def prompt_set_hash(prompts: Sequence[ProbePrompt]) -> str:
    """SHA-256 of the prompt set's canonical JSON (ids and texts, in order)."""
    return sha256_text(canonical_json([p.model_dump() for p in prompts]))


def collect_answers(
    backend: Any,
    prompts: Sequence[ProbePrompt | dict[str, Any]],
    params: GenerationParams,
    *,
    batch_size: int = 8,
    progress: bool | str = False,
) -> list[dict[str, str]]:
    """Answers of one backend as ``[{"prompt_id", "text"}]``, generated in batches.

    ``prompts`` are ``ProbePrompt`` objects or plain ``{"prompt_id", "prompt"}`` dicts.
    """
    from tqdm.auto import tqdm

    items = [p if isinstance(p, ProbePrompt) else ProbePrompt.model_validate(p) for p in prompts]

    label = progress if isinstance(progress, str) else "answers"
    bar = tqdm(total=len(items), desc=label, unit="prompt", disable=not progress)
    rows: list[dict[str, str]] = []
    try:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            results = backend.generate([ChatRequest.from_prompt(p.prompt) for p in batch], params)
            rows.extend(
                {"prompt_id": p.prompt_id, "text": r.text}
                for p, r in zip(batch, results, strict=True)
            )
            bar.update(len(batch))
    finally:
        bar.close()
    return rows


class ProbeAnswers(BaseModel):
    """What a probe produced: every model's answers plus the facts the ledger needs."""

    model_config = ConfigDict(extra="forbid")

    candidate: list[dict[str, str]] = Field(description="Candidate's answers.")
    reference: list[dict[str, str]] = Field(description="Reference's answers.")
    baselines: dict[str, list[dict[str, str]]] = Field(description="Baseline name -> answers.")
    models: dict[str, Any] = Field(
        description="candidate / reference -> spec, backend info and weights hash; "
        "baselines -> name -> the same."
    )
    prompt_set_hash: str = Field(description="SHA-256 of the prompt set.")
    prompts: int = Field(description="Number of prompts.")
    prompts_path: str | None = Field(default=None, description="Prompt file, when read from one.")
    params: dict[str, Any] = Field(description="Generation parameters.")

    def names(self) -> dict[str, str]:
        """Display names of the reference and the candidate."""
        return {
            "reference": self.models["reference"]["spec"]["name"],
            "candidate": self.models["candidate"]["spec"]["name"],
        }

    def provenance(self) -> dict[str, Any]:
        """The facts to keep with the score: model specs, prompt-set hash, parameters."""
        return {
            "source": "probe",
            "prompt_set_hash": self.prompt_set_hash,
            "prompts": self.prompts,
            "prompts_path": self.prompts_path,
            "models": self.models,
            "params": self.params,
        }


def _weights_sha(spec: ModelSpec) -> str | None:
    from core.models import prepare_model

    try:
        return prepare_model(spec).weights_sha256
    except Exception:  # a remote or unreadable model: the spec still names it
        return None


def _baseline_names(baselines: Sequence[ModelSpec], taken: set[str]) -> list[str]:
    names: list[str] = []
    for spec in baselines:
        name = spec.name
        while name in taken or name in names:
            name = f"{name}-{len(names) + 2}"
        names.append(name)
    return names


def probe_models(
    candidate: ModelSpec,
    reference: ModelSpec,
    baselines: Sequence[ModelSpec],
    prompts: Sequence[ProbePrompt],
    params: GenerationParams | None = None,
    *,
    prompts_path: str | Path | None = None,
    batch_size: int = 8,
    progress: bool = True,
    backend_factory: Callable[[ModelSpec], Any] | None = None,
) -> ProbeAnswers:
    """Put the prompts to every model in turn (loading one model at a time) and collect the
    answers.

    Backends made here are closed after answering (thread stopped, model dropped); backends
    from ``backend_factory`` belong to the caller, who closes them (an app may hand in the
    pair it serves)."""
    from core.backends import backend_for

    params = params or GenerationParams(max_new_tokens=128, temperature=0.0, seed=0)
    factory = backend_factory or backend_for
    names = _baseline_names(baselines, {candidate.name, reference.name, "candidate", "reference"})
    jobs = [("candidate", candidate), ("reference", reference), *zip(names, baselines, strict=True)]
    answers: dict[str, list[dict[str, str]]] = {}
    facts: dict[str, dict[str, Any]] = {}
    for role, spec in jobs:
        backend = factory(spec)
        try:
            answers[role] = collect_answers(
                backend,
                prompts,
                params,
                batch_size=batch_size,
                progress=f"{role}: {spec.name}" if progress else False,
            )
            info = backend.info().model_dump()
        finally:
            if backend_factory is None:  # ours to release; a caller's factory keeps its own
                backend.close()
        facts[role] = {
            "spec": spec.model_dump(exclude_none=True),
            "info": info,
            "weights_sha256": _weights_sha(spec),
        }
        del backend
        gc.collect()
    models = {
        "candidate": facts["candidate"],
        "reference": facts["reference"],
        "baselines": {n: facts[n] for n in names},
    }
    return ProbeAnswers(
        candidate=answers["candidate"],
        reference=answers["reference"],
        baselines={n: answers[n] for n in names},
        models=models,
        prompt_set_hash=prompt_set_hash(prompts),
        prompts=len(prompts),
        prompts_path=str(Path(prompts_path).resolve()) if prompts_path else None,
        params=params.model_dump(),
    )
