"""The Battle tab's service: blind A/B battles between the served models, votes into the ledger.

    battles = BattleTabService(config, models, store)
    battle = battles.send(None, "Hi", request)            # a new battle: both answers, no names
    battle = battles.send(battle.battle_id, "And?", request)   # the next turn, same pair
    outcome = battles.vote(battle.battle_id, "left", request)   # now the names

Battles run in ``core.battle.BattleService``; every vote goes through
``audit.ledger.votes.record_vote`` (session and IP stored only as salted hashes,
per-session and per-IP daily caps from the config; the session is the signed visitor
cookie of ``ui.session``, or the IP without one), with the conversation as text unless
``AppConfig.store_text`` is off, and a prompt category from ``core.arena_category`` (the
bundled MiniLM, loaded in the background when the engine is made; keywords until then or
if it cannot load).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import cached_property, partial
from typing import TYPE_CHECKING

from ui.config import AppConfig
from ui.services.models import ServedModels

if TYPE_CHECKING:
    import gradio as gr

    from audit.ledger.store import Store
    from audit.ledger.votes import VotePolicy
    from core.arena_category import CategoryClassifier
    from core.battle import Battle, BattleService, VoteOutcome

# A waiting battle handler reads Gradio's own record of whether its visitor is still there
# every WATCH_S: no message to anyone (``_connected``). Where that record cannot be read it
# yields every POLL_S instead, so Gradio can see the visitor left (it closes a generator only
# after a yield); each yield is a message to every waiting visitor: in the 50-voter soak a
# 0.1 s poll made the p95 battle 10.8x slower than no watch, 1 s 1.4x, 2 s 1.16x
# (docs/security.md). WATCH off (the soak's baseline) waits without either.
WATCH = True
WATCH_S = 0.25
POLL_S = 2.0


def _connected(request: gr.Request | None) -> Callable[[], bool] | None:
    """``alive()`` for the Gradio event behind ``request``: False once Gradio has marked the
    event's job dead, which it does when the visitor's event stream, next woken (at the
    latest by the app's heartbeat, ``ui.app.HEARTBEAT_S``), finds it dropped
    (``Queue.clean_events``, for the page's stream and for ``/gradio_api/call``'s alike).
    None where the request carries no Gradio queue to read (a direct call, or a Gradio
    without that record)."""
    try:
        queue = request.request.app.get_blocks()._queue  # type: ignore[union-attr]
        session = request.session_hash  # type: ignore[union-attr]
        queue.active_jobs  # noqa: B018 (the record this reads; absent: no watch)
    except AttributeError:
        return None
    if not session:
        return None

    def alive() -> bool:
        mine = [
            event
            for job in list(queue.active_jobs)
            if job
            for event in job
            if event.session_hash == session
        ]
        return not mine or any(getattr(event, "alive", True) for event in mine)

    return alive


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
            store_text=self.config.store_text,
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
            categorize=_Categorizer(),
        )

    def start(self, prompt: str, request: gr.Request | None = None) -> Battle:
        """A new battle for this browser session, with both answers complete."""
        session_id, ip = client_ids(request, self.config.trusted_proxies)
        return self.engine.start(prompt, session_id=session_id, ip=ip)

    def send(self, battle_id: str | None, prompt: str, request: gr.Request | None = None) -> Battle:
        """A new battle (no open one), or the next turn of this session's open battle."""
        if battle_id is None:
            return self.start(prompt, request)
        return self.engine.follow_up(
            battle_id, prompt, session_id=client_ids(request, self.config.trusted_proxies)[0]
        )

    def send_watched(
        self, battle_id: str | None, prompt: str, request: gr.Request | None = None
    ) -> Iterator[Battle | None]:
        """``send`` for a Gradio generator handler: the battle once both models have answered.
        A visitor who leaves cancels both answers at their next token: seen within
        ``WATCH_S`` from Gradio's queue, or, where that cannot be read, by yielding None every
        ``POLL_S`` (Gradio closes the generator at the yield after the visitor left)."""
        session_id, ip = client_ids(request, self.config.trusted_proxies)
        if battle_id is None:
            battle_id = self.engine.begin(prompt, session_id=session_id, ip=ip)
        else:
            self.engine.ask(battle_id, prompt, session_id=session_id)
        deadline = time.monotonic() + self.engine.policy.timeout_s
        alive = _connected(request) if WATCH else None
        battle = None
        try:
            while not self.engine.ready(battle_id, wait_s=WATCH_S if alive else POLL_S):
                if time.monotonic() >= deadline:
                    break
                if alive is not None and not alive():
                    return  # the visitor left: the finally cancels both answers
                if alive is None and WATCH:
                    yield None
            battle = self.engine.result(battle_id, timeout=max(0.0, deadline - time.monotonic()))
            yield battle
        finally:
            if battle is None:  # closed (or failed) before both answers came
                self.engine.cancel(battle_id)

    def vote(self, battle_id: str, choice: str, request: gr.Request | None = None) -> VoteOutcome:
        """Vote once on a battle; the outcome names both models."""
        return self.engine.vote(
            battle_id, choice, session_id=client_ids(request, self.config.trusted_proxies)[0]
        )


def client_ids(
    request: gr.Request | None, trusted_proxies: list[str] | None = None
) -> tuple[str, str | None]:
    """The session id and client IP of a Gradio request.

    The session is the server-signed visitor cookie (``ui.session.visitor_id``), never
    Gradio's ``session_hash``, which the client chooses. A request without a valid cookie
    (none, forged, expired, a script that drops it) counts under its IP, so the session cap
    still holds for it. The IP takes ``X-Forwarded-For`` only from a trusted proxy
    (``ui.clients.client_ip``)."""
    from ui.clients import client_ip
    from ui.session import visitor_id

    if request is None:
        return "anonymous", None
    ip = client_ip(request, trusted_proxies or [])
    visitor = visitor_id(request)
    return (f"visitor:{visitor}" if visitor else f"ip:{ip or 'unknown'}"), ip


class _Categorizer:
    """Prompt categories: the keyword classifier at once, MiniLM once it has loaded."""

    def __init__(self) -> None:
        import threading

        from core.arena_category import CategoryClassifier

        self._keywords = CategoryClassifier.load(embed=False)
        self._minilm: CategoryClassifier | None = None
        threading.Thread(target=self._load, name="arena-categories", daemon=True).start()

    def _load(self) -> None:
        from core.arena_category import CategoryClassifier

        loaded = CategoryClassifier.load(embed=True)
        if loaded.embed is not None:
            self._minilm = loaded

    def __call__(self, prompt: str) -> str:
        return (self._minilm or self._keywords)(prompt)
