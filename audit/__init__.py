"""Everything the ledger knows: the DuckDB store, licence knowledge base and pre-flight,
provenance fingerprints, similarity and reports. Never imports core's backends or gradio."""
