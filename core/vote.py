"""One arena vote, from the battle service to the ledger: ``VoteRecord`` and its style facts.

    record = VoteRecord(battle_id="b1", session_id="raw", model_a="t", model_b="s",
                        vote="model_a", turns=1, prompt="Hi", response_a="Hello", ...)
    meta = conv_metadata(conversation_a, conversation_b, tokens_a=12, tokens_b=30)
    markdown_counts("# Title\\n- one\\n**bold**")  # {"header_count": {...}, ...}

``VoteRecord`` is the only vote type: ``core.battle`` builds it with the RAW session id and
IP; ``audit.ledger.votes`` hashes them into ``session_hash`` / ``ip_hash`` and blanks the raw
values before the ledger stores it (the store refuses a record that still holds a raw id).
With ``store_text`` off, the sink also blanks ``prompt``, the answers and the conversations,
keeping only their hashes, the counts and the category.

Markdown counts follow FastChat's ``count_markdown_elements``: headers ``h1``-``h6`` (lines
starting with 1-6 ``#``), list items ``ordered`` (``1.``) and ``unordered`` (``-``, ``*``,
``+``), bold ``**`` and ``__`` spans; code blocks are removed first. ``conv_metadata`` has the
shape of FastChat's ``clean_battle`` rows (token sums, context tokens, turns, the counts).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from core.errors import InputError

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
WINNERS: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
STYLE_KEYS = ("sum_assistant_{}_tokens", "header_count_{}", "list_count_{}", "bold_count_{}")
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
_CODE = re.compile(r"```[^`]*```", re.DOTALL)
_HEADER = {f"h{n}": re.compile(rf"^{'#' * n}\s", re.MULTILINE) for n in range(1, 7)}
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD = {"**": re.compile(r"\*\*[^*\n]+\*\*"), "__": re.compile(r"__[^_\n]+__")}


class VoteRecord(BaseModel):
    """One arena vote: who met whom, the verdict, the conversation (or its hashes) and its style
    facts. Raw ``session_id`` / ``ip`` exist only until the ledger's sink hashes them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    battle_id: str = Field(min_length=1, description="Battle id; a second vote for it is refused.")
    session_id: str | None = Field(
        default=None, description="RAW session id from the battle; hashed and blanked by the sink."
    )
    ip: str | None = Field(
        default=None, description="RAW client IP, if known; hashed and blanked by the sink."
    )
    session_hash: str | None = Field(
        default=None,
        validation_alias=AliasChoices("session_hash", "session_id_hash"),
        description="Salted SHA-256 of the voter's session id (never the id itself).",
    )
    ip_hash: str | None = Field(
        default=None, description="Salted SHA-256 of the voter's IP address."
    )
    voted_at: str | None = Field(
        default=None,
        validation_alias=AliasChoices("voted_at", "time", "timestamp"),
        description="UTC time of the vote, naive ISO 8601; now when omitted.",
    )
    model_a: str = Field(min_length=1, description="Model shown on the left ('model A').")
    model_b: str = Field(min_length=1, description="Model shown on the right ('model B').")
    left_model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("left_model", "positions", "left"),
        description="Which model was shown on the left (model_a's name when omitted).",
    )
    choice: Literal["left", "right", "tie", "bothbad"] | None = Field(
        default=None, description="The button pressed: left, right, tie or bothbad."
    )
    vote: Winner = Field(
        validation_alias=AliasChoices("vote", "winner"),
        description="model_a, model_b, tie or 'tie (bothbad)'.",
    )
    prompt_hash: str | None = Field(
        default=None,
        validation_alias=AliasChoices("prompt_hash", "prompt_sha256"),
        description="SHA-256 of the prompt text (all user turns, joined by blank lines).",
    )
    response_a_hash: str | None = Field(
        default=None,
        validation_alias=AliasChoices("response_a_hash", "response_a_sha256"),
        description="SHA-256 of model A's answers (all turns, joined by blank lines).",
    )
    response_b_hash: str | None = Field(
        default=None,
        validation_alias=AliasChoices("response_b_hash", "response_b_sha256"),
        description="SHA-256 of model B's answers (all turns, joined by blank lines).",
    )
    latency_a_s: float | None = Field(default=None, description="Seconds model A took, in all.")
    latency_b_s: float | None = Field(default=None, description="Seconds model B took, in all.")
    blind: bool = Field(default=True, description="True when identities were hidden until now.")
    flags: list[str] = Field(
        default_factory=list, description="Why the vote does not count: names_model:<side>, ..."
    )
    excluded: bool = Field(default=False, description="True when it must not count in ratings.")
    exclude_reason: str | None = Field(default=None, description="Why it is excluded.")
    turns: int = Field(default=1, ge=1, description="User turns in the conversation voted on.")
    prompt: str | None = Field(
        default=None, description="The user turns as text; None when text is not kept."
    )
    response_a: str | None = Field(
        default=None, description="Model A's answers as text; None when text is not kept."
    )
    response_b: str | None = Field(
        default=None, description="Model B's answers as text; None when text is not kept."
    )
    conversation_a: list[dict[str, str]] | None = Field(
        default=None, description="Model A's conversation (role/content); None when not kept."
    )
    conversation_b: list[dict[str, str]] | None = Field(
        default=None, description="Model B's conversation (role/content); None when not kept."
    )
    category: str | None = Field(default=None, description="Prompt category (data/arena).")
    conv_metadata: dict[str, Any] | None = Field(
        default=None, description="Token and markdown counts, FastChat clean_battle shape."
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
        return value.isoformat() if hasattr(value, "isoformat") else value


def markdown_counts(text: str) -> dict[str, dict[str, int]]:
    """Headers, list items and bold spans in one answer (code blocks are not counted)."""
    text = _CODE.sub("", text)
    return {
        "header_count": {k: len(p.findall(text)) for k, p in _HEADER.items()},
        "list_count": {
            "ordered": len(_ORDERED.findall(text)),
            "unordered": len(_UNORDERED.findall(text)),
        },
        "bold_count": {k: len(p.findall(text)) for k, p in _BOLD.items()},
    }


def conv_metadata(
    conversation_a: list[dict[str, str]],
    conversation_b: list[dict[str, str]],
    *,
    tokens_a: int,
    tokens_b: int,
    user_tokens: int | None = None,
    context_a_tokens: int | None = None,
    context_b_tokens: int | None = None,
) -> dict[str, Any]:
    """FastChat's ``conv_metadata`` for one battle: token sums, turns and markdown counts."""
    answers_a = [m["content"] for m in conversation_a if m["role"] == "assistant"]
    answers_b = [m["content"] for m in conversation_b if m["role"] == "assistant"]
    users = [m["content"] for m in conversation_a if m["role"] == "user"]
    meta: dict[str, Any] = {
        "sum_user_tokens": user_tokens if user_tokens is not None else _words(users),
        "sum_assistant_a_tokens": int(tokens_a),
        "sum_assistant_b_tokens": int(tokens_b),
        "context_a_tokens": context_a_tokens if context_a_tokens is not None else int(tokens_a),
        "context_b_tokens": context_b_tokens if context_b_tokens is not None else int(tokens_b),
        "turns": len(users),
    }
    for side, answers in (("a", answers_a), ("b", answers_b)):
        counts = markdown_counts("\n\n".join(answers))
        for key, value in counts.items():
            meta[f"{key}_{side}"] = value
    return meta


def style_totals(meta: Any, where: str) -> tuple[list[float], list[float]]:
    """Answer tokens, headers, list items and bold spans of sides a and b, from one
    ``conv_metadata``; ``where`` ("line 3", "record 3") names it in the error."""
    if not isinstance(meta, dict):
        raise InputError("bad_battle_row", f"{where}: missing field conv_metadata")

    def total(key: str) -> float:
        value = meta.get(key)
        if isinstance(value, dict):
            value = sum(value.values()) if all(_count(v) for v in value.values()) else -1
        if not _count(value):
            raise InputError("bad_battle_row", f"{where}: conv_metadata.{key} must be a count >= 0")
        return float(value)  # type: ignore[arg-type]

    return tuple(  # type: ignore[return-value]
        [total(key.format(side)) for key in STYLE_KEYS] for side in ("a", "b")
    )


def _count(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def joined(conversation: list[dict[str, str]], role: str) -> str:
    """The turns of one role as one text, joined by blank lines (what the hashes cover)."""
    return "\n\n".join(m["content"] for m in conversation if m["role"] == role)


def _words(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)
