"""The ledger: every model, dataset, run, finding, override, vote and similarity result.

``Store`` is the one entry point to the DuckDB ledger file. Each write is one
transaction that also appends a hash-chained event (see ``audit.ledger.chain``), so
``verify()`` finds any row edited, inserted or deleted behind the ledger's back.
Connections are short-lived and retried while another process writes, so the web
app and the CLI can share one file. ``Store`` implements ``core.recorder.Recorder``.

    store = Store()                       # $STILLHOUSE_DB or $STILLHOUSE_HOME/ledger.duckdb
    Store("typo.duckdb", create=False)    # reads and writes only a ledger already there
    store.register_dataset("prompts.jsonl", name="prompts", license="cc-by-4.0")
    run_id = store.start_run("distill", config={...}, seed=0, code_version="0.1.0", inputs=[...])
    store.finish_run(run_id, outputs=[...], metrics={...}, status="succeeded")
    assert store.verify().ok
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audit.ledger import chain as ledger
from audit.ledger.chain import VerifyResult, jsonable, now_iso
from audit.ledger.migrations import TABLES
from audit.ledger.records import VOTE_UNSTORED, VoteRecord, similarity_columns
from core.errors import InputError, NotFoundError
from core.paths import stillhouse_home
from core.recorder import ArtifactRef

__all__ = ["Store", "VerifyResult", "default_db_path"]


def default_db_path() -> Path:
    """``$STILLHOUSE_DB`` when set, else ``$STILLHOUSE_HOME/ledger.duckdb``."""
    env = os.environ.get("STILLHOUSE_DB")
    return Path(env).expanduser() if env else stillhouse_home() / "ledger.duckdb"


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _insert(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"op": "insert", "table": table, "row": row}


def _head(con: Any) -> tuple[int, str]:
    row = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, ledger.GENESIS)


_LAST_SIGNED: dict[str, tuple[int, str]] = {}


def auto_checkpoint(con: Any, path: Path) -> None:
    """After a write, sign the new head when ``$STILLHOUSE_SIGNING_KEY`` names a key file."""
    from audit.ledger import checkpoints as signed

    key = os.environ.get(signed.SIGNING_KEY_ENV)
    if not key:
        return
    head = _head(con)
    if head[0] == 0 or _LAST_SIGNED.get(str(path)) == head:
        return
    signed.write_checkpoint(
        head[0], head[1], Path(key).expanduser(), signed.default_checkpoints(path), now_iso()
    )
    _LAST_SIGNED[str(path)] = head


class Store:
    """The hash-chained DuckDB ledger. Safe to share between threads and processes."""

    def __init__(
        self, path: str | Path | None = None, *, timeout_s: float = 60.0, create: bool = True
    ) -> None:
        self.path = Path(path).expanduser() if path else default_db_path()
        self.timeout_s = timeout_s
        self.create = create  # False: a missing file is a NotFoundError, never a new ledger

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- plumbing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        with ledger.connect(self.path, self.timeout_s, create=self.create) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            auto_checkpoint(con, self.path)  # still holding the file: checkpoints stay in order

    def _write(self, action: str, ops: list[dict[str, Any]]) -> str:
        with self._transaction() as con:
            return ledger.append(con, action, ops)

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with ledger.connect(self.path, self.timeout_s, create=self.create) as con:
            cursor = con.execute(sql, params or [])
            names = [d[0] for d in cursor.description]
            types = dict(zip(names, (str(d[1]) for d in cursor.description), strict=True))
            return [
                {n: ledger.normalise(v, types[n]) for n, v in zip(names, row, strict=True)}
                for row in cursor.fetchall()
            ]

    def _select(
        self, table: str, order: str, column: str, value: str | None
    ) -> list[dict[str, Any]]:
        """Every row of ``table`` by ``order``; only those whose ``column`` is ``value`` when
        ``value`` is given (not empty)."""
        if value:
            return self._rows(f"SELECT * FROM {table} WHERE {column} = ? ORDER BY {order}", [value])
        return self._rows(f"SELECT * FROM {table} ORDER BY {order}")

    # -- Recorder protocol ------------------------------------------------------------
    def start_run(
        self,
        kind: str,
        *,
        config: dict[str, Any],
        seed: int | None,
        code_version: str,
        inputs: list[ArtifactRef],
    ) -> str:
        """Record that a run started, with its config and hashed inputs; return its id."""
        run_id = _new_id()
        row = {
            "run_id": run_id,
            "kind": kind,
            "status": "running",
            "seed": seed,
            "code_version": code_version,
            "config": jsonable(config),
            "metrics": None,
            "started_at": now_iso(),
            "finished_at": None,
        }
        ops = [_insert("runs", row), *self._artifact_ops(run_id, "input", inputs)]
        self._write("start_run", ops)
        return run_id

    def finish_run(
        self, run_id: str, *, outputs: list[ArtifactRef], metrics: dict[str, Any], status: str
    ) -> None:
        """Record a run's outputs, metrics and final status."""
        self.run(run_id)  # NotFoundError for an unknown run
        ops = [
            {
                "op": "update",
                "table": "runs",
                "key": run_id,
                "set": {"status": status, "metrics": jsonable(metrics), "finished_at": now_iso()},
            },
            *self._artifact_ops(run_id, "output", outputs),
        ]
        self._write("finish_run", ops)

    @staticmethod
    def _artifact_ops(run_id: str, direction: str, refs: list[ArtifactRef]) -> list[dict]:
        ops = []
        for position, ref in enumerate(refs):
            ref = ref if isinstance(ref, ArtifactRef) else ArtifactRef.model_validate(ref)
            row = ref.model_dump()
            row.update(
                artifact_id=f"{run_id}:{direction}:{position}",
                run_id=run_id,
                direction=direction,
                position=position,
            )
            ops.append(_insert("run_artifacts", row))
        return ops

    # -- registrations ----------------------------------------------------------------
    def register_model(
        self,
        name: str,
        *,
        license: str,
        path: str | Path | None = None,
        hf_id: str | None = None,
        source: str | None = None,
        weights_sha256: str | None = None,
        config: dict | None = None,
        details: dict | None = None,
    ) -> dict[str, Any]:
        """Register a model by name, licence and weights hash (computed from ``path``).

        The same name with the same weights hash is not stored twice: the existing
        row comes back with ``already=True``.
        """
        from audit.ledger.fingerprints import model_fingerprint

        if path is None and hf_id is None and weights_sha256 is None:
            raise InputError(
                "model_source", "give a model folder (--path) or a Hugging Face id (--hf-id)"
            )
        if path is not None:
            found = model_fingerprint(path)
            weights_sha256 = weights_sha256 or found["weights_sha256"]
            config = config if config is not None else found["config"]
        row = {
            "model_id": _new_id(),
            "name": name,
            "license": license,
            "source": source or ("local" if path else "hf"),
            "path": str(Path(path).resolve()) if path else None,
            "hf_id": hf_id,
            "weights_sha256": weights_sha256,
            "config": jsonable(config or {}),
            "details": jsonable(details or {}),
            "registered_at": now_iso(),
        }
        with self._transaction() as con:
            same = con.execute(
                "SELECT model_id FROM models WHERE name = ? AND weights_sha256 IS NOT DISTINCT "
                "FROM ?",
                [name, weights_sha256],
            ).fetchone()
            if same:
                return {**row, "model_id": same[0], "already": True}
            ledger.append(con, "register_model", [_insert("models", row)])
        return {**row, "already": False}

    def register_dataset(
        self,
        path: str | Path,
        *,
        name: str,
        license: str,
        source: str | None = None,
        collected: str | None = None,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Hash every record of a JSONL file into a Merkle root and register it.

        Bad lines raise ``InputError`` naming them, and nothing is written. A file whose
        Merkle root is already registered comes back with ``already=True`` and the
        existing name; no duplicate row is made.
        """
        from audit.ledger.fingerprints import dataset_fingerprint

        found = dataset_fingerprint(path, progress=progress)
        row = {
            "dataset_id": _new_id(),
            "name": name,
            "path": str(Path(path).resolve()),
            "license": license,
            "source": source,
            "collected": collected,
            "merkle_root": found.merkle_root,
            "records": found.records,
            "file_sha256": found.file_sha256,
            "details": {
                "canonicalised_lines": found.canonicalised_lines,
                "leaf_hash": found.leaf_hash,
            },
            "registered_at": now_iso(),
        }
        with self._transaction() as con:
            same = con.execute(
                "SELECT dataset_id, name FROM datasets WHERE merkle_root = ?", [found.merkle_root]
            ).fetchone()
            if same:
                return {**row, "dataset_id": same[0], "name": same[1], "already": True}
            ledger.append(con, "register_dataset", [_insert("datasets", row)])
        return {**row, "already": False}

    # -- pre-flight, findings, overrides ------------------------------------------------
    def record_preflight(
        self,
        result: Any,
        *,
        run_id: str | None = None,
        override_reason: str | None = None,
        request: Any = None,
    ) -> str:
        """Record a pre-flight verdict with its findings (and an override, when given)."""
        result = jsonable(result.model_dump() if hasattr(result, "model_dump") else result)
        if request is not None:
            request = jsonable(request.model_dump() if hasattr(request, "model_dump") else request)
        preflight_id, created = _new_id(), now_iso()
        ops = [
            _insert(
                "preflights",
                {
                    "preflight_id": preflight_id,
                    "run_id": run_id,
                    "verdict": result["verdict"],
                    "request": request,
                    "result": result,
                    "created_at": created,
                },
            )
        ]
        for index, finding in enumerate(result.get("findings", [])):
            ops.append(
                _insert(
                    "findings",
                    {
                        "finding_id": f"{preflight_id}:{index}",
                        "preflight_id": preflight_id,
                        "run_id": run_id,
                        "severity": finding.get("severity", "info"),
                        "license": finding.get("license"),
                        "clause": finding.get("clause"),
                        "message": finding.get("message", ""),
                        "created_at": created,
                    },
                )
            )
        if override_reason is not None:
            if not override_reason.strip():
                raise InputError("empty_override", "an override needs a written reason")
            ops.append(
                _insert(
                    "overrides",
                    {
                        "override_id": preflight_id,
                        "preflight_id": preflight_id,
                        "run_id": run_id,
                        "verdict": result["verdict"],
                        "reason": override_reason.strip(),
                        "created_at": created,
                    },
                )
            )
        self._write("record_preflight", ops)
        return preflight_id

    def link_preflight(self, preflight_id: str, run_id: str) -> None:
        """Attach a pre-flight recorded before its run started (with its findings) to the run."""
        with self._transaction() as con:
            finding_ids = [
                r[0]
                for r in con.execute(
                    "SELECT finding_id FROM findings WHERE preflight_id = ?", [preflight_id]
                ).fetchall()
            ]
            has_override = con.execute(
                "SELECT count(*) FROM overrides WHERE override_id = ?", [preflight_id]
            ).fetchone()[0]
            if not con.execute(
                "SELECT count(*) FROM preflights WHERE preflight_id = ?", [preflight_id]
            ).fetchone()[0]:
                raise NotFoundError(
                    "unknown_preflight", f"no pre-flight {preflight_id!r} in the ledger"
                )
            link = {"run_id": run_id}
            ops = [{"op": "update", "table": "preflights", "key": preflight_id, "set": link}]
            ops += [
                {"op": "update", "table": "findings", "key": f, "set": link} for f in finding_ids
            ]
            if has_override:
                ops.append({"op": "update", "table": "overrides", "key": preflight_id, "set": link})
            ledger.append(con, "link_preflight", ops)

    # -- votes, similarity, reports -------------------------------------------------------
    def record_vote(
        self,
        vote: dict[str, Any] | VoteRecord,
        caps: list[tuple[str, str, int]] | None = None,
        since: str | None = None,
    ) -> None:
        """Record one arena vote; a second vote for the same battle id raises ``InputError``.

        ``caps`` are ``(column, value, most)`` limits, e.g. ``("ip_hash", h, 200)``, counted
        over votes since ``since`` inside the same transaction as the write: parallel voters
        at a cap cannot all pass the check (``InputError("vote_cap")``)."""
        record = vote if isinstance(vote, VoteRecord) else VoteRecord.model_validate(vote)
        if record.session_id is not None or record.ip is not None:
            raise InputError(
                "raw_id", "a vote must reach the ledger with hashed ids, never the raw ones"
            )
        row = record.model_dump(exclude=set(VOTE_UNSTORED))
        row["details"] = {"choice": record.choice, "flags": record.flags, **record.details}
        row["voted_at"] = row["voted_at"] or now_iso()
        row["left_model"] = row["left_model"] or record.model_a
        with self._transaction() as con:
            if con.execute(
                "SELECT count(*) FROM votes WHERE battle_id = ?", [record.battle_id]
            ).fetchone()[0]:
                raise InputError("duplicate_vote", f"battle {record.battle_id} already has a vote")
            for column, value, most in caps or []:
                if column not in ("session_hash", "ip_hash"):
                    raise InputError("bad_cap", f"votes cannot be capped by {column!r}")
                sql = f"SELECT count(*) FROM votes WHERE {column} = ?"
                params: list[Any] = [value]
                if since is not None:
                    sql += " AND voted_at >= CAST(? AS TIMESTAMP)"
                    params.append(ledger.coerce(since, "TIMESTAMP"))
                if con.execute(sql, params).fetchone()[0] >= most:
                    raise InputError(
                        "vote_cap", "daily vote limit reached for this session or address"
                    )
            ledger.append(con, "record_vote", [_insert("votes", row)])

    def import_votes(
        self,
        path: str | Path,
        votes: list[VoteRecord],
        *,
        name: str,
        license: str,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Register a battles file (JSONL) as a dataset and record its battles as votes, in ONE
        transaction; ``{dataset}`` in a battle id becomes the dataset id. A file already
        registered comes back with ``already=True`` and nothing is written."""
        from audit.ledger.fingerprints import dataset_fingerprint

        found = dataset_fingerprint(path)
        row = {
            "dataset_id": _new_id(),
            "name": name,
            "path": str(Path(path).resolve()),
            "license": license,
            "source": source,
            "collected": None,
            "merkle_root": found.merkle_root,
            "records": found.records,
            "file_sha256": found.file_sha256,
            "details": {"kind": "arena battles", "leaf_hash": found.leaf_hash},
            "registered_at": now_iso(),
        }
        ops = [_insert("datasets", row)]
        for vote in votes:
            vote_row = vote.model_dump(exclude=set(VOTE_UNSTORED))
            vote_row["battle_id"] = vote.battle_id.replace("{dataset}", str(row["dataset_id"]))
            vote_row["voted_at"] = vote_row["voted_at"] or row["registered_at"]
            vote_row["left_model"] = vote_row["left_model"] or vote.model_a
            vote_row["excluded"] = vote.excluded or not vote.blind
            ops.append(_insert("votes", vote_row))
        with self._transaction() as con:
            same = con.execute(
                "SELECT dataset_id, name FROM datasets WHERE merkle_root = ?", [found.merkle_root]
            ).fetchone()
            if same:
                return {**row, "dataset_id": same[0], "name": same[1], "already": True, "votes": 0}
            ledger.append(con, "import_battles", ops)
        return {**row, "already": False, "votes": len(votes)}

    def record_similarity(self, result: dict[str, Any], *, run_id: str | None = None) -> str:
        """Record a similarity / replication-risk result (the full result kept as JSON)."""
        result = jsonable(result.model_dump() if hasattr(result, "model_dump") else result)
        result_id = _new_id()
        self._write(
            "record_similarity",
            [
                _insert(
                    "similarity",
                    {
                        "result_id": result_id,
                        "run_id": run_id,
                        **similarity_columns(result),
                        "result": result,
                        "created_at": now_iso(),
                    },
                )
            ],
        )
        return result_id

    def record_report(
        self,
        *,
        format: str,
        path: str | Path | None = None,
        sha256: str | None = None,
        run_id: str | None = None,
        model: str | None = None,
        details: dict | None = None,
    ) -> str:
        """Record that a report was exported (its format, file and hash)."""
        report_id = _new_id()
        self._write(
            "record_report",
            [
                _insert(
                    "reports",
                    {
                        "report_id": report_id,
                        "run_id": run_id,
                        "model": model,
                        "format": format,
                        "path": str(path) if path else None,
                        "sha256": sha256,
                        "details": jsonable(details or {}),
                        "created_at": now_iso(),
                    },
                )
            ],
        )
        return report_id

    def record_security_event(
        self, kind: str, *, client_hash: str | None = None, details: dict | None = None
    ) -> str:
        """Record a security event (a failed admin sign-in, a lockout). Never the guess."""
        event_id = _new_id()
        row = {
            "event_id": event_id,
            "kind": kind,
            "client_hash": client_hash,
            "created_at": now_iso(),
            "details": jsonable(details or {}),
        }
        self._write("record_security_event", [_insert("security_events", row)])
        return event_id

    def security_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self._select("security_events", "created_at", "kind", kind)

    # -- queries ---------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM models ORDER BY registered_at")

    def datasets(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM datasets ORDER BY registered_at")

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self._select("runs", "started_at", "kind", kind)

    def run(self, run_id: str) -> dict[str, Any]:
        """One run with its inputs, outputs, metrics, config, pre-flights, findings and
        overrides."""
        found = self._rows("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if not found:
            raise NotFoundError("unknown_run", f"no run {run_id!r} in the ledger {self.path}")
        run = found[0]
        artifacts = self._rows(
            "SELECT * FROM run_artifacts WHERE run_id = ? ORDER BY position", [run_id]
        )
        run["inputs"] = [a for a in artifacts if a["direction"] == "input"]
        run["outputs"] = [a for a in artifacts if a["direction"] == "output"]
        run["preflights"] = self._rows(
            "SELECT * FROM preflights WHERE run_id = ? ORDER BY created_at", [run_id]
        )
        run["findings"] = self.findings(run_id)
        run["overrides"] = [o for o in self.overrides() if o["run_id"] == run_id]
        return run

    def preflights(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM preflights ORDER BY created_at")

    def findings(self, run_id: str | None = None) -> list[dict[str, Any]]:
        return self._select("findings", "created_at, finding_id", "run_id", run_id)

    def overrides(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM overrides ORDER BY created_at")

    def votes(self, include_excluded: bool = True) -> list[dict[str, Any]]:
        where = "" if include_excluded else "WHERE NOT excluded "
        return self._rows(f"SELECT * FROM votes {where}ORDER BY voted_at, battle_id")

    def count_votes(
        self, session_hash: str | None = None, ip_hash: str | None = None, since: Any = None
    ) -> int:
        """How many votes match all the given filters (``since``: ISO time or datetime)."""
        clauses, params = [], []
        for column, value in (("session_hash", session_hash), ("ip_hash", ip_hash)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("voted_at >= CAST(? AS TIMESTAMP)")
            params.append(
                ledger.coerce(
                    since.isoformat() if hasattr(since, "isoformat") else since, "TIMESTAMP"
                )
            )
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return int(self._rows(f"SELECT count(*) AS n FROM votes{where}", params)[0]["n"])

    def similarity_results(self, model: str | None = None) -> list[dict[str, Any]]:
        if model:
            return self._rows(
                "SELECT * FROM similarity WHERE candidate = ? OR reference = ? ORDER BY created_at",
                [model, model],
            )
        return self._rows("SELECT * FROM similarity ORDER BY created_at")

    def reports(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM reports ORDER BY created_at")

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The chained events, oldest first (the last ``limit`` when given)."""
        rows = self._rows(
            "SELECT seq, recorded_at, action, prev_hash, hash FROM events ORDER BY seq"
        )
        return rows[-limit:] if limit else rows

    def head_hash(self) -> str:
        """The hash of the last event: one value that pins the whole ledger."""
        rows = self._rows("SELECT hash FROM events ORDER BY seq DESC LIMIT 1")
        return rows[0]["hash"] if rows else ledger.GENESIS

    def verify(
        self, checkpoints: str | Path | None = None, public_key: str | Path | None = None
    ) -> VerifyResult:
        """Recompute the hash chain, compare every table with it, then every signed checkpoint.

        Checkpoints come from ``checkpoints`` (it must exist then) or the default file beside
        the ledger; ``public_key`` (default ``$STILLHOUSE_VERIFY_KEY`` or the signing key's
        ``.pub``) checks their signatures. A missing ledger is a ``NotFoundError`` and nothing
        is created; a damaged one an ``IntegrityError``."""
        import duckdb

        from audit.ledger import checkpoints as signed

        file = (
            Path(checkpoints).expanduser() if checkpoints else signed.default_checkpoints(self.path)
        )
        key = Path(public_key).expanduser() if public_key else signed.default_public_key()
        with ledger.connect(self.path, self.timeout_s, create=False) as con:
            try:
                result = ledger.verify(con)
                events = dict(con.execute("SELECT seq, hash FROM events").fetchall())
            except duckdb.Error as error:
                raise ledger.damaged(self.path, error) from None
        found = signed.check(events, file, key, required=checkpoints is not None)
        update: dict[str, Any] = {"checkpoints": found.checked, "signed": found.signed}
        if result.ok and not found.ok:
            update.update(ok=False, first_bad_row=found.where, problem=found.problem)
        return result.model_copy(update=update)

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest signed checkpoint beside the ledger (None when there is none)."""
        from audit.ledger import checkpoints as signed

        point = signed.latest(signed.default_checkpoints(self.path))
        return point.model_dump() if point else None

    def checkpoint(self, key: str | Path, checkpoints: str | Path | None = None) -> dict[str, Any]:
        """Sign the current head with the private key in ``key`` and append it to the
        checkpoints file (default: beside the ledger); return the checkpoint."""
        from audit.ledger import checkpoints as signed

        file = (
            Path(checkpoints).expanduser() if checkpoints else signed.default_checkpoints(self.path)
        )
        with ledger.connect(self.path, self.timeout_s, create=False) as con:
            seq, head = _head(con)
            point = signed.write_checkpoint(seq, head, Path(key).expanduser(), file, now_iso())
        return point.model_dump()

    @staticmethod
    def tables() -> list[str]:
        return list(TABLES)
