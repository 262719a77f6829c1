"""Blind battles: two anonymous models answer, both answers shown together, one vote.

    service = BattleService({"teacher": teacher_backend, "student": student_backend},
                            BattlePolicy(), record=sink)          # sink(VoteRecord) stores the vote
    battle = service.start("Name three colours.", session_id="abc", ip="10.0.0.1")
    battle.left, battle.right                                     # the two answers, no names
    battle = service.follow_up(battle.battle_id, "And three more?", session_id="abc")
    battle.conversation_left, battle.turns                        # each side's own history
    outcome = service.vote(battle.battle_id, "left", session_id="abc")
    outcome.accepted, outcome.model_left, outcome.model_right   # identities only now

Rules the service enforces (FastChat's arena rules, plus the one its users asked for):

- Pairing: two different models drawn with ``policy.weights`` (``core.arena.pick_pair``), put
  left / right at random.
- Multi-turn: ``follow_up`` asks the same two models the next question; each side keeps its
  own history (it sees its own earlier answers, never the other's). A vote may come after any
  turn and covers the whole conversation. When a side's conversation no longer fits its
  context (the backend refuses it as ``prompt_too_long``), its oldest turns are left out of
  what that side is sent, and ``Battle.notes`` says so; the battle goes on.
- Both answers of a turn are generated at the same time in two threads through the
  ``Backend`` protocol. ``result`` (and ``start`` / ``follow_up``) return only when BOTH are
  complete: the faster answer is held back so speed does not give a model away. A vote or a
  follow-up on a battle whose answers are not complete is refused (``answers_pending``).
- Identities are not part of ``Battle``; they come back in ``VoteOutcome`` after the vote, or
  from ``reveal`` (which gives up the vote). One vote per battle: a second vote, a vote after
  ``reveal``, or a vote from a session the battle was not shown to is refused
  (``accepted=False``) and nothing is recorded.
- An answer that names a model ("I am Llama", "as SmolLM", or the name of either model in the
  pair) or is empty is flagged: the vote is kept and recorded with ``flags`` but marked
  ``counted=False``, and ratings leave it out.
- Recording goes through ``record``, a callable the caller provides (the app passes
  ``functools.partial(audit.ledger.votes.record_vote, store, policy=vote_policy)``), with a
  ``core.vote.VoteRecord``: the conversation as text, turns, token and markdown counts, and the
  category from ``categorize`` (``core.arena_category.CategoryClassifier``), if given. If the
  sink raises a ``StillhouseError`` (a vote cap, say) the vote is refused with its message;
  the battle is then closed and identities shown. ``VoteRecord.session_id`` and ``ip`` are
  the RAW values: the sink must hash them (``audit.ledger.votes`` does).

The service keeps battles in memory (the most recent ``policy.max_open_battles``); it is
thread-safe, so a web app may call it from many request threads.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from core.arena import CHOICE_TO_WINNER, CHOICES, pick_pair
from core.backends import Backend, StreamChunk
from core.battle_leaks import names_model
from core.conversation import context_note
from core.errors import BackendError, InputError, NotFoundError, StillhouseError
from core.generation import ChatMessage, ChatRequest, GenerationParams
from core.hashing import sha256_text
from core.vote import VoteRecord, Winner, conv_metadata, joined

__all__ = ["Battle", "BattlePolicy", "BattleService", "VoteOutcome", "VoteRecord", "names_model"]

Choice = Literal["left", "right", "tie", "bothbad"]
Message = dict[str, str]


class BattlePolicy(BaseModel):
    """How battles are run."""

    model_config = ConfigDict(extra="forbid")

    params: GenerationParams = Field(
        default_factory=lambda: GenerationParams(max_new_tokens=256),
        description="Generation settings, the same for both sides.",
    )
    weights: dict[str, float] = Field(
        default_factory=dict, description="Pairing weight per model name (missing = 1)."
    )
    system: str | None = Field(default=None, description="System prompt for both sides, if any.")
    flag_model_names: bool = Field(
        default=True, description="Flag (and leave out of ratings) answers that name a model."
    )
    flag_empty: bool = Field(default=True, description="Flag answers that are empty or whitespace.")
    seed: int | None = Field(default=None, description="Seed for pairing and left/right order.")
    timeout_s: float = Field(
        default=600.0, description="Longest wait for both answers, in seconds."
    )
    max_open_battles: int = Field(
        default=1000, description="Battles kept in memory; oldest dropped."
    )


class Battle(BaseModel):
    """What the voter sees: both conversations, no model names."""

    model_config = ConfigDict(extra="forbid")

    battle_id: str = Field(description="Id to vote (or follow up) with.")
    prompt: str = Field(description="The latest prompt both models answered.")
    left: str = Field(description="Latest answer shown on the left (model A).")
    right: str = Field(description="Latest answer shown on the right (model B).")
    turns: int = Field(default=1, description="Turns so far (prompts asked).")
    conversation_left: list[Message] = Field(
        default_factory=list, description="Model A's whole conversation (role/content)."
    )
    conversation_right: list[Message] = Field(
        default_factory=list, description="Model B's whole conversation (role/content)."
    )
    notes: list[str] = Field(
        default_factory=list, description="Context notes, e.g. older turns left out for A."
    )


class VoteOutcome(BaseModel):
    """The answer to a vote (or a reveal): whether it counted, and who was who."""

    model_config = ConfigDict(extra="forbid")

    battle_id: str = Field(description="The battle.")
    accepted: bool = Field(description="The vote was taken and recorded.")
    counted: bool = Field(description="Accepted and not flagged: it counts towards ratings.")
    reason: str | None = Field(default=None, description="Why a vote was refused or not counted.")
    choice: Choice | None = Field(default=None, description="The choice voted, if accepted.")
    model_left: str = Field(
        description="Model that wrote the left answer ('' while the battle is open)."
    )
    model_right: str = Field(
        description="Model that wrote the right answer ('' while the battle is open)."
    )
    flags: list[str] = Field(default_factory=list, description="names_model:<side>, empty:<side>.")


@dataclass
class _Side:
    model: str
    future: Future | None = None
    history: list[Message] = field(default_factory=list)
    tokens: int = 0
    latency_s: float = 0.0
    dropped: int = 0  # oldest turns left out of what this side is sent


@dataclass
class _State:
    battle_id: str
    session_id: str
    ip: str | None
    left: _Side
    right: _Side
    prompts: list[str] = field(default_factory=list)
    status: str = "pending"  # pending -> ready -> (pending on a follow-up) -> voting -> closed
    flags: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)  # set by ``cancel``


class BattleService:
    """Run blind battles between the given backends (see the module docstring)."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        policy: BattlePolicy | None = None,
        record: Callable[[VoteRecord], Any] | None = None,
        categorize: Callable[[str], str] | None = None,
    ) -> None:
        if len(backends) < 2:
            raise InputError(
                "one_model",
                "a battle needs at least two models",
                hint=f"got {list(backends) or 'none'}",
            )
        self.backends = dict(backends)
        self.policy = policy or BattlePolicy()
        self.record = record
        self.categorize = categorize
        self._rng = random.Random(self.policy.seed)
        self._lock = threading.Lock()
        self._battles: OrderedDict[str, _State] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="battle")

    def models(self) -> list[str]:
        """Names of the models that can be drawn."""
        return list(self.backends)

    def begin(self, prompt: str, session_id: str, ip: str | None = None) -> str:
        """Draw a pair and start both answers in the background; return the battle id."""
        ChatRequest.from_prompt(prompt)  # refuses an empty prompt before anything starts
        if not session_id:
            raise InputError("no_session", "a battle needs a session id")
        with self._lock:
            left, right = pick_pair(self.models(), self._rng, self.policy.weights)
        state = _State(uuid.uuid4().hex, session_id, ip, _Side(left), _Side(right))
        self._ask(state, prompt)
        with self._lock:
            self._battles[state.battle_id] = state
            while len(self._battles) > self.policy.max_open_battles:
                self._battles.popitem(last=False)
        return state.battle_id

    def ask(self, battle_id: str, prompt: str, session_id: str | None = None) -> None:
        """Start the next turn of an open battle (both sides, each with its own history)."""
        ChatRequest.from_prompt(prompt)
        state = self._get(battle_id)
        with self._lock:
            refusal = self._refusal(state, session_id)
            if refusal:
                raise InputError("battle_closed", f"cannot continue this battle: {refusal}")
            state.status = "pending"
        self._ask(state, prompt)

    def follow_up(self, battle_id: str, prompt: str, session_id: str | None = None) -> Battle:
        """``ask`` then ``result``: the next turn with both answers complete."""
        self.ask(battle_id, prompt, session_id)
        return self.result(battle_id)

    def result(self, battle_id: str, timeout: float | None = None) -> Battle:
        """Both answers, once BOTH are complete (the faster one is held back until then)."""
        state = self._get(battle_id)
        wait = self.policy.timeout_s if timeout is None else timeout
        deadline = time.monotonic() + wait
        done: list[tuple[_Side, str, int, float, int]] = []
        for side in (state.left, state.right):
            if side.future is None:
                continue
            try:
                done.append((side, *side.future.result(max(0.0, deadline - time.monotonic()))))
            except FutureTimeout:
                raise BackendError(
                    "battle_timeout", f"the answers took longer than {wait:g} s"
                ) from None
            except StillhouseError:
                self._close(state)
                raise
            except Exception as error:  # noqa: BLE001 - any backend failure ends the battle cleanly
                self._close(state)
                raise BackendError("battle_failed", f"a model failed to answer: {error}") from error
        with self._lock:
            for side, text, tokens, latency, dropped in done:
                if side.future is not None:
                    side.history.append({"role": "assistant", "content": text})
                    side.tokens += tokens
                    side.latency_s += latency
                    side.dropped = max(side.dropped, dropped)
                    side.future = None
            if state.status == "pending":
                state.flags = self._flags(state)
                state.status = "ready"
        return self._battle(state)

    def ready(self, battle_id: str, wait_s: float = 0.0) -> bool:
        """Whether both answers of the current turn are complete (waiting up to ``wait_s``)."""
        state = self._get(battle_id)
        pending = [s.future for s in (state.left, state.right) if s.future is not None]
        return not pending or not wait(pending, timeout=wait_s).not_done

    def start(self, prompt: str, session_id: str, ip: str | None = None) -> Battle:
        """``begin`` then ``result``: a battle with both answers complete."""
        return self.result(self.begin(prompt, session_id, ip))

    def vote(self, battle_id: str, choice: str, session_id: str | None = None) -> VoteOutcome:
        """Vote once on a complete battle (all its turns); identities come back in the outcome."""
        if choice not in CHOICES:
            raise InputError(
                "bad_choice", f"unknown vote {choice!r}", hint="expected " + ", ".join(CHOICES)
            )
        picked = cast(Choice, choice)
        state = self._get(battle_id)
        with self._lock:
            refusal = self._refusal(state, session_id)
            if refusal:
                return self._outcome(state, accepted=False, reason=refusal)
            state.status = "voting"
        try:
            if self.record is not None:
                self.record(self._vote_record(state, picked))
        except StillhouseError as error:
            self._close(state)
            return self._outcome(state, accepted=False, reason=error.message)
        except BaseException:
            with self._lock:
                state.status = "ready"  # storage failed: the vote may be tried again
            raise
        self._close(state)
        return self._outcome(state, accepted=True, choice=picked)

    def cancel(self, battle_id: str) -> None:
        """Give up a battle nobody waits for: both answers stop after the token in progress
        (their batch rows are freed) and the battle is closed, so no vote can follow."""
        with self._lock:
            state = self._battles.pop(battle_id, None)
        if state is not None:
            state.stop.set()
            self._close(state)

    def reveal(self, battle_id: str) -> VoteOutcome:
        """Show who was who without voting; any later vote on this battle is ignored."""
        state = self._get(battle_id)
        with self._lock:
            if state.status == "pending":
                return self._outcome(state, accepted=False, reason="answers_pending")
            if state.status == "ready":
                state.status = "closed"
        return self._outcome(state, accepted=False, reason="revealed_without_vote")

    # ------------------------------------------------------------ helpers

    def _ask(self, state: _State, prompt: str) -> None:
        state.prompts.append(prompt)
        for side in (state.left, state.right):
            side.history.append({"role": "user", "content": prompt})
            side.future = self._pool.submit(
                self._answer, side.model, list(side.history), state.stop
            )

    def _answer(
        self, model: str, history: list[Message], stop: threading.Event
    ) -> tuple[str, int, float, int]:
        """One side's answer to its own history, streamed so that ``stop`` ends it at the next
        token; older turns are left out while it does not fit the context. Returns text,
        tokens, seconds and how many old turns were left out."""
        start = time.perf_counter()
        dropped = 0
        while True:
            system = self.policy.system
            messages = [ChatMessage(role="system", content=system)] if system else []
            messages += [ChatMessage.model_validate(m) for m in history[2 * dropped :]]
            try:
                chunks = self.backends[model].stream_chunks(
                    ChatRequest(messages=messages), self.policy.params
                )
                text, tokens = _collect(chunks, stop)
                return text, tokens, time.perf_counter() - start, dropped
            except InputError as error:
                if error.code != "prompt_too_long" or 2 * (dropped + 1) >= len(history):
                    raise
                dropped += 1

    def _battle(self, state: _State) -> Battle:
        notes = [
            context_note(f"Model {label}", side.dropped)
            for label, side in (("A", state.left), ("B", state.right))
            if side.dropped
        ]
        last = [s.history[-1]["content"] if s.history else "" for s in (state.left, state.right)]
        return Battle(
            battle_id=state.battle_id,
            prompt=state.prompts[-1],
            left=last[0],
            right=last[1],
            turns=len(state.prompts),
            conversation_left=[dict(m) for m in state.left.history],
            conversation_right=[dict(m) for m in state.right.history],
            notes=notes,
        )

    def _get(self, battle_id: str) -> _State:
        with self._lock:
            state = self._battles.get(battle_id)
        if state is None:
            raise NotFoundError("unknown_battle", f"no open battle with id {battle_id!r}")
        return state

    def _close(self, state: _State) -> None:
        with self._lock:
            state.status = "closed"

    @staticmethod
    def _refusal(state: _State, session_id: str | None) -> str | None:
        if session_id is not None and session_id != state.session_id:
            return "not_this_session"
        if state.status == "pending":
            return "answers_pending"
        if state.status in ("voting", "closed"):
            return "already_voted_or_revealed"
        return None

    def _flags(self, state: _State) -> list[str]:
        names = [state.left.model, state.right.model]
        flags = []
        for side_name, side in (("left", state.left), ("right", state.right)):
            answers = [m["content"] for m in side.history if m["role"] == "assistant"]
            if self.policy.flag_empty and any(not a.strip() for a in answers):
                flags.append(f"empty:{side_name}")
            if self.policy.flag_model_names and any(names_model(a, names) for a in answers):
                flags.append(f"names_model:{side_name}")
        return flags

    def _vote_record(self, state: _State, choice: Choice) -> VoteRecord:
        left, right = state.left.history, state.right.history
        prompt = joined(left, "user")
        return VoteRecord(
            battle_id=state.battle_id,
            session_id=state.session_id,
            ip=state.ip,
            voted_at=datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
            model_a=state.left.model,
            model_b=state.right.model,
            choice=choice,
            vote=cast(Winner, CHOICE_TO_WINNER[choice]),
            prompt_hash=sha256_text(prompt),
            response_a_hash=sha256_text(joined(left, "assistant")),
            response_b_hash=sha256_text(joined(right, "assistant")),
            latency_a_s=state.left.latency_s,
            latency_b_s=state.right.latency_s,
            flags=list(state.flags),
            turns=len(state.prompts),
            prompt=prompt,
            response_a=joined(left, "assistant"),
            response_b=joined(right, "assistant"),
            conversation_a=[dict(m) for m in left],
            conversation_b=[dict(m) for m in right],
            category=self.categorize(state.prompts[0]) if self.categorize else None,
            conv_metadata=conv_metadata(
                left, right, tokens_a=state.left.tokens, tokens_b=state.right.tokens
            ),
        )

    @staticmethod
    def _outcome(
        state: _State, *, accepted: bool, reason: str | None = None, choice: Choice | None = None
    ) -> VoteOutcome:
        hide = state.status != "closed"  # names only once the battle is over (voted or revealed)
        counted = accepted and not state.flags
        if accepted and state.flags:
            reason = "kept but not counted: " + ", ".join(state.flags)
        return VoteOutcome(
            battle_id=state.battle_id,
            accepted=accepted,
            counted=counted,
            reason=reason,
            choice=choice,
            model_left="" if hide else state.left.model,
            model_right="" if hide else state.right.model,
            flags=list(state.flags),
        )


def _collect(chunks: Iterator[StreamChunk], stop: threading.Event) -> tuple[str, int]:
    """The text and token count of a streamed answer; ``stop`` abandons it (the stream is
    closed, which frees its batch row at the engine's next step)."""
    text: list[str] = []
    tokens = 0
    try:
        for chunk in chunks:
            if stop.is_set():
                raise BackendError("battle_cancelled", "the battle was abandoned")
            text.append(chunk.text)
            tokens += chunk.tokens
    finally:
        getattr(chunks, "close", lambda: None)()
    return "".join(text), tokens
