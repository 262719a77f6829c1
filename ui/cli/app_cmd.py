"""``stillhouse app``: the main job. Prepare, distill if needed, record, serve.

    stillhouse app                       # default teacher vs its quick-distilled student
    stillhouse app --no-distill --student ./my-student --port 8080

1. Prepares the teacher (the bundled default is converted from GGUF once).
2. If the student is not cached yet (and ``--no-distill`` is not given), distills it
   from the teacher with the preset (``quick`` by default), progress in the terminal.
3. Everything goes into the ledger (``--db``, default ``$STILLHOUSE_HOME/ledger.duckdb``).
4. Serves the web app on http://HOST:PORT with teacher vs student.

A second start finds the student cached and is serving within seconds.
"""

from __future__ import annotations

import typer

from core.errors import InputError, NotFoundError


def serve_app(
    teacher: str = typer.Option(
        "smollm2-135m-instruct", "--teacher", help="Teacher model name, folder or HF id."
    ),
    student: str | None = typer.Option(
        None,
        "--student",
        help="Student model name or folder; default: the teacher's quick-distilled student.",
    ),
    db: str | None = typer.Option(
        None, "--db", help="Ledger file (default $STILLHOUSE_DB or $STILLHOUSE_HOME/ledger.duckdb)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
    no_distill: bool = typer.Option(
        False, "--no-distill", help="Never distill: fail if the student is missing."
    ),
    preset: str = typer.Option(
        "quick", "--preset", help="Distillation preset used when the student is missing."
    ),
    max_new_tokens: int = typer.Option(
        128, "--max-new-tokens", help="Most tokens per chat answer."
    ),
) -> None:
    """Prepare the teacher, distill the student if none is cached, then serve the app."""
    from core.models import offline_env

    offline_env()
    from ui.app import AppConfig

    config = AppConfig(
        teacher=teacher,
        student=student or default_student(teacher, preset),
        db_path=db,
        max_new_tokens=max_new_tokens,
    )
    start(config, preset=preset, distill=not no_distill, host=host, port=port)


def start(config, *, preset: str, distill: bool, host: str, port: int) -> None:
    """The main job: prepare the teacher, distill the student if missing, record both, serve."""
    from ui.app import build_app, launch_app

    config = config.model_copy(
        update={"student": ensure_student(config, preset=preset, distill=distill)}
    )
    demo = build_app(config)
    demo.services.register_served_models()  # type: ignore[attr-defined]
    print(f"stillhouse: ledger {config.ledger_path()}", flush=True)
    print(
        f"stillhouse: serving {demo.services.teacher_label()} vs {demo.services.student_label()} "  # type: ignore[attr-defined]
        f"on http://{host}:{port}",
        flush=True,
    )
    launch_app(demo, host=host, port=port)


def default_student(teacher: str, preset: str) -> str:
    """The name core.distill gives the student of ``teacher`` under ``preset``."""
    from core.distill.config import load_preset

    return load_preset(preset, [f"teacher={teacher}"]).student_name


def ensure_student(config, *, preset: str, distill: bool) -> str:
    """Prepare the teacher; distill the student with ``preset`` unless it is already there."""
    from core.models import prepare_model, resolve_model

    print(f"stillhouse: preparing teacher {config.teacher}", flush=True)
    prepare_model(resolve_model(config.teacher), progress=True)
    try:
        resolve_model(config.student)
        return config.student
    except NotFoundError:
        if not distill:
            raise NotFoundError(
                "missing_student",
                f"student '{config.student}' is not cached and --no-distill was given",
                hint="drop --no-distill, or run `stillhouse distill` first",
            ) from None
    from audit.ledger.store import Store
    from audit.licences.gate import preflight_gate
    from core.distill.config import load_preset
    from core.distill.run import check_inputs
    from core.distill.run import distill as run_distill
    from ui.services.distill import preflight_request

    print(
        f"stillhouse: no student cached: distilling {config.student} from {config.teacher} "
        f"with the '{preset}' preset (once; later starts reuse it)",
        flush=True,
    )
    dconfig = load_preset(preset, [f"teacher={config.teacher}", f"student_name={config.student}"])
    check_inputs(dconfig)  # a bad prompt file fails before the pre-flight is recorded
    gate = preflight_gate(Store(config.ledger_path()), preflight_request(dconfig, "commercial"))
    print(f"stillhouse: licence pre-flight: {gate.result.verdict}", flush=True)
    if gate.refused:
        raise InputError(
            "preflight_blocked",
            "licence pre-flight verdict is blocked: not distilling (recorded in the ledger)",
            hint="see `stillhouse audit` or run `stillhouse distill` with --override-reason",
        )
    result = run_distill(dconfig, recorder=gate.recorder, progress=True)
    print(f"stillhouse: student saved in {result.student_dir} (run {result.run_id})", flush=True)
    print(result.table, flush=True)
    return result.student_name


def register(app: typer.Typer) -> None:
    app.command("app")(serve_app)
