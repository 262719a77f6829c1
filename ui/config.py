"""What the web app needs to start: ``AppConfig``, read by ``ui.app``, ``ui.services`` and the CLI.

    config = AppConfig(teacher="smollm2-135m-instruct", student="./my-student", db_path="l.duckdb")
    config.ledger_path()      # the ledger file the app writes to

Admin settings default from the environment (``STILLHOUSE_ADMIN_PASSWORD``,
``STILLHOUSE_ADMIN_USERS``); the password never shows in ``repr``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.models import DEFAULT_TEACHER

DEFAULT_STUDENT = "smollm2-distilled"  # what the quick preset names its student


def _env_password() -> str | None:
    return os.environ.get("STILLHOUSE_ADMIN_PASSWORD") or None


class AppConfig(BaseModel):
    """Everything the app needs to start: which models, which ledger, who is admin."""

    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(
        default=DEFAULT_TEACHER, description="Teacher model name, folder or HF id."
    )
    student: str = Field(
        default=DEFAULT_STUDENT, description="Student model name, folder or HF id."
    )
    db_path: str | None = Field(
        default=None,
        description="Ledger file; None means $STILLHOUSE_DB or $STILLHOUSE_HOME/ledger.duckdb.",
    )
    admin_password: str | None = Field(
        default_factory=_env_password,
        repr=False,
        description=(
            "Password for the admin tabs (from STILLHOUSE_ADMIN_PASSWORD); None disables admin "
            "login."
        ),
    )
    admin_users: list[str] = Field(
        default_factory=lambda: [
            u for u in os.environ.get("STILLHOUSE_ADMIN_USERS", "").split(",") if u
        ],
        description="Hugging Face user names that are admins when signed in with OAuth on a Space.",
    )
    gpu_memory: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Share of GPU 0 that the teacher's and student's vLLM engines may take "
        "together, split by weight size (None: 0.90). Ignored without vLLM.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: [
            p for p in os.environ.get("STILLHOUSE_TRUSTED_PROXIES", "").split(",") if p.strip()
        ],
        description="Proxy addresses or networks whose X-Forwarded-For is believed (vote caps, "
        "sign-in lockouts); otherwise the socket peer is the client. '*' trusts every peer.",
    )
    max_new_tokens: int = Field(
        default=128, ge=1, description="Most tokens per answer in Arena and Battle."
    )
    temperature: float = Field(
        default=0.7, ge=0, description="Sampling temperature for chat; 0 is greedy."
    )
    votes_per_session: int | None = Field(
        default=200,
        ge=1,
        description="Most votes one browser session may cast per day; None = no cap.",
    )
    votes_per_ip: int | None = Field(
        default=1000,
        ge=1,
        description="Most votes one (hashed) IP address may cast per day; None = no cap.",
    )
    bootstrap: int = Field(
        default=200, ge=0, description="Bootstrap rounds for the leaderboard's intervals."
    )
    arena_anchor: str | None = Field(
        default="teacher",
        description="Model held at rating 1000 on the Leaderboard: 'teacher' (the served "
        "teacher), a model name, or 'none' / None to centre the ratings on their mean.",
    )
    store_text: bool = Field(
        default=True,
        description="Keep battle prompts and answers as text in the ledger (they may be "
        "published with the battle data); False keeps only hashes, counts and categories.",
    )
    cost_per_hour: float = Field(
        default=0.10,
        ge=0,
        description="Price of this machine per hour in USD, for the cost per million "
        "generated tokens on the Distill scorecard (default: a small 2-vCPU cloud VM).",
    )
    concurrency: int = Field(
        default=32,
        ge=1,
        description="Requests handled at once per event (chat, battles); "
        "the backends batch concurrent requests together.",
    )
    title: str = Field(
        default="stillhouse", description="Name shown in the header and browser tab."
    )
    preload: bool = Field(
        default=True, description="Load teacher and student in the background at start."
    )

    def ledger_path(self) -> Path:
        """The ledger file this app writes to."""
        if self.db_path:
            return Path(self.db_path).expanduser()
        from audit.ledger.store import default_db_path

        return Path(default_db_path())
