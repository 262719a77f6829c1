"""The ``stillhouse`` command line.

Each command group lives in its own module under ``ui.cli`` and exposes
``register(app)``. Modules import torch, transformers, duckdb and gradio inside the
command functions, never at the top, so ``stillhouse --help`` answers at once.
Every ``StillhouseError`` becomes one line on stderr and its exit code; a usage error
(unknown option, missing argument) prints click's usage message and exits 2; never a
traceback. The ledger is opened in one place, ``ui.cli.common.open_ledger``.
"""

from __future__ import annotations

import importlib
import sys

import typer

from core.errors import StillhouseError

try:  # typer >= 0.26 vendors click and raises its own copy of click's exceptions
    from typer._click.exceptions import ClickException
except ImportError:  # older typer raises click's
    from click.exceptions import ClickException  # type: ignore[no-redef]

# One line per command module; each defines register(app: typer.Typer).
COMMAND_MODULES = (
    "ui.cli.models_cmd",
    "ui.cli.serve_cmd",
    "ui.cli.app_cmd",
    "ui.cli.arena_cmd",
    "ui.cli.distill_cmd",
    "ui.cli.audit_cmd",
    "ui.cli.report_cmd",
    "ui.cli.licenses_cmd",
    "ui.cli.similarity_cmd",
)

app = typer.Typer(
    name="stillhouse",
    help="Distill a teacher LLM into a student, serve both, vote blind, and keep a "
    "tamper-evident ledger of what was distilled from what, under which licences.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def fail(error: StillhouseError) -> int:
    """Print a StillhouseError as one line (plus its hint) and return its exit code."""
    line = f"error: {error.message}"
    if error.hint:
        line += f" (hint: {error.hint})"
    print(line, file=sys.stderr)
    return error.exit_code


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI and turn every known failure into a clean exit."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="stillhouse")
    except StillhouseError as error:
        return _exit(fail(error))
    except typer.Exit as done:
        return _exit(done.exit_code)
    except ClickException as error:  # usage errors: exit 2 with click's message
        error.show()
        return _exit(error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return _exit(130)
    return _exit(result if isinstance(result, int) else 0)


def _exit(code: int) -> int:
    sys.stdout.flush()
    raise SystemExit(code)
