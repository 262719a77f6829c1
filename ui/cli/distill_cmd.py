"""``stillhouse distill --preset quick [--set key=value ...] [--resume]``."""

from __future__ import annotations

import typer


def make_recorder():
    """The recorder every distill run reports to. (The ledger's Store goes here.)"""
    from core.recorder import NullRecorder

    return NullRecorder()


def distill(
    preset: str = typer.Option("quick", "--preset", "-p", help="Preset name in data/presets/ or a YAML file."),
    set_: list[str] = typer.Option([], "--set", "-s", help="Override a setting: key=value (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run with the same settings."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Distill a teacher into a student: teacher data, top-k cache, training, evaluation."""
    from core.distill.config import load_preset

    config = load_preset(preset, set_)
    recorder = make_recorder()
    from core.distill.run import distill as run_distill

    result = run_distill(config, recorder=recorder, progress=not quiet, resume=resume)
    if not result.student_dir:  # a non-main process under accelerate launch / torchrun
        return
    print(result.table)
    print(f"student     {result.student_dir}  (sha256 {result.student_sha256[:16]}...)")
    print(f"evaluation  {result.eval_json}")
    if result.loss_curve_png:
        print(f"loss curve  {result.loss_curve_png}")
    print(f"run         {result.run_id}  ({result.wall_s:.0f} s)")


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
