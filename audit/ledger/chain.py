"""The ledger's plumbing: short-lived DuckDB connections, chained writes, and ``verify``.

Every write is a list of row operations (insert a row, or set some columns of a row)
applied in ONE transaction together with one ``events`` row whose payload lists those
operations. The event's hash is ``sha256(prev_hash + canonical_json(payload))``, so the
events form an append-only chain. ``verify`` recomputes the chain, then replays the
operations and compares the result with every chained table: a row edited, inserted or
deleted with plain SQL, or an event edited or deleted, is found and named.

Only ``audit.ledger.store`` uses this module; nothing else talks to DuckDB.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit.ledger.migrations import TABLES, migrate
from core.errors import InputError, IntegrityError, NotFoundError, StillhouseError
from core.hashing import canonical_json

GENESIS = "0" * 64
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


class VerifyResult(BaseModel):
    """What ``verify`` found: OK with the head hash, or the first bad row and why."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(description="True when the chain and every table agree.")
    head_hash: str = Field(description="Hash of the last event (the genesis hash when empty).")
    rows: int = Field(description="Number of events checked.")
    first_bad_row: str | None = Field(
        default=None, description="The first row found bad, e.g. 'votes battle_id=b1'."
    )
    problem: str | None = Field(default=None, description="What is wrong with it, in one line.")
    checkpoints: int = Field(
        default=0, description="Signed checkpoints compared with the chain (0: none found)."
    )
    signed: bool = Field(
        default=False, description="Checkpoint signatures were checked with a public key."
    )


def now_iso() -> str:
    """The current UTC time as the ledger writes it (naive ISO 8601, microseconds)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def jsonable(value: Any) -> Any:
    """A value as it reads back from JSON (paths and dates become strings; NaN and
    infinities, which JSON cannot hold, become the strings "NaN", "Infinity", "-Infinity")."""
    return json.loads(canonical_json(value), parse_constant=str)


def event_hash(prev_hash: str, payload: Any) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


def _path_lock(path: Path) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path), threading.RLock())


def damaged(path: Path, error: BaseException) -> IntegrityError:
    """A DuckDB failure reading the ledger, as one line naming the damage."""
    first = (str(error).splitlines() or [type(error).__name__])[0]
    return IntegrityError(
        "damaged_ledger",
        f"ledger {path} is damaged: {first}",
        hint="restore it from a backup; `stillhouse audit verify` names what is wrong",
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def connect(path: Path, timeout_s: float = 60.0, *, create: bool = True) -> Iterator[Any]:
    """A short-lived connection, retried while another process holds the file's lock.

    ``create=False`` opens only a ledger that is already there: a missing file is a
    ``NotFoundError`` (exit 2), and neither the file nor its folder is made.

    The schema is brought up to date on every open (cheap when it already is). Threads of one
    process are serialised by a lock per file, so the app's threads never race on the chain
    head. With ``create=False`` (``verify``) a missing file is a ``NotFoundError`` and nothing
    is created; a file that is not a DuckDB ledger, or is damaged, is an ``IntegrityError``.
    """
    import duckdb

    lock = _path_lock(path)
    with lock:
        if not create and not path.is_file():
            raise NotFoundError(
                "no_ledger",
                f"no ledger at {path}",
                hint="check the path, or pass --db FILE of an existing ledger",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(path))
                break
            except duckdb.IOException as error:
                text = str(error)
                # Another process may be creating the file right now: its header is not yet
                # written (DuckDB's three 4 KB header blocks), so retry while it is that young.
                being_created = create and _size(path) < 3 * 4096 and "not a valid" in text
                if "lock" not in text.lower() and not (
                    being_created and time.monotonic() <= deadline
                ):
                    raise IntegrityError(
                        "not_a_ledger",
                        f"{path} is not a stillhouse ledger (DuckDB): {text.splitlines()[0]}",
                    ) from None
                if time.monotonic() > deadline:
                    raise StillhouseError(
                        "ledger_busy",
                        f"ledger {path} stayed locked for {timeout_s:.0f} s by another process",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
            except duckdb.Error as error:
                raise damaged(path, error) from None
        try:
            try:
                if not create:
                    _require_schema(con, path, tables=False)
                migrate(con)  # an older ledger gains the newer tables first
                if not create:
                    _require_schema(con, path, tables=True)
            except duckdb.Error as error:
                raise damaged(path, error) from None
            yield con
        finally:
            con.close()


def _require_schema(con, path: Path, *, tables: bool) -> None:
    """Refuse (without creating anything) a DuckDB file that has no stillhouse schema, or,
    with ``tables``, one that lacks a chained table (dropped)."""
    names = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if "schema_version" not in names:
        raise IntegrityError(
            "not_a_ledger", f"{path} is a DuckDB file but not a stillhouse ledger (no schema)"
        )
    missing = [t for t in ("events", *TABLES) if t not in names] if tables else []
    if missing:
        raise IntegrityError(
            "damaged_ledger",
            f"ledger {path} is damaged: table {', '.join(missing)} is missing (dropped)",
        )


def _sql_value(column_type: str, value: Any) -> Any:
    if column_type == "JSON":
        return None if value is None else canonical_json(value)
    return value


_TYPES: dict[str, dict[str, str]] = {}


def _column_types(con, table: str) -> dict[str, str]:
    """Column name -> type of a chained table (fixed per schema version, so cached)."""
    if table not in _TYPES:
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        _TYPES[table] = dict(rows)
    return _TYPES[table]


def apply_op(con, op: dict[str, Any]) -> None:
    """Insert a row or set columns of a row, by the table's primary key."""
    table, types = op["table"], _column_types(con, op["table"])
    key_col = TABLES[table]
    if op["op"] == "insert":
        row = op["row"]
        columns = list(row)
        marks = ", ".join("?" for _ in columns)
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            [_sql_value(types[c], row[c]) for c in columns],
        )
    else:
        sets = op["set"]
        assignments = ", ".join(f"{c} = ?" for c in sets)
        con.execute(
            f"UPDATE {table} SET {assignments} WHERE {key_col} = ?",
            [*(_sql_value(types[c], v) for c, v in sets.items()), op["key"]],
        )


