"""``stillhouse audit verify|register-dataset|register-model|show``: the tamper-evident ledger.

Every command takes ``--db FILE`` (``ui.cli.common.DB_OPTION``); the default ledger is
``$STILLHOUSE_DB`` or ``$STILLHOUSE_HOME/ledger.duckdb``. ``verify`` and ``show`` only read:
they refuse a missing file (exit 2) and create nothing; ``register-*`` create the ledger.
Other command modules add commands to ``audit_app`` (e.g. ``audit report``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ui.cli.common import DB_OPTION, open_ledger

audit_app = typer.Typer(
    help="The tamper-evident ledger: register data and models, show, verify.", no_args_is_help=True
)


def _check_license(license_id: str) -> str:
    from audit.licences.knowledge import UNKNOWN, get_license

    return UNKNOWN if license_id.strip().lower() == UNKNOWN else get_license(license_id).id


@audit_app.command("verify")
def verify(
    db: Path | None = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recompute the hash chain and check every table; exit 1 naming the first bad row."""
    result = open_ledger(db, create=False).verify()
    if as_json:
        print(json.dumps(result.model_dump(), indent=2))
    elif result.ok:
        print(f"OK  {result.rows} events, head {result.head_hash}")
    else:
        print(f"FAILED  {result.first_bad_row}: {result.problem}")
        print(f"chain checked up to head {result.head_hash} ({result.rows} events)")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("register-dataset")
def register_dataset(
    file: Path = typer.Argument(..., help="JSONL file, one record per line."),
    name: str = typer.Option(..., "--name", help="Name of the dataset in the ledger."),
    license: str = typer.Option(
        ..., "--license", help="Licence id (see `stillhouse licenses list`)."
    ),
    source: str | None = typer.Option(None, "--source", help="Where the data came from (URL)."),
    collected: str | None = typer.Option(None, "--collected", help="Collection date, YYYY-MM-DD."),
    db: Path | None = DB_OPTION,
) -> None:
    """Hash every record (canonical JSON, SHA-256) into a Merkle root and register the dataset."""
    import datetime

    from core.errors import InputError

    if collected:
        try:
            collected = datetime.date.fromisoformat(collected).isoformat()
        except ValueError:
            raise InputError(
                "bad_date", f"--collected must be a date like 2026-11-29, not {collected!r}"
            ) from None
    row = open_ledger(db, create=True).register_dataset(
        file,
        name=name,
        license=_check_license(license),
        source=source,
        collected=collected,
        progress=True,
    )
    if row["already"]:
        print(
            f"already registered as '{row['name']}' (dataset {row['dataset_id']}): same Merkle "
            "root "
            f"{row['merkle_root']}; nothing added"
        )
        return
    print(f"registered dataset '{name}' ({row['dataset_id']})")
    print(f"records      {row['records']}")
    print(f"merkle root  {row['merkle_root']}")
    print(f"file sha256  {row['file_sha256']}")


@audit_app.command("register-model")
def register_model(
    name: str = typer.Option(..., "--name", help="Name of the model in the ledger."),
    license: str = typer.Option(
        ..., "--license", help="Licence id (see `stillhouse licenses list`)."
    ),
    path: Path | None = typer.Option(
        None, "--path", help="Checkpoint folder (or single weights file)."
    ),
    hf_id: str | None = typer.Option(None, "--hf-id", help="Hugging Face repository id."),
    revision: str | None = typer.Option(None, "--revision", help="Git revision of --hf-id."),
    db: Path | None = DB_OPTION,
) -> None:
    """Register a model: its weights' SHA-256, config and licence."""
    from core.errors import InputError

    if (path is None) == (hf_id is None):
        raise InputError("model_source", "give exactly one of --path DIR or --hf-id ID")
    details = {"revision": revision} if revision else {}
    row = open_ledger(db, create=True).register_model(
        name, license=_check_license(license), path=path, hf_id=hf_id, details=details
    )
    if row["already"]:
        print(
            f"already registered: '{name}' with weights {row['weights_sha256']} ({row['model_id']})"
        )
        return
    print(f"registered model '{name}' ({row['model_id']})")
    print(
        "weights sha256  "
        f"{row['weights_sha256'] or '(not available: hub id only, nothing downloaded)'}"
    )


@audit_app.command("show")
def show(
    db: Path | None = DB_OPTION,
    run_id: str | None = typer.Option(None, "--run", help="Show one run in full."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List what the ledger holds: models, datasets, runs, findings, votes, similarity results."""
    store = open_ledger(db, create=False)
    if run_id:
        run = store.run(run_id)
        print(json.dumps(run, indent=2, ensure_ascii=False) if as_json else _format_run(run))
        return
    summary = {
        "ledger": str(store.path),
        "head_hash": store.head_hash(),
        "models": store.models(),
        "datasets": store.datasets(),
        "runs": store.runs(),
        "overrides": store.overrides(),
        "votes": store.count_votes(),
        "similarity_results": len(store.similarity_results()),
    }
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    print(f"ledger  {summary['ledger']}\nhead    {summary['head_hash']}")
    print(f"\nmodels ({len(summary['models'])})")
    for m in summary["models"]:
        print(
            f"  {m['name']:<28} {m['license'] or '-':<16} "
            f"{(m['weights_sha256'] or m['hf_id'] or '-')[:64]}"
        )
    print(f"\ndatasets ({len(summary['datasets'])})")
    for d in summary["datasets"]:
        print(
            f"  {d['name']:<28} {d['license'] or '-':<16} {d['records']:>9} records  root "
            f"{d['merkle_root'][:16]}"
        )
    print(f"\nruns ({len(summary['runs'])})")
    for r in summary["runs"]:
        print(f"  {r['run_id']}  {r['kind']:<10} {r['status']:<11} {r['started_at'][:19]}")
    print(
        f"\noverrides {len(summary['overrides'])}   votes {summary['votes']}   "
        f"similarity results {summary['similarity_results']}"
    )


def _format_run(run: dict) -> str:
    lines = [
        f"run {run['run_id']}  {run['kind']}  {run['status']}",
        f"started {run['started_at']}  finished {run['finished_at'] or '-'}",
        f"code {run['code_version']}  seed {run['seed']}",
    ]
    for label in ("inputs", "outputs"):
        lines.append(f"{label}:")
        lines += [
            f"  {a['role']:<14} {a['kind']:<8} {a['name']}  {a['sha256'] or ''}  "
            f"{a['license'] or ''}"
            for a in run[label]
        ]
    for p in run["preflights"]:
        lines.append(f"pre-flight: {p['verdict']}")
    lines += [
        f"  [{f['severity']}] {f['license']} {f['clause'] or ''}: {f['message']}"
        for f in run["findings"]
    ]
    lines += [f"override: {o['reason']} (verdict was {o['verdict']})" for o in run["overrides"]]
    lines.append(f"metrics: {json.dumps(run['metrics'])}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
