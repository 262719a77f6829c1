"""Open battle data: the ledger's votes in FastChat's ``clean_battle`` shape, out and in.

    export_battles(store, "fastchat", Path("battles.json"))   # a JSON array, as FastChat's
    export_battles(store, "jsonl", Path("battles.jsonl"))     # the same records, one a line
    import_battles(store, Path("battles.json"), name="lmsys-sample", license="cc-by-4.0")

Each record: ``question_id`` (the battle id), ``model_a``, ``model_b``, ``winner``
(``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``), ``judge`` (the salted session hash),
``turn``, ``anony`` (blind), ``tstamp`` (Unix seconds), ``conv_metadata`` (token and markdown
counts: ``sum_user_tokens``, ``sum_assistant_a_tokens``, ``header_count_a`` {h1..h6},
``list_count_a`` {ordered, unordered}, ``bold_count_a`` {"**", "__"}, and the same for b),
``category``, and, when the deployment keeps text, ``conversation_a`` / ``conversation_b``
in the OpenAI message shape. arena-rank and FastChat's notebooks read these fields as they
are (``pandas.read_json``).

An import is checked whole before anything is written: a record that is not an object, lacks
``model_a`` / ``model_b`` / ``winner``, has an unknown winner or a bad ``conv_metadata``, or a
model whose only battles are not counted (``anony`` false), stops it with one line naming the
record. A good file is registered as a dataset (per-record hashes, Merkle root, its own
licence) and its battles become votes (``import:<dataset id>:<n>``) in ONE transaction;
importing the same records again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import InputError, NotFoundError
from core.paths import atomic_file, stillhouse_home
from core.vote import WINNERS, VoteRecord, style_totals

BATTLE_FORMATS = ("fastchat", "jsonl")


def battle_records(store: Any, *, include_excluded: bool = False) -> list[dict[str, Any]]:
    """The ledger's votes as clean-battle records, oldest first (counted ones by default)."""
    out = []
    for v in store.votes(include_excluded=include_excluded):
        if not include_excluded and not v.get("blind", True):
            continue
        record: dict[str, Any] = {
            "question_id": v["battle_id"],
            "model_a": v["model_a"],
            "model_b": v["model_b"],
            "winner": v["vote"],
            "judge": v.get("session_hash"),
            "turn": v.get("turns") or 1,
            "anony": bool(v.get("blind", True)),
            "tstamp": _tstamp(v.get("voted_at")),
            "category": v.get("category"),
            "conv_metadata": v.get("conv_metadata"),
            "prompt_hash": v.get("prompt_hash"),
            "response_a_hash": v.get("response_a_hash"),
            "response_b_hash": v.get("response_b_hash"),
        }
        if v.get("conversation_a") is not None:
            record["conversation_a"] = v["conversation_a"]
            record["conversation_b"] = v["conversation_b"]
        if include_excluded:
            record["excluded"] = bool(v.get("excluded"))
            record["exclude_reason"] = v.get("exclude_reason")
        out.append(record)
    return out


def export_battles(
    store: Any, format: str, out: str | Path, *, include_excluded: bool = False
) -> int:
    """Write the battles as a FastChat JSON array or JSON Lines; return how many."""
    if format not in BATTLE_FORMATS:
        raise InputError(
            "bad_format", f"unknown battle format {format!r}", hint=" or ".join(BATTLE_FORMATS)
        )
    records = battle_records(store, include_excluded=include_excluded)
    with atomic_file(Path(out)) as handle:
        if format == "fastchat":
            json.dump(records, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        else:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def read_battle_file(path: str | Path) -> list[dict[str, Any]]:
    """The records of a FastChat JSON array or a JSON Lines file, checked (one error line)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError("no_file", f"no battles file at {path}")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError("bad_battle_row", f"{path}: not valid JSON ({error.msg})") from None
    else:
        records = []
        for line, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                try:
                    records.append(json.loads(raw))
                except json.JSONDecodeError as error:
                    raise InputError(
                        "bad_battle_row", f"record {line}: not valid JSON ({error.msg})"
                    ) from None
    _check_records(records)
    return records


def _check_records(records: list[Any]) -> None:
    counted: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for n, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise InputError("bad_battle_row", f"record {n}: a battle must be a JSON object")
        missing = [k for k in ("model_a", "model_b", "winner") if record.get(k) in (None, "")]
        if missing:
            raise InputError("bad_battle_row", f"record {n}: missing field {', '.join(missing)}")
        if record["winner"] not in WINNERS:
            raise InputError(
                "bad_battle_row",
                f"record {n}: unknown winner {record['winner']!r}",
                hint="expected one of " + ", ".join(WINNERS),
            )
        if record["model_a"] == record["model_b"]:
            raise InputError(
                "self_battle", f"record {n}: model {record['model_a']!r} battles itself"
            )
        if record.get("conv_metadata") is not None:
            style_totals(record["conv_metadata"], f"record {n}")
        for model in (record["model_a"], record["model_b"]):
            first_seen.setdefault(model, n)
            counted[model] = counted.get(model, 0) + int(record.get("anony", True) is not False)
    for model, count in counted.items():
        if count == 0:
            raise InputError(
                "zero_battles",
                f"record {first_seen[model]}: model {model!r} has zero counted battles "
                "(all its battles are anony: false)",
            )
    if not records:
        raise InputError("no_battles", "the file holds no battles")


def import_battles(
    store: Any, path: str | Path, *, name: str, license: str, source: str | None = None
) -> dict[str, Any]:
    """Check a battles file, then register it as a dataset and record its battles as votes in
    one transaction. Returns the dataset row with ``votes`` (how many were recorded)."""
    records = read_battle_file(path)
    votes = [_imported_vote(r, n, name) for n, r in enumerate(records, start=1)]
    return store.import_votes(
        _as_jsonl(Path(path), records), votes, name=name, license=license, source=source
    )


def _imported_vote(r: Mapping[str, Any], n: int, name: str) -> VoteRecord:
    try:
        return VoteRecord(
            battle_id=f"import:{{dataset}}:{n}",  # the store fills in the dataset id
            session_hash=r.get("judge") if isinstance(r.get("judge"), str) else None,
            voted_at=_iso(r.get("tstamp")),
            model_a=r["model_a"],
            model_b=r["model_b"],
            vote=r["winner"],
            blind=r.get("anony", True) is not False,
            turns=max(1, int(r.get("turn") or 1)),
            category=r.get("category") if isinstance(r.get("category"), str) else None,
            conv_metadata=r.get("conv_metadata"),
            conversation_a=r.get("conversation_a"),
            conversation_b=r.get("conversation_b"),
            details={"imported": name, "question_id": r.get("question_id")},
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError("bad_battle_row", f"record {n}: {where}: {first['msg']}") from None


def _as_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """A JSON Lines file of the records (the ledger hashes datasets record by record): the file
    itself when it is one, else a copy kept under $STILLHOUSE_HOME/arena/imports."""
    if not path.read_text(encoding="utf-8").lstrip().startswith("["):
        return path
    import hashlib

    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    folder = stillhouse_home() / "arena" / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.jsonl"
    with atomic_file(copy) as handle:
        handle.write(text)
    return copy


def _tstamp(voted_at: Any) -> float | None:
    if not voted_at:
        return None
    when = datetime.fromisoformat(str(voted_at))
    return when.replace(tzinfo=UTC).timestamp()


def _iso(tstamp: Any) -> str | None:
    if not isinstance(tstamp, int | float) or isinstance(tstamp, bool):
        return None
    return datetime.fromtimestamp(float(tstamp), UTC).replace(tzinfo=None).isoformat()
