"""Typed records the ledger accepts from other parts of stillhouse (votes, similarity)."""

from __future__ import annotations

from typing import Any

from core.vote import VoteRecord

__all__ = ["VoteRecord", "similarity_columns"]

# The one vote type is ``core.vote.VoteRecord`` (a plain pydantic type; audit may import it).
# The ledger stores every field except the raw ids, the button pressed and the flags (those
# two go into ``details``).
VOTE_UNSTORED = ("session_id", "ip", "choice", "flags")


def similarity_columns(result: dict[str, Any]) -> dict[str, Any]:
    """The queried facts of a similarity result: model names, prompt-set hash, risk level."""

    def first(*names: str) -> Any:
        for name in names:
            value = result.get(name)
            if isinstance(value, dict):
                value = value.get("name") or value.get("level")
            if value not in (None, ""):
                return str(value)
        return None

    return {
        "candidate": first("candidate", "candidate_model", "candidate_name"),
        "reference": first("reference", "reference_model", "reference_name"),
        "prompt_set_hash": first("prompt_set_hash", "prompts_hash", "prompt_set_sha256"),
        "risk": first("risk", "risk_level", "level"),
    }
