"""Typed records the ledger accepts from other parts of stillhouse (votes, similarity)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

VoteChoice = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
_VOTE_ALIASES = {
    "a": "model_a",
    "left": "model_a",
    "model_a": "model_a",
    "b": "model_b",
    "right": "model_b",
    "model_b": "model_b",
    "tie": "tie",
    "both_bad": "tie (bothbad)",
    "bothbad": "tie (bothbad)",
    "tie (bothbad)": "tie (bothbad)",
    "tie_bothbad": "tie (bothbad)",
}


class VoteRecord(BaseModel):
    """One arena vote, as the ledger stores it. Session id and IP arrive already hashed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    battle_id: str = Field(
        min_length=1, description="Unique id of the battle; a second vote for it is refused."
    )
    session_hash: str | None = Field(
        default=None,
        validation_alias=AliasChoices("session_hash", "session_id_hash"),
        description="SHA-256 of the voter's session id (never the id itself).",
    )
    ip_hash: str | None = Field(
        default=None, description="Salted SHA-256 of the voter's IP address."
    )
    voted_at: str | None = Field(
        default=None,
        validation_alias=AliasChoices("voted_at", "time", "timestamp"),
        description="UTC time of the vote, ISO 8601; now when omitted.",
    )
    model_a: str = Field(min_length=1, description="Name of the model shown as 'model A'.")
    model_b: str = Field(min_length=1, description="Name of the model shown as 'model B'.")
    left_model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("left_model", "positions", "left"),
        description="Which model was shown on the left (model_a's name when omitted).",
    )
    vote: VoteChoice = Field(description="model_a, model_b, tie or 'tie (bothbad)'.")
    prompt_hash: str | None = Field(default=None, description="SHA-256 of the prompt text.")
    response_a_hash: str | None = Field(default=None, description="SHA-256 of model A's answer.")
    response_b_hash: str | None = Field(default=None, description="SHA-256 of model B's answer.")
    latency_a_s: float | None = Field(default=None, description="Seconds model A took to answer.")
    latency_b_s: float | None = Field(default=None, description="Seconds model B took to answer.")
    blind: bool = Field(
        default=True, description="True when identities were hidden until the vote."
    )
    excluded: bool = Field(
        default=False, description="True when the vote must not count in ratings."
    )
    exclude_reason: str | None = Field(
        default=None, description="Why it is excluded, e.g. 'a response named a model'."
    )
    details: dict[str, Any] = Field(default_factory=dict, description="Any further facts (JSON).")

    @field_validator("vote", mode="before")
    @classmethod
    def _known_vote(cls, value: Any) -> Any:
        return _VOTE_ALIASES.get(str(value).strip().lower(), value)

    @field_validator("voted_at", mode="before")
    @classmethod
    def _iso_time(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value


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
