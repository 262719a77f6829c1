"""``stillhouse similarity score`` and ``stillhouse similarity probe``: replication risk."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from core.errors import InputError
from ui.cli.common import DB_OPTION, open_ledger

similarity_app = typer.Typer(
    help="Replication risk: is a candidate's output closer to a reference model's than an "
    "unrelated baseline's is? Calibrated p-values, verbatim runs, protected passages.",
    no_args_is_help=True,
)


def _config(
    permutations, seed, verbatim_tokens, warn_tokens, min_match, embedding_backend, metrics
):
    from audit.similarity.schema import SimilarityConfig

    values = dict(
        permutations=permutations,
        seed=seed,
        verbatim_tokens=verbatim_tokens,
        verbatim_warn_tokens=warn_tokens,
        min_match_fraction=min_match,
        embedding_backend=embedding_backend,
    )
    if metrics:
        values["metrics"] = [m.strip() for m in metrics.split(",") if m.strip()]
        if "embedding" not in values["metrics"]:
            values["primary_metric"] = values["metrics"][0]
    return SimilarityConfig.build(**values)


def _print(outcome, as_json: bool) -> None:
    report = outcome.report
    if as_json:
        payload = report.model_dump(mode="json")
        payload.update(result_id=outcome.result_id, run_id=outcome.run_id, plot=outcome.plot)
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    risk = report.risk
    p = "n/a" if report.p_value is None else f"{report.p_value:.4g}"
    print(
        f"replication risk: {risk.level.upper()}{'' if risk.calibrated else ' (uncalibrated)'}"
        f"   p-value ({report.config.primary_metric}): {p}"
    )
    print(
        f"candidate {report.candidate} vs reference {report.reference}; baselines: "
        f"{', '.join(report.baselines) or 'none'}; prompts scored: {report.matching.matched}"
    )
    print(f"{'metric':<12} {'candidate':>9} {'baseline':>9} {'d_z':>7} {'p (Holm)':>9}")
    for m in report.metrics:
        best = max(m.comparisons, key=lambda c: c.baseline_mean, default=None)
        base = "-" if best is None else f"{best.baseline_mean:9.3f}"
        d = "-" if m.effect_size is None else f"{m.effect_size:7.2f}"
        pv = "-" if m.p_value is None else f"{m.p_value:9.4g}"
        print(f"{m.metric:<12} {m.candidate_mean:9.3f} {base:>9} {d:>7} {pv:>9}")
    for finding in report.verbatim[:5]:
        print(
            f"verbatim {finding.level}: {finding.tokens} tokens, prompt {finding.prompt_id}: "
            f"{finding.span[:100]!r}"
        )
    for finding in report.protected[:5]:
        print(
            f"protected: passage {finding.passage_id} in prompt {finding.prompt_id}, "
            f"{finding.tokens} tokens"
        )
    for reason in risk.reasons:
        print(f"reason: {reason}")
    for level in ("high", "medium"):
        print(f"threshold {level}: {risk.thresholds[level]}")
    for note in report.notes:
        print(f"note: {note}")
    print(
        f"recorded: similarity {outcome.result_id}"
        + (f", run {outcome.run_id}" if outcome.run_id else "")
    )
    if outcome.plot:
        print(f"plot: {outcome.plot}")


# Options shared by both commands.
_PERMUTATIONS = typer.Option(9999, "--permutations", help="Permutations per test (>= 1000).")
_SEED = typer.Option(0, "--seed", help="Seed of the permutation test.")
_VERBATIM = typer.Option(
    50, "--verbatim-tokens", help="Shared run length (tokens) that is a verbatim finding."
)
_WARN = typer.Option(
    25, "--warn-tokens", help="Shared run length (tokens) that is a verbatim warning."
)
_MIN_MATCH = typer.Option(
    0.5, "--min-match", help="Least share of reference prompts that must match in every file."
)
_BACKEND = typer.Option(
    "auto",
    "--embedding-backend",
    help="auto (torch under bf16 autocast on a CPU with native bf16, else ONNX Runtime when "
    "the onnx extra and the model's export are there, else torch), torch, torch-bf16, or onnx.",
)
_METRICS = typer.Option(
    None, "--metrics", help="Comma-separated subset of embedding,rougeL,chrF,minhash,longest_run."
)
_PROTECTED = typer.Option(
    None,
    "--protected",
    help='JSONL of protected passages {"id", "text"} to look for in the candidate.',
)
_PLOT = typer.Option(None, "--plot", help="Write the per-prompt similarity picture (PNG) here.")
_JSON = typer.Option(False, "--json", help="Print the full result as JSON.")


@similarity_app.command("score")
def score(
    reference: Path = typer.Option(
        ..., "--reference", help='JSONL {"prompt_id", "text"}: the reference model\'s answers.'
    ),
    candidate: Path = typer.Option(
        ..., "--candidate", help="JSONL: the candidate model's answers."
    ),
    baseline: list[Path] = typer.Option(
        [], "--baseline", help="JSONL: an unrelated model's answers (repeatable)."
    ),
    protected: Path | None = _PROTECTED,
    as_json: bool = _JSON,
    db: Path | None = DB_OPTION,
    plot: Path | None = _PLOT,
    permutations: int = _PERMUTATIONS,
    seed: int = _SEED,
    verbatim_tokens: int = _VERBATIM,
    warn_tokens: int = _WARN,
    min_match: float = _MIN_MATCH,
    embedding_backend: str = _BACKEND,
    metrics: str | None = _METRICS,
) -> None:
    """Score answers already captured (say, from a hosted API) and record the result in the
    ledger."""
    from audit.similarity.service import score_and_record_files

    config = _config(
        permutations, seed, verbatim_tokens, warn_tokens, min_match, embedding_backend, metrics
    )
    outcome = score_and_record_files(
        open_ledger(db, create=True),
        reference,
        candidate,
        baseline,
        protected,
        config,
        plot=plot,
        progress=not as_json,
    )
    _print(outcome, as_json)


@similarity_app.command("probe")
def probe(
    candidate: str = typer.Option(
        ..., "--candidate", help="Model under suspicion (name, folder, .gguf or HF id)."
    ),
    reference: str = typer.Option(..., "--reference", help="Model it may have learned from."),
    baseline: list[str] = typer.Option([], "--baseline", help="An unrelated model (repeatable)."),
    prompts: Path | None = typer.Option(
        None,
        "--prompts",
        help="Probe prompts JSONL {prompt_id, prompt} (default: data/probes/default.jsonl).",
    ),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="Most tokens per answer."),
    temperature: float = typer.Option(
        0.0, "--temperature", help="0 (default) is greedy; > 0 samples, seeded by --seed."
    ),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts generated together."),
    save_answers: Path | None = typer.Option(
        None, "--save-answers", help="Folder to write every model's answers (JSONL)."
    ),
    protected: Path | None = _PROTECTED,
    as_json: bool = _JSON,
    db: Path | None = DB_OPTION,
    plot: Path | None = _PLOT,
    permutations: int = _PERMUTATIONS,
    seed: int = _SEED,
    verbatim_tokens: int = _VERBATIM,
    warn_tokens: int = _WARN,
    min_match: float = _MIN_MATCH,
    embedding_backend: str = _BACKEND,
    metrics: str | None = _METRICS,
) -> None:
    """Have the models answer the probe prompts, score them, record everything in the ledger."""
    from core.generation import GenerationParams
    from core.models import offline_env, resolve_model
    from core.probe import load_prompts

    if batch_size < 1:
        raise InputError("bad_batch_size", f"--batch-size must be at least 1, got {batch_size}")
    config = _config(
        permutations, seed, verbatim_tokens, warn_tokens, min_match, embedding_backend, metrics
    )
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    specs = [resolve_model(name) for name in (candidate, reference, *baseline)]
    probe_prompts = load_prompts(prompts)
    store = open_ledger(db, create=True)
    offline_env()
    from audit.similarity.service import score_and_record_probe
    from core.probe import default_prompts_path, probe_models

    answers = probe_models(
        specs[0],
        specs[1],
        specs[2:],
        probe_prompts,
        params,
        prompts_path=prompts or default_prompts_path(),
        batch_size=batch_size,
    )
    if save_answers is not None:
        _save(answers, save_answers)
    outcome = score_and_record_probe(
        store, answers, config, protected=protected, plot=plot, progress=not as_json
    )
    _print(outcome, as_json)


def _save(answers, folder: Path) -> None:
    from audit.similarity.io import write_rows

    folder.mkdir(parents=True, exist_ok=True)
    write_rows(folder / "candidate.jsonl", answers.candidate)
    write_rows(folder / "reference.jsonl", answers.reference)
    for name, rows in answers.baselines.items():
        write_rows(folder / f"baseline-{name}.jsonl", rows)


def register(app: typer.Typer) -> None:
    app.add_typer(similarity_app, name="similarity")
