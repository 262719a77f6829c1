"""The Battle tab's service: blind A/B battles between the served models, votes into the ledger.

    battles = BattleTabService(config, models, store)
    battle = battles.start("Hi", request)                 # both answers, no names
    outcome = battles.vote(battle.battle_id, "left", request)   # now the names

Battles run in ``core.battle.BattleService``; every vote goes through
``audit.ledger.votes.record_vote`` (session and IP stored only as salted hashes,
per-session and per-IP daily caps from the config).
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import TYPE_CHECKING

from ui.config import AppConfig
from ui.services.models import ServedModels

if TYPE_CHECKING:
    import gradio as gr

    from audit.ledger.store import Store
    from audit.ledger.votes import VotePolicy
    from core.battle import Battle, BattleService, VoteOutcome


class BattleTabService:
    """Blind battles for the app, recorded in its ledger."""

    def __init__(self, config: AppConfig, models: ServedModels, store: Store) -> None:
        self.config = config
        self.models = models
        self.store = store

    @cached_property
    def vote_policy(self) -> VotePolicy:
        from audit.ledger.votes import VotePolicy

        return VotePolicy(
            max_votes_per_session_per_day=self.config.votes_per_session,
            max_votes_per_ip_per_day=self.config.votes_per_ip,
        )

    @cached_property
    def engine(self) -> BattleService:
        """The blind battle engine; every vote goes through audit.ledger.votes into the ledger."""
        from audit.ledger.votes import record_vote
        from core.battle import BattlePolicy, BattleService

        policy = BattlePolicy(params=self.models.params())
        return BattleService(
            self.models.backends_by_name(),
            policy,
            record=partial(record_vote, self.store, policy=self.vote_policy),
        )

    def start(self, prompt: str, request: gr.Request | None = None) -> Battle:
        """A new battle for this browser session, with both answers complete."""
        session_id, ip = client_ids(request)
        return self.engine.start(prompt, session_id=session_id, ip=ip)

    def vote(self, battle_id: str, choice: str, request: gr.Request | None = None) -> VoteOutcome:
        """Vote once on a battle; the outcome names both models."""
        return self.engine.vote(battle_id, choice, session_id=client_ids(request)[0])


def client_ids(request: gr.Request | None) -> tuple[str, str | None]:
    """The browser session id and client IP of a Gradio request (first X-Forwarded-For hop on a
    Space)."""
    if request is None:
        return "anonymous", None
    forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
    host = request.client.host if request.client else None
    return request.session_hash or "anonymous", forwarded or host