def append(con, action: str, ops: list[dict[str, Any]]) -> str:
    """Apply ``ops`` and chain one event for them, inside the caller's transaction."""
    ops = jsonable(ops)
    for op in ops:
        types = _column_types(con, op["table"])
        values = op["row"] if op["op"] == "insert" else op["set"]
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise InputError(
                "unknown_column", f"{op['table']} has no column(s) {', '.join(unknown)}"
            )
        for column, value in values.items():
            values[column] = coerce(value, types[column])
        if op["op"] == "insert":
            op["key"] = values[TABLES[op["table"]]]
        apply_op(con, op)
    head = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    recorded_at = now_iso()
    payload = {"seq": seq, "action": action, "recorded_at": recorded_at, "ops": ops}
    digest = event_hash(prev, payload)
    con.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [seq, recorded_at, action, canonical_json(payload), prev, digest],
    )
    return digest


def coerce(value: Any, column_type: str) -> Any:
    """A value in the form the column gives back, so the event and the row compare equal.

    Timestamps become naive UTC ISO strings with microseconds; numbers, booleans and text
    take the column's type. Bad values raise ``InputError``.
    """
    if value is None or column_type == "JSON":
        return value
    try:
        if column_type == "TIMESTAMP":
            moment = datetime.fromisoformat(str(value))
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            return moment.isoformat(timespec="microseconds")
        if column_type == "DOUBLE":  # NaN and infinities are stored as NULL (JSON cannot hold them)
            number = float(value)
            return number if math.isfinite(number) else None
        if column_type in ("BIGINT", "INTEGER"):
            return int(value)
        if column_type == "BOOLEAN":
            if not isinstance(value, bool):
                raise ValueError("not true or false")
            return value
    except (TypeError, ValueError) as error:
        raise InputError(
            "bad_value", f"{value!r} is not a valid {column_type.lower()}: {error}"
        ) from None
    return str(value)


def normalise(value: Any, column_type: str) -> Any:
    """A stored value as the events wrote it: JSON parsed, timestamps in ISO form."""
    if value is None:
        return None
    if column_type == "JSON":
        return json.loads(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def table_rows(con, table: str) -> dict[str, dict[str, Any]]:
    """Every row of a chained table, keyed by primary key, values normalised."""
    types = _column_types(con, table)
    cursor = con.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cursor.description]
    rows = {}
    for values in cursor.fetchall():
        row = {n: normalise(v, types[n]) for n, v in zip(names, values, strict=True)}
        rows[str(row[TABLES[table]])] = row
    return rows


