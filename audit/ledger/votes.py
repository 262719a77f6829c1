"""Arena votes in the ledger: the anti-abuse policy, pseudonymous ids, ratings and exports.

    policy = VotePolicy(max_votes_per_session_per_day=50, max_votes_per_ip_per_day=200)
    sink = functools.partial(
        record_vote, store, policy=policy
    )   # hand to core.battle.BattleService
    record_vote(store, vote, policy)        # raises InputError("vote_cap", ...) over a cap
    battles = counted_battles(store)      # rows for core.arena.BattleTable.from_rows
    export_votes(store, "parquet", Path("votes.parquet"))

A vote (``core.battle.VoteRecord`` or a dict with the same fields) carries the RAW session
id and IP; they are hashed here with a salted SHA-256 and only the hashes are stored. The
salt is ``VotePolicy.salt``, else ``$STILLHOUSE_VOTE_SALT``, else a random salt created once
in ``$STILLHOUSE_HOME/vote_salt``. A dict that already holds ``session_hash`` / ``ip_hash``
is stored as given.

Caps count the votes recorded for the same hashed session, and for the same hashed IP, in
the last ``window_hours`` (24 h by default, a rolling day). ``None`` switches a cap off.
The check and the write are two steps, so two votes racing at the cap may both pass: a
cap can be exceeded by the number of concurrent voters, never more.

Votes whose answers named a model (or were empty), and votes that were not blind, are
kept in the ledger with ``excluded=True`` and a reason; ratings leave them out.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from core.paths import stillhouse_home

EXPORT_FORMATS = ("jsonl", "parquet")
_EXPORT_FIELDS = (
    "battle_id",
    "model_a",
    "model_b",
    "winner",
    "voted_at",
    "blind",
    "excluded",
    "exclude_reason",
    "session_hash",
    "prompt_hash",
    "response_a_hash",
    "response_b_hash",
    "latency_a_s",
    "latency_b_s",
)
_FLAG_TEXT = {"names_model": "a response named a model", "empty": "a response was empty"}


class VotePolicy(BaseModel):
    """Anti-abuse rules for recording votes; every rule can be changed or switched off."""

    model_config = ConfigDict(extra="forbid")

    max_votes_per_session_per_day: int | None = Field(
        default=50, ge=1, description="Most votes per hashed session id per window; None = no cap."
    )
    max_votes_per_ip_per_day: int | None = Field(
        default=200, ge=1, description="Most votes per hashed IP address per window; None = no cap."
    )
    window_hours: float = Field(
        default=24.0, gt=0, description="Length of the rolling 'day' in hours."
    )
    salt: str | None = Field(
        default=None, description="Salt for hashing session ids and IPs; None = env or stored salt."
    )


def vote_salt(policy: VotePolicy | None = None) -> str:
    """The salt in use: the policy's, ``$STILLHOUSE_VOTE_SALT``, or one kept in STILLHOUSE_HOME."""
    if policy is not None and policy.salt:
        return policy.salt
    if os.environ.get("STILLHOUSE_VOTE_SALT"):
        return os.environ["STILLHOUSE_VOTE_SALT"]
    path = stillhouse_home() / "vote_salt"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def hash_id(value: str, salt: str) -> str:
    """Salted SHA-256 of a session id or IP address (hex)."""
    return hashlib.sha256(f"{salt}\x00{value}".encode()).hexdigest()


def _votes_left(
    store: Any, session_hash: str | None, ip_hash: str | None, policy: VotePolicy
) -> int | None:
    since = (
        (datetime.now(UTC) - timedelta(hours=policy.window_hours)).replace(tzinfo=None).isoformat()
    )
    left: list[int] = []
    for cap, key in (
        (policy.max_votes_per_session_per_day, "session_hash"),
        (policy.max_votes_per_ip_per_day, "ip_hash"),
    ):
        value = session_hash if key == "session_hash" else ip_hash
        if cap is not None and value:
            left.append(cap - store.count_votes(**{key: value}, since=since))
    return max(0, min(left)) if left else None


