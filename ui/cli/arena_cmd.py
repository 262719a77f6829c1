"""``stillhouse arena ratings``, ``stillhouse arena export`` and ``stillhouse arena import``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from core.errors import InputError, NotFoundError
from ui.cli.common import DB_OPTION, open_ledger

arena_app = typer.Typer(
    help="Arena leaderboard: anchored and style-controlled Bradley-Terry ratings, open battle "
    "data out and in.",
    no_args_is_help=True,
)


@arena_app.command("ratings")
def ratings(
    db: Path | None = DB_OPTION,
    battles: Path | None = typer.Option(
        None,
        "--battles",
        help='JSON Lines file of battles {"model_a", "model_b", "winner", optional '
        '"conv_metadata", "category"} instead of a ledger.',
    ),
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="Model held at 1000 (default: the default teacher when it has battles, else "
        "centred); 'none' centres the ratings on their mean.",
    ),
    category: str = typer.Option("all", "--category", help="Rate only this prompt category."),
    bootstrap: int = typer.Option(
        1000,
        "--bootstrap",
        help="Bootstrap rounds for the 95% intervals (0: Laplace intervals only).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the bootstrap."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON: the anchor, and per model both ratings with intervals."
    ),
    png: Path | None = typer.Option(
        None, "--png", help="Also draw the ratings with intervals here."
    ),
) -> None:
    """Default and style-controlled Bradley-Terry ratings with 95% intervals and ranks."""
    from core.arena_board import arena_ratings
    from core.models import DEFAULT_TEACHER

    if db is not None and battles is not None:
        raise InputError("bad_options", "give either --db or --battles, not both")
    rows = _read_battles(battles) if battles is not None else _ledger_battles(db)
    chosen = None if (anchor or "").lower() == "none" else anchor or DEFAULT_TEACHER
    board = arena_ratings(
        rows,
        anchor=chosen,
        strict=anchor is not None,
        bootstrap=bootstrap,
        seed=seed,
        category=category,
    )
    if png is not None:
        from core.arena import Rating
        from core.arena_plot import plot_ratings

        plot_ratings(
            [
                Rating(
                    **m.model_dump(include={"model", "rating", "lower", "upper", "rank"}),
                    battles=m.battles,
                )
                for m in board.models
            ],
            png,
            anchor=board.anchor,
        )
    if as_json:
        print(board.model_dump_json(indent=2))
        return
    _print_board(board)


def _print_board(board) -> None:
    width = max(len("model"), *(len(m.model) for m in board.models))
    print(
        f"anchor: {board.anchor or 'none (centred on 1000)'} · {board.battles} battles "
        f"({board.style_battles} with style counts) · category {board.category}"
    )
    print(
        f"{'rank':>4}  {'model':<{width}}  {'rating':>7}  {'95% interval':>18}  "
        f"{'style-ctrl':>10}  {'95% interval':>18}  {'battles':>7}"
    )
    for m in board.models:
        style = (
            f"{m.style_rating:10.1f}  [{m.style_lower:7.1f}, {m.style_upper:7.1f}]"
            if m.style_rating is not None
            else f"{'-':>10}  {'':>18}"
        )
        print(
            f"{m.rank:>4}  {m.model:<{width}}  {m.rating:7.1f}  [{m.lower:7.1f}, {m.upper:7.1f}]  "
            f"{style}  {m.battles:>7}"
        )
    if board.style_coefficients:
        print(
            "style coefficients (log-odds per sd): "
            + ", ".join(f"{k} {c.value:+.3f}" for k, c in board.style_coefficients.items())
        )
    if board.style_note:
        print(f"note: {board.style_note}")


@arena_app.command("export")
def export(
    format: str = typer.Option(
        ..., "--format", help="fastchat (a JSON array), jsonl (the same records), or parquet."
    ),
    out: Path = typer.Option(..., "--out", help="File to write."),
    db: Path | None = DB_OPTION,
    include_excluded: bool = typer.Option(
        False,
        "--all",
        help="Also export votes left out of ratings (flagged or not blind), marked excluded.",
    ),
) -> None:
    """Export the ledger's battles in FastChat's clean_battle shape (parquet: flat vote rows)."""
    from audit.ledger.battle_data import export_battles
    from audit.ledger.votes import export_votes

    store = open_ledger(db, create=False)
    if format == "parquet":
        count = export_votes(store, format, out, include_excluded=include_excluded)
    else:
        count = export_battles(store, format, out, include_excluded=include_excluded)
    print(f"wrote {count} battles to {out}")


@arena_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="Battles file: a FastChat JSON array or JSON Lines."),
    name: str = typer.Option(..., "--name", help="Name of the battle data set in the ledger."),
    license: str = typer.Option(..., "--license", help="Licence id of the battle data."),
    source: str | None = typer.Option(None, "--source", help="Where the data came from (URL)."),
    db: Path | None = DB_OPTION,
) -> None:
    """Import battles (FastChat clean_battle shape) as a dataset with its licence, and as votes."""
    from audit.ledger.battle_data import import_battles

    store = open_ledger(db, create=True)
    done = import_battles(store, path, name=name, license=license, source=source)
    if done["already"]:
        print(f"already imported as dataset {done['dataset_id']} ({done['name']}); nothing written")
    else:
        print(f"imported {done['votes']} battles as dataset {done['dataset_id']} ({name})")


def _read_battles(path: Path) -> list[dict]:
    """Rows of a battles file (JSONL, or a FastChat JSON array), checked; an error names the
    line. Rows marked excluded or not blind are skipped."""
    from tqdm import tqdm

    from core.arena import battles_from_jsonl

    if not path.is_file():
        raise NotFoundError("no_file", f"no battles file at {path}")
    if path.read_bytes()[:64].lstrip().startswith(b"["):
        from audit.ledger.battle_data import read_battle_file

        return [r for r in read_battle_file(path) if _counts(r)]
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
        lines = []
        for line in handle:
            bar.update(len(line))
            lines.append(line)
    battles_from_jsonl(lines, source=str(path))  # checks every row, naming the line
    return [r for r in (json.loads(line) for line in lines if line.strip()) if _counts(r)]


def _counts(row: dict) -> bool:
    return row.get("excluded") is not True and row.get("blind", row.get("anony")) is not False


def _ledger_battles(db: Path | None) -> list[dict]:
    from audit.ledger.votes import counted_battles

    return counted_battles(open_ledger(db, create=False))


def register(app: typer.Typer) -> None:
    app.add_typer(arena_app, name="arena")
