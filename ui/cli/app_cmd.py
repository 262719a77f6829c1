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

from pathlib import Path

import typer

from ui.cli.common import DB_OPTION


def serve_app(
    teacher: str = typer.Option(
        "smollm2-135m-instruct", "--teacher", help="Teacher model name, folder or HF id."
    ),
    student: str | None = typer.Option(
        None,
        "--student",
        help="Student model name or folder; default: the teacher's quick-distilled student.",
    ),
    db: Path | None = DB_OPTION,
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
    from ui.app import start
    from ui.config import AppConfig
    from ui.services.student import default_student

    config = AppConfig(
        teacher=teacher,
        student=student or default_student(teacher, preset),
        db_path=str(db) if db else None,
        max_new_tokens=max_new_tokens,
    )
    start(config, preset=preset, distill=not no_distill, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command("app")(serve_app)