def record_vote(store: Any, vote: Any, policy: VotePolicy | None = None) -> dict[str, Any]:
    """Check the caps, hash the ids and record the vote; return the row as stored.

    Raises ``InputError`` (``vote_cap``) over a cap, (``duplicate_vote``) on a second vote
    for a battle, (``bad_vote``) on a malformed vote; nothing is written then."""
    policy = policy or VotePolicy()
    row = to_ledger_row(vote, vote_salt(policy))
    if _votes_left(store, row["session_hash"], row["ip_hash"], policy) == 0:
        raise InputError(
            "vote_cap",
            "daily vote limit reached for this session or address",
            hint=f"at most {policy.max_votes_per_session_per_day} per session and "
            f"{policy.max_votes_per_ip_per_day} per address in {policy.window_hours:g} h",
        )
    store.record_vote(row)
    return row


def to_ledger_row(vote: Any, salt: str) -> dict[str, Any]:
    """A battle vote (raw ids) as the ledger's vote row (hashed ids, excluded flag and reason)."""
    data = (
        vote.model_dump()
        if hasattr(vote, "model_dump")
        else dict(vote)
        if isinstance(vote, Mapping)
        else None
    )
    if data is None:
        raise InputError("bad_vote", "a vote must be a mapping or a pydantic model")
    missing = [k for k in ("battle_id", "model_a", "model_b") if not data.get(k)]
    if missing or not (data.get("winner") or data.get("vote")):
        raise InputError("bad_vote", f"vote is missing {', '.join(missing) or 'winner'}")
    session = data.get("session_id")
    ip = data.get("ip")
    flags = list(data.get("flags") or [])
    blind = bool(data.get("blind", True))
    reasons = [
        _FLAG_TEXT.get(f.split(":")[0], f) + (f" ({f.split(':')[1]})" if ":" in f else "")
        for f in flags
    ]
    if not blind:
        reasons.append("identities were shown before the vote")
    excluded = bool(data.get("excluded")) or bool(reasons)
    return {
        "battle_id": data["battle_id"],
        "session_hash": hash_id(session, salt) if session else data.get("session_hash"),
        "ip_hash": hash_id(ip, salt) if ip else data.get("ip_hash"),
        "voted_at": data.get("time") or data.get("voted_at"),
        "model_a": data["model_a"],
        "model_b": data["model_b"],
        "left_model": data.get("left_model") or data["model_a"],
        "vote": data.get("winner") or data.get("vote"),
        "prompt_hash": data.get("prompt_sha256") or data.get("prompt_hash"),
        "response_a_hash": data.get("response_a_sha256") or data.get("response_a_hash"),
        "response_b_hash": data.get("response_b_sha256") or data.get("response_b_hash"),
        "latency_a_s": data.get("latency_a_s"),
        "latency_b_s": data.get("latency_b_s"),
        "blind": blind,
        "excluded": excluded,
        "exclude_reason": "; ".join(reasons) or data.get("exclude_reason"),
        "details": {"choice": data.get("choice"), "flags": flags},
    }


def counted_battles(store: Any) -> list[dict[str, str]]:
    """Blind, non-excluded votes as cleaned-battle rows {model_a, model_b, winner}, oldest first."""
    return [
        {"model_a": v["model_a"], "model_b": v["model_b"], "winner": v["vote"]}
        for v in store.votes(include_excluded=False)
        if v.get("blind", True)
    ]


def export_votes(
    store: Any, format: str, out: str | Path, *, include_excluded: bool = False
) -> int:
    """Write votes (cleaned-battle fields plus ledger facts; no IP hashes) as JSONL or Parquet.

    By default only votes that count (blind, not excluded); return the number written."""
    if format not in EXPORT_FORMATS:
        raise InputError("bad_format", f"unknown export format {format!r}", hint="jsonl or parquet")
    rows = [
        {k: (v["vote"] if k == "winner" else v.get(k)) for k in _EXPORT_FIELDS}
        for v in store.votes(include_excluded=include_excluded)
        if include_excluded or v.get("blind", True)
    ]
    from core.paths import atomic_file

    out = Path(out)
    if format == "jsonl":
        import json

        with atomic_file(out) as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=_arrow_schema(pa))
        with atomic_file(out, "wb") as handle:
            pq.write_table(table, handle)
    return len(rows)


def _arrow_schema(pa: Any) -> Any:
    types = {
        "blind": pa.bool_(),
        "excluded": pa.bool_(),
        "latency_a_s": pa.float64(),
        "latency_b_s": pa.float64(),
    }
    return pa.schema([(k, types.get(k, pa.string())) for k in _EXPORT_FIELDS])
