"""Generation parameters and requests, shared by every backend, the CLI and the app.

params = GenerationParams(max_new_tokens=64, temperature=0.0, seed=1)
request = ChatRequest.from_prompt("Name three primary colours.")
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import InputError

MIN_TEMPERATURE = 1e-2  # below it, logits / temperature overflow float32 into NaN
MAX_TEMPERATURE = 5.0
MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed takes


class ChatMessage(BaseModel):
    """One turn of a chat."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"] = Field(description="Who speaks.")
    content: str = Field(description="What is said.")


class ChatRequest(BaseModel):
    """A chat to continue: the messages so far."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(description="The conversation, oldest first.")

    @classmethod
    def from_prompt(cls, prompt: str, system: str | None = None) -> ChatRequest:
        """A one-turn request; refuses an empty or whitespace-only prompt."""
        if not prompt or not prompt.strip():
            raise InputError("empty_prompt", "the prompt is empty")
        messages = [ChatMessage(role="system", content=system)] if system else []
        messages.append(ChatMessage(role="user", content=prompt))
        return cls(messages=messages)

    def check(self) -> ChatRequest:
        """Refuse a request with no messages or whose last user turn is blank."""
        if not self.messages or not any(
            m.content.strip() for m in self.messages if m.role == "user"
        ):
            raise InputError("empty_prompt", "the prompt is empty")
        return self


class GenerationParams(BaseModel):
    """How to sample. Temperature 0 means greedy decoding."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(default=128, description="Most tokens to generate (>= 1).")
    temperature: float = Field(
        default=0.0, description="0 for greedy; otherwise samples, within [0.01, 5]."
    )
    top_p: float = Field(default=1.0, description="Nucleus sampling mass, in (0, 1].")
    seed: int | None = Field(
        default=None, description="Seed for sampling (0 to 2^64 - 1); same seed, same text."
    )
    stop: list[str] = Field(default_factory=list, description="Strings that end the answer.")
    top_logprobs: int = Field(
        default=0,
        description="Per generated token, return the k most likely tokens' log-probs (0: none).",
    )

    @field_validator("max_new_tokens")
    @classmethod
    def _positive_tokens(cls, value: int) -> int:
        if value < 1:
            raise InputError(
                "bad_max_new_tokens", f"--max-new-tokens must be at least 1, got {value}"
            )
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs(cls, value: int) -> int:
        if not 0 <= value <= 20:
            raise InputError("bad_top_logprobs", f"top_logprobs must be in [0, 20], got {value}")
        return value

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, value: float) -> float:
        # 1e-300 divides the logits into infinities and the sampling probabilities into NaN
        if not math.isfinite(value) or not (
            value == 0 or MIN_TEMPERATURE <= value <= MAX_TEMPERATURE
        ):
            raise InputError(
                "bad_temperature",
                f"temperature must be 0 (greedy) or between {MIN_TEMPERATURE:g} and "
                f"{MAX_TEMPERATURE:g}, got {value}",
            )
        return value

    @field_validator("top_p")
    @classmethod
    def _top_p(cls, value: float) -> float:
        if not math.isfinite(value) or not 0 < value <= 1:
            raise InputError("bad_top_p", f"top_p must be in (0, 1], got {value}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= MAX_SEED:
            raise InputError(
                "bad_seed", f"seed must be between 0 and 2^64 - 1, got {str(value)[:40]}"
            )
        return value
