"""What every command that touches the ledger shares: the one ``--db`` option and opener.

    def verify(db: Path | None = DB_OPTION) -> None:
        store = open_ledger(db, create=False)    # a reader: a missing file is exit 2
    def distill(..., db: Path | None = DB_OPTION) -> None:
        store = open_ledger(db, create=True)     # a writer: makes the ledger on first use

Without ``--db`` the ledger is ``$STILLHOUSE_DB``, else ``$STILLHOUSE_HOME/ledger.duckdb``.
Readers (``audit verify``, ``audit show``, ``audit report``, ``audit verify-report``,
``arena ratings``, ``arena export``) never create a file or a folder: a mistyped path
is one line and exit 2, not a new empty ledger that verifies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.errors import NotFoundError

if TYPE_CHECKING:
    from audit.ledger.store import Store

DB_OPTION = typer.Option(
    None,
    "--db",
    help="Ledger file (default: $STILLHOUSE_DB or $STILLHOUSE_HOME/ledger.duckdb).",
)


def ledger_path(db: Path | str | None) -> Path:
    """The ledger file ``--db`` names, or the default one."""
    from audit.ledger.store import default_db_path

    return Path(db).expanduser() if db else default_db_path()


def open_ledger(db: Path | str | None, *, create: bool) -> Store:
    """The ledger at ``db`` (or the default). ``create=False``: it must already be there."""
    from audit.ledger.store import Store

    path = ledger_path(db)
    if not create and not path.is_file():
        raise NotFoundError(
            "no_ledger",
            f"no ledger at {path}",
            hint="check --db; commands that record (distill, app, audit register-*) create it",
        )
    return Store(path, create=create)
