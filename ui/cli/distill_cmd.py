"""``stillhouse distill --preset quick [--set key=value ...] [--resume]``."""

from __future__ import annotations

from pathlib import Path

import typer

from ui.cli.common import DB_OPTION, open_ledger


def make_recorder(
    config, db: Path | None = None, use: str = "commercial", override_reason: str | None = None
):
    """Pre-flight the run's licences, record it in the ledger, and return the ledger's recorder.

    Prints the verdict and findings. A ``blocked`` verdict stops here (exit 2) unless
    ``override_reason`` is given; the pre-flight, and the override, are recorded either way.
    """
    from audit.licences.gate import preflight_gate
    from core.errors import InputError
    from ui.cli.licenses_cmd import format_result
    from ui.services.distill import preflight_request

    if use not in ("commercial", "research"):
        raise InputError("bad_use", f"--use must be commercial or research, not {use!r}")
    request = preflight_request(config, use)
    gate = preflight_gate(open_ledger(db, create=True), request, override_reason)
    print(format_result(gate.result))
    if gate.refused:
        raise InputError(
            "preflight_blocked",
            "pre-flight verdict is blocked: run refused (recorded in the ledger)",
            hint="resolve the findings, or give --override-reason TEXT; the override is recorded",
        )
    if gate.overridden:
        print(f"override recorded: {override_reason.strip()}")
    return gate.recorder


def distill(
    preset: str = typer.Option(
        "quick", "--preset", "-p", help="Preset name in data/presets/ or a YAML file."
    ),
    set_: list[str] = typer.Option(
        [], "--set", "-s", help="Override a setting: key=value (repeatable)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run with the same settings."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    db: Path | None = DB_OPTION,
    use: str = typer.Option(
        "commercial",
        "--use",
        help="Intended use of the student for the licence pre-flight: commercial or research.",
    ),
    override_reason: str | None = typer.Option(
        None,
        "--override-reason",
        help="Run even if the licence pre-flight says blocked; the reason is recorded.",
    ),
    judge: str | None = typer.Option(
        None, "--judge", help="Judge model for a pairwise win rate (OpenAI-compatible endpoint)."
    ),
    judge_url: str = typer.Option(
        "http://127.0.0.1:8000/v1",
        "--judge-url",
        envvar="STILLHOUSE_JUDGE_URL",
        help="Base URL of the judge's OpenAI-compatible API (key: $OPENAI_API_KEY).",
    ),
) -> None:
    """Distill a teacher into a student: teacher data, top-k cache, training, evaluation."""
    from core.distill.config import load_preset
    from core.distill.run import check_inputs
    from core.distill.run import distill as run_distill

    config = load_preset(preset, set_)
    check_inputs(config)  # a bad prompt file fails before the pre-flight is recorded
    import os

    # Under accelerate launch / torchrun only the main process pre-flights and writes the ledger
    # (one DuckDB file, one writer); the others train with a NullRecorder.
    main = os.environ.get("RANK", "0") == "0"
    recorder = make_recorder(config, db, use, override_reason) if main else None

    result = run_distill(config, recorder=recorder, progress=not quiet, resume=resume)
    if not result.student_dir:  # a non-main process under accelerate launch / torchrun
        return
    print(result.table)
    from ui.services.quality import answer_quality, judge_answers

    win_rate = None
    if judge:
        outcome = judge_answers(result.evaluation, judge, judge_url)
        win_rate = outcome.win_rate
        print(
            outcome.error
            or f"judge {judge}: student win rate {win_rate:.0%} "
            f"({outcome.judged} verdicts, both orders)"
        )
    for line in answer_quality(result.evaluation, win_rate)["lines"]:
        print(line)
    print(f"student     {result.student_dir}  (sha256 {result.student_sha256[:16]}...)")
    print(f"evaluation  {result.eval_json}")
    if result.loss_curve_png:
        print(f"loss curve  {result.loss_curve_png}")
    print(f"run         {result.run_id}  ({result.wall_s:.0f} s)")


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
