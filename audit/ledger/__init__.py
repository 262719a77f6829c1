"""The ledger: DuckDB store, numbered migrations, the hash chain, record types, fingerprints,
votes."""
