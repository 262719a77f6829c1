"""The ledger's schema, as numbered migrations.

Migration ``n`` brings a ledger from schema version ``n - 1`` to ``n``; each runs in
one transaction and adds a row to ``schema_version``. A ledger whose version is
higher than ``SCHEMA_VERSION`` was written by a newer stillhouse and is refused.

Tables hold typed columns for what gets queried and JSON columns for the rest, so
other parts of stillhouse can store more facts without a schema change. Every
table's primary key is its first column; ``TABLES`` names it for ``verify``.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "initial ledger",
        [
            """CREATE TABLE events (
            seq BIGINT PRIMARY KEY,
            recorded_at TIMESTAMP NOT NULL,
            action VARCHAR NOT NULL,
            payload JSON NOT NULL,
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL)""",
            """CREATE TABLE models (
            model_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            source VARCHAR,
            path VARCHAR,
            hf_id VARCHAR,
            license VARCHAR,
            weights_sha256 VARCHAR,
            config JSON,
            details JSON,
            registered_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE datasets (
            dataset_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            path VARCHAR,
            license VARCHAR,
            source VARCHAR,
            collected VARCHAR,
            merkle_root VARCHAR NOT NULL,
            records BIGINT,
            file_sha256 VARCHAR,
            details JSON,
            registered_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            seed BIGINT,
            code_version VARCHAR,
            config JSON,
            metrics JSON,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP)""",
            """CREATE TABLE run_artifacts (
            artifact_id VARCHAR PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            direction VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            role VARCHAR,
            kind VARCHAR,
            name VARCHAR,
            sha256 VARCHAR,
            license VARCHAR,
            path VARCHAR,
            records BIGINT,
            details JSON)""",
            """CREATE TABLE preflights (
            preflight_id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            verdict VARCHAR NOT NULL,
            request JSON,
            result JSON NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE findings (
            finding_id VARCHAR PRIMARY KEY,
            preflight_id VARCHAR,
            run_id VARCHAR,
            severity VARCHAR NOT NULL,
            license VARCHAR,
            clause VARCHAR,
            message VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE overrides (
            override_id VARCHAR PRIMARY KEY,
            preflight_id VARCHAR,
            run_id VARCHAR,
            verdict VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE votes (
            battle_id VARCHAR PRIMARY KEY,
            session_hash VARCHAR,
            ip_hash VARCHAR,
            voted_at TIMESTAMP NOT NULL,
            model_a VARCHAR NOT NULL,
            model_b VARCHAR NOT NULL,
            left_model VARCHAR NOT NULL,
            vote VARCHAR NOT NULL,
            prompt_hash VARCHAR,
            response_a_hash VARCHAR,
            response_b_hash VARCHAR,
            latency_a_s DOUBLE,
            latency_b_s DOUBLE,
            blind BOOLEAN NOT NULL,
            excluded BOOLEAN NOT NULL,
            exclude_reason VARCHAR,
            details JSON)""",
            """CREATE TABLE similarity (
            result_id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            candidate VARCHAR,
            reference VARCHAR,
            prompt_set_hash VARCHAR,
            risk VARCHAR,
            result JSON NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE reports (
            report_id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            model VARCHAR,
            format VARCHAR,
            path VARCHAR,
            sha256 VARCHAR,
            details JSON,
            created_at TIMESTAMP NOT NULL)""",
            "CREATE INDEX votes_session ON votes (session_hash)",
            "CREATE INDEX votes_ip ON votes (ip_hash)",
        ],
    ),
    (
        2,
        "votes keep the conversation, its style counts and a category",
        [
            "ALTER TABLE votes ADD COLUMN turns INTEGER",
            "ALTER TABLE votes ADD COLUMN prompt VARCHAR",
            "ALTER TABLE votes ADD COLUMN response_a VARCHAR",
            "ALTER TABLE votes ADD COLUMN response_b VARCHAR",
            "ALTER TABLE votes ADD COLUMN conversation_a JSON",
            "ALTER TABLE votes ADD COLUMN conversation_b JSON",
            "ALTER TABLE votes ADD COLUMN category VARCHAR",
            "ALTER TABLE votes ADD COLUMN conv_metadata JSON",
        ],
    ),
    (
        3,
        "security events (failed admin sign-ins, lockouts)",
        [
            """CREATE TABLE security_events (
            event_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            client_hash VARCHAR,
            created_at TIMESTAMP NOT NULL,
            details JSON)""",
        ],
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]

# Chained tables and their primary key; ``verify`` compares each with the events.
TABLES: dict[str, str] = {
    "models": "model_id",
    "datasets": "dataset_id",
    "runs": "run_id",
    "run_artifacts": "artifact_id",
    "preflights": "preflight_id",
    "findings": "finding_id",
    "overrides": "override_id",
    "votes": "battle_id",
    "similarity": "result_id",
    "reports": "report_id",
    "security_events": "event_id",
}


def migrate(con) -> int:
    """Bring an open DuckDB connection's schema up to ``SCHEMA_VERSION``; return the old version.

    Raises ``IntegrityError`` when the ledger comes from a newer stillhouse.
    """
    from core.errors import IntegrityError

    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT now())"
    )
    current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise IntegrityError(
            "newer_ledger",
            f"ledger schema version {current} is newer than this stillhouse "
            f"understands ({SCHEMA_VERSION})",
            hint="upgrade stillhouse to read this ledger",
        )
    for version, name, statements in MIGRATIONS:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return current
