"""Licences: the knowledge base (one YAML per licence), the pre-flight and the gate before
training."""
