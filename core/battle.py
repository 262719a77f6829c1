"""Blind battles: two anonymous models answer one prompt, both answers shown together, one vote.

    service = BattleService({"teacher": teacher_backend, "student": student_backend},
                            BattlePolicy(), record=sink)          # sink(VoteRecord) stores the vote
    battle = service.start("Name three colours.", session_id="abc", ip="10.0.0.1")
    battle.left, battle.right                                     # the two answers, no names
    outcome = service.vote(battle.battle_id, "left", session_id="abc")
    outcome.accepted, outcome.model_left, outcome.model_right   # identities only now

Rules the service enforces (FastChat's arena rules, plus the one its users asked for):

- Pairing: two different models drawn with ``policy.weights`` (``core.arena.pick_pair``), put
  left / right at random.
- Both answers are generated at the same time in two threads through the ``Backend``
  protocol. ``result`` (and ``start``) return only when BOTH are complete: the faster answer is
  held back so speed does not give a model away. A vote on a battle whose answers are not
  complete is refused (``answers_pending``).
- Identities are not part of ``Battle``; they come back in ``VoteOutcome`` after the vote, or
  from ``reveal`` (which gives up the vote). One vote per battle: a second vote, or a vote
  after ``reveal``, is ignored (``accepted=False``).
- An answer that names a model ("I am Llama", "as SmolLM", or the name of either model in the
  pair) or is empty is flagged: the vote is kept and recorded with ``flags`` but marked
  ``counted=False``, and ratings leave it out.
- Recording goes through ``record``, a callable the caller provides (the app passes
  ``functools.partial(audit.ledger.votes.record_vote, store, policy=vote_policy)``). If it raises a
  ``StillhouseError`` (a vote cap, say) the vote is refused with its message; the battle is
  then closed and identities shown. ``VoteRecord.session_id`` and ``ip`` are the RAW values:
  the sink must hash them (``audit.ledger.votes`` does) and never store them as given.

The service keeps battles in memory (the most recent ``policy.max_open_battles``); it is
thread-safe, so a web app may call it from many request threads.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from core.arena import CHOICE_TO_WINNER, CHOICES, pick_pair
from core.backends import Backend
from core.errors import BackendError, InputError, NotFoundError, StillhouseError
from core.generation import ChatRequest, GenerationParams
from core.hashing import sha256_text

Choice = Literal["left", "right", "tie", "bothbad"]
# Model families whose self-identification ("I am Llama", "as an OpenAI model") gives a side away.
MODEL_FAMILIES = (
    "llama",
    "smollm",
    "smollm2",
    "gpt",
    "chatgpt",
    "openai",
    "claude",
    "anthropic",
    "gemini",
    "gemma",
    "mistral",
    "mixtral",
    "qwen",
    "phi",
    "deepseek",
    "falcon",
    "vicuna",
    "olmo",
)
_GENERIC = {
    "instruct",
    "chat",
    "base",
    "model",
    "student",
    "teacher",
    "tiny",
    "small",
    "large",
    "distilled",
    "local",
    "default",
    "it",
    "hf",
    "gguf",
}
_INTRO = (
    r"\b(?:i\s+am|i'm|im|as|my\s+name\s+is|called|named|this\s+is|built\s+on|based\s+on|"
    r"trained\s+by|made\s+by|created\s+by|developed\s+by)"
)


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
    """What the voter sees: both answers, no model names."""

    model_config = ConfigDict(extra="forbid")

    battle_id: str = Field(description="Id to vote with.")
    prompt: str = Field(description="The prompt both models answered.")
    left: str = Field(description="Answer shown on the left (model A).")
    right: str = Field(description="Answer shown on the right (model B).")


class VoteRecord(BaseModel):
    """One vote, as handed to the record sink. ``session_id`` / ``ip`` are raw: the sink hashes
    them."""

    model_config = ConfigDict(extra="forbid")

    battle_id: str = Field(description="Battle id (one vote per battle).")
    session_id: str = Field(description="Raw session id; the sink must hash it before storing.")
    ip: str | None = Field(
        default=None, description="Raw client IP, if known; the sink must hash it."
    )
    time: str = Field(description="UTC time of the vote, naive ISO 8601 (as the ledger writes it).")
    model_a: str = Field(description="Model shown on the left.")
    model_b: str = Field(description="Model shown on the right.")
    choice: Choice = Field(description="left, right, tie or bothbad.")
    winner: str = Field(description="model_a, model_b, tie or tie (bothbad).")
    prompt_sha256: str = Field(description="SHA-256 of the prompt text.")
    response_a_sha256: str = Field(description="SHA-256 of the left answer.")
    response_b_sha256: str = Field(description="SHA-256 of the right answer.")
    latency_a_s: float = Field(description="Seconds the left model took.")
    latency_b_s: float = Field(description="Seconds the right model took.")
    blind: bool = Field(default=True, description="True: identities were hidden until the vote.")
    flags: list[str] = Field(
        default_factory=list, description="Why the vote does not count, if so."
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
    future: Future
    text: str = ""
    latency_s: float = 0.0


@dataclass
class _State:
    battle_id: str
    prompt: str
    session_id: str
    ip: str | None
    left: _Side
    right: _Side
    status: str = "pending"  # pending -> ready -> voting -> closed
    flags: list[str] = field(default_factory=list)


class BattleService:
    """Run blind battles between the given backends (see the module docstring)."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        policy: BattlePolicy | None = None,
        record: Callable[[VoteRecord], Any] | None = None,
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
        self._rng = random.Random(self.policy.seed)
        self._lock = threading.Lock()
        self._battles: OrderedDict[str, _State] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="battle")

    def models(self) -> list[str]:
        """Names of the models that can be drawn."""
        return list(self.backends)

    def begin(self, prompt: str, session_id: str, ip: str | None = None) -> str:
        """Draw a pair and start both answers in the background; return the battle id."""
        request = ChatRequest.from_prompt(prompt, system=self.policy.system)
        if not session_id:
            raise InputError("no_session", "a battle needs a session id")
        with self._lock:
            left, right = pick_pair(self.models(), self._rng, self.policy.weights)
        battle_id = uuid.uuid4().hex
        state = _State(
            battle_id,
            prompt,
            session_id,
            ip,
            _Side(left, self._pool.submit(self._answer, left, request)),
            _Side(right, self._pool.submit(self._answer, right, request)),
        )
        with self._lock:
            self._battles[battle_id] = state
            while len(self._battles) > self.policy.max_open_battles:
                self._battles.popitem(last=False)
        return battle_id

    def result(self, battle_id: str, timeout: float | None = None) -> Battle:
        """Both answers, once BOTH are complete (the faster one is held back until then)."""
        state = self._get(battle_id)
        wait = self.policy.timeout_s if timeout is None else timeout
        deadline = time.monotonic() + wait
        for side in (state.left, state.right):
            try:
                side.text, side.latency_s = side.future.result(
                    max(0.0, deadline - time.monotonic())
                )
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
            if state.status == "pending":
                state.flags = self._flags(state)
                state.status = "ready"
        return Battle(
            battle_id=battle_id, prompt=state.prompt, left=state.left.text, right=state.right.text
        )

    def start(self, prompt: str, session_id: str, ip: str | None = None) -> Battle:
        """``begin`` then ``result``: a battle with both answers complete."""
        return self.result(self.begin(prompt, session_id, ip))

    def vote(self, battle_id: str, choice: str, session_id: str | None = None) -> VoteOutcome:
        """Vote once on a complete battle; identities come back in the outcome."""
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
        record = self._vote_record(state, picked)
        try:
            if self.record is not None:
                self.record(record)
        except StillhouseError as error:
            self._close(state)
            return self._outcome(state, accepted=False, reason=error.message)
        except BaseException:
            with self._lock:
                state.status = "ready"  # storage failed: the vote may be tried again
            raise
        self._close(state)
        return self._outcome(state, accepted=True, choice=picked)

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

    def _answer(self, model: str, request: ChatRequest) -> tuple[str, float]:
        start = time.perf_counter()
        result = self.backends[model].generate([request], self.policy.params)[0]
        return result.text, time.perf_counter() - start

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
        if state.status == "pending":
            return "answers_pending"
        if state.status in ("voting", "closed"):
            return "already_voted_or_revealed"
        if session_id is not None and session_id != state.session_id:
            return "not_this_session"
        return None

    def _flags(self, state: _State) -> list[str]:
        names = [state.left.model, state.right.model]
        flags = []
        for side_name, side in (("left", state.left), ("right", state.right)):
            if self.policy.flag_empty and not side.text.strip():
                flags.append(f"empty:{side_name}")
            if self.policy.flag_model_names and names_model(side.text, names):
                flags.append(f"names_model:{side_name}")
        return flags

    def _vote_record(self, state: _State, choice: Choice) -> VoteRecord:
        return VoteRecord(
            battle_id=state.battle_id,
            session_id=state.session_id,
            ip=state.ip,
            time=datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
            model_a=state.left.model,
            model_b=state.right.model,
            choice=choice,
            winner=CHOICE_TO_WINNER[choice],
            prompt_sha256=sha256_text(state.prompt),
            response_a_sha256=sha256_text(state.left.text),
            response_b_sha256=sha256_text(state.right.text),
            latency_a_s=state.left.latency_s,
            latency_b_s=state.right.latency_s,
            flags=list(state.flags),
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


def names_model(text: str, pair: list[str] | tuple[str, ...] = ()) -> str | None:
    """The model name an answer gives away, or None.

    Catches self-identification with a known family or a stem of a pair name ("I am Llama",
    "as SmolLM", "I'm an OpenAI model") and any mention of a distinctive pair name (one with a
    digit, '-', '_', '/' or '.', such as ``smollm2-135m-instruct``)."""
    lowered = text.lower()
    stems = set(MODEL_FAMILIES)
    for name in pair:
        for token in re.split(r"[-_/.\s]+", name.lower()):
            token = token.strip()
            if (
                len(token) >= 3
                and token not in _GENERIC
                and not token.replace("m", "").replace("b", "").isdigit()
            ):
                stems.add(token)
                stems.add(token.rstrip("0123456789"))
        if re.search(r"[\d\-_/.]", name) and len(name) >= 4 and name.lower() in lowered:
            return name
    stems.discard("")
    family = "|".join(sorted((re.escape(s) for s in stems), key=len, reverse=True))
    found = re.search(
        _INTRO + r"\s+(?:an?\s+|the\s+)?(?:ai\s+|language\s+|large\s+language\s+)?"
        r"(?:model\s+|assistant\s+)?(?:called\s+|named\s+)?(" + family + r")\b",
        lowered,
    )
    return found.group(1) if found else None