def _check_chain(con) -> tuple[str, int, list[tuple[int, list]], tuple[str, str] | None]:
    """Recompute the hash chain: (head, count, [(seq, ops)], first problem or None)."""
    events = con.execute(
        "SELECT seq, payload, prev_hash, hash, recorded_at, action FROM events ORDER BY seq"
    ).fetchall()
    prev = GENESIS
    replay: list[tuple[int, list]] = []
    for index, (seq, payload_text, prev_hash, digest, recorded_at, action) in enumerate(
        events, start=1
    ):
        where = f"events seq={seq}"
        try:
            payload = json.loads(payload_text)
        except ValueError:
            return prev, len(events), replay, (where, "payload is not valid JSON")
        columns = _unhashed_columns(payload, normalise(recorded_at, "TIMESTAMP"), action)
        if columns:
            problem = f"{columns} differs from the hashed payload: edited"
            return prev, len(events), replay, (where, problem)
        if seq != index:
            return (
                prev,
                len(events),
                replay,
                (f"events seq={index}", f"event {index} is missing (next is seq {seq}): deleted"),
            )
        if prev_hash != prev:
            return (
                prev,
                len(events),
                replay,
                (
                    where,
                    "prev_hash does not match the event before: an event was deleted or inserted",
                ),
            )
        if payload.get("seq") != seq or event_hash(prev, payload) != digest:
            return prev, len(events), replay, (where, "hash does not match its payload: edited")
        replay.append((seq, payload.get("ops", [])))
        prev = digest
    return prev, len(events), replay, None


def _unhashed_columns(payload: Any, recorded_at: Any, action: Any) -> str:
    """The events columns that disagree with the hashed payload (so every column is covered:
    seq, recorded_at and action through the payload, prev_hash and hash by the chain)."""
    if not isinstance(payload, dict):
        return "payload"
    bad = [
        name
        for name, value in (("recorded_at", recorded_at), ("action", action))
        if payload.get(name) != value
    ]
    return ", ".join(bad)


def _check_tables(con, replay: list[tuple[int, list]]) -> tuple[str, str] | None:
    """Replay every event's operations and compare with the tables' rows."""
    expected: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TABLES}
    touched: dict[tuple[str, str], int] = {}
    for seq, ops in replay:
        for op in ops:
            rows = expected[op["table"]]
            key = str(op["key"])
            if op["op"] == "insert":
                rows[key] = dict(op["row"])
            else:
                rows.setdefault(key, {}).update(op["set"])
            touched[(op["table"], key)] = seq
    problems: list[tuple[int, str, str]] = []
    for table, key_col in TABLES.items():
        actual = table_rows(con, table)
        for key, want in expected[table].items():
            seq = touched[(table, key)]
            where = f"{table} {key_col}={key}"
            got = actual.get(key)
            if got is None:
                problems.append((seq, where, f"row written by event {seq} is missing: deleted"))
            elif any(
                canonical_json(got.get(c)) != canonical_json(v) for c, v in want.items()
            ) or any(got[c] is not None and c not in want for c in got):
                changed = sorted(
                    c for c in got if canonical_json(got.get(c)) != canonical_json(want.get(c))
                )
                problems.append(
                    (seq, where, f"row differs from event {seq} in {', '.join(changed)}: edited")
                )
        for key in actual.keys() - expected[table].keys():
            problems.append(
                (
                    10**18,
                    f"{table} {key_col}={key}",
                    "row has no event: inserted outside the ledger, or its event was deleted",
                )
            )
    if not problems:
        return None
    _, where, problem = min(problems)
    return where, problem


def verify(con) -> VerifyResult:
    """Check the chain, then every chained table against the replayed events."""
    head, count, replay, bad = _check_chain(con)
    if bad is None:
        bad = _check_tables(con, replay)
    if bad is None:
        return VerifyResult(ok=True, head_hash=head, rows=count)
    return VerifyResult(ok=False, head_hash=head, rows=count, first_bad_row=bad[0], problem=bad[1])
