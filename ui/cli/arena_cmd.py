"""``stillhouse arena ratings`` and ``stillhouse arena export``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from core.errors import InputError, NotFoundError
from ui.cli.common import DB_OPTION, open_ledger

arena_app = typer.Typer(
    help="Arena leaderboard: Bradley-Terry ratings with bootstrap intervals, vote exports.",
    no_args_is_help=True,
)


@arena_app.command("ratings")
def ratings(
    db: Path | None = DB_OPTION,
    battles: Path | None = typer.Option(
        None,
        "--battles",
        help='JSON Lines file of battles {"model_a", "model_b", "winner"} instead of a ledger.',
    ),
    bootstrap: int = typer.Option(
        1000,
        "--bootstrap",
        help="Bootstrap rounds for the 95% intervals (0: normal approximation).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
    png: Path | None = typer.Option(
        None, "--png", help="Also draw the ratings with intervals here."
    ),
) -> None:
    """Bradley-Terry ratings with 95% intervals and ranks, from a ledger or a battles file."""
    from core.arena import bradley_terry

    if db is not None and battles is not None:
        raise InputError("bad_options", "give either --db or --battles, not both")
    table = _read_battles(battles) if battles is not None else _ledger_battles(db)
    result = bradley_terry(table, bootstrap=bootstrap, seed=seed)
    if png is not None:
        from core.arena_plot import plot_ratings

        plot_ratings(result, png)
    if as_json:
        print(json.dumps([r.model_dump() for r in result], indent=2))
        return
    width = max(len("model"), *(len(r.model) for r in result))
    print(f"{'rank':>4}  {'model':<{width}}  {'rating':>7}  {'95% interval':>17}  {'battles':>7}")
    for r in result:
        print(
            f"{r.rank:>4}  {r.model:<{width}}  {r.rating:7.1f}  [{r.lower:7.1f}, {r.upper:7.1f}]  "
            f"{r.battles:>7}"
        )


@arena_app.command("export")
def export(
    format: str = typer.Option(..., "--format", help="jsonl or parquet."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    db: Path | None = DB_OPTION,
    include_excluded: bool = typer.Option(
        False,
        "--all",
        help="Also export votes left out of ratings (flagged or not blind), marked excluded.",
    ),
) -> None:
    """Export the ledger's votes in the cleaned-battle format (plus hashes and latencies)."""
    from audit.ledger.votes import export_votes

    count = export_votes(
        open_ledger(db, create=False), format, out, include_excluded=include_excluded
    )
    print(f"wrote {count} votes to {out}")


def _read_battles(path: Path):
    from tqdm import tqdm

    from core.arena import battles_from_jsonl

    if not path.is_file():
        raise NotFoundError("no_file", f"no battles file at {path}")
    with (
        open(path, "rb") as handle,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc="reading battles",
            disable=None,
            leave=False,
        ) as bar,
    ):

        def lines():
            for line in handle:
                bar.update(len(line))
                yield line

        return battles_from_jsonl(lines(), source=str(path))


def _ledger_battles(db: Path | None):
    from audit.ledger.votes import counted_battles
    from core.arena import BattleTable

    return BattleTable.from_rows(counted_battles(open_ledger(db, create=False)))


def register(app: typer.Typer) -> None:
    app.add_typer(arena_app, name="arena")
