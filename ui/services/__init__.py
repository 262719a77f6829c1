"""Thin glue between the tabs and the engine: what one running app holds.

``AppServices`` owns the loaded teacher and student backends (loaded once, shared
by every browser session; the backends are thread-safe), the ledger ``Store``, the
blind ``BattleService`` and the admin check. It holds no business logic and no SQL:
everything it does is a call into ``core`` or ``audit``.
"""

from __future__ import annotations

import hashlib
import hmac
import tempfile
import threading
import uuid
from collections.abc import Iterator
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import StillhouseError
from core.generation import ChatRequest, GenerationParams
from core.specs import ModelSpec

if TYPE_CHECKING:
    from audit.ledger.store import Store
    from core.backends import Backend
    from ui.app import AppConfig


class AppServices:
    """The shared state of one app: backends, ledger, battles, admin."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._backends: dict[str, Backend] = {}

    # -- models -----------------------------------------------------------
    @cached_property
    def teacher_spec(self) -> ModelSpec:
        from core.models import resolve_model

        return resolve_model(self.config.teacher)

    @cached_property
    def student_spec(self) -> ModelSpec:
        from core.models import resolve_model

        return resolve_model(self.config.student)

    def teacher_label(self) -> str:
        return self.teacher_spec.name

    def student_label(self) -> str:
        return self.student_spec.name

    def backend(self, role: str) -> Backend:
        """The loaded backend for ``teacher`` or ``student`` (loaded on first use)."""
        spec = self.teacher_spec if role == "teacher" else self.student_spec
        with self._lock:
            if role not in self._backends:
                from core.backends import backend_for

                self._backends[role] = backend_for(spec)
            return self._backends[role]

    def backends_by_name(self) -> dict[str, Backend]:
        """Both backends keyed by model name (what the blind battles draw from)."""
        return {
            self.teacher_label(): self.backend("teacher"),
            self.student_label(): self.backend("student"),
        }

    def warm_up(self) -> threading.Thread:
        """Load both models in the background so the first chat does not wait."""

        def load() -> None:
            for role in ("teacher", "student"):
                try:
                    self.backend(role)
                except Exception:  # surfaced again, as gr.Error, on first use
                    pass

        thread = threading.Thread(target=load, name="stillhouse-warm-up", daemon=True)
        thread.start()
        return thread

    def params(
        self,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> GenerationParams:
        return GenerationParams(
            max_new_tokens=max_new_tokens or self.config.max_new_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            seed=seed,
        )

    def arena_turn(
        self, prompt: str, history_a: list, history_b: list, params: GenerationParams
    ) -> Iterator[ArenaTurn]:
        """Stream one prompt to teacher and student at once (``core.compare``), as chat histories.

        Each prompt is answered on its own: both models get the same request, so neither
        sees the other's earlier answers.
        """
        from core.compare import compare

        request = ChatRequest.from_prompt(prompt)
        user = {"role": "user", "content": prompt}
        turn = ArenaTurn(
            history_a=[*history_a, user, _assistant("")],
            history_b=[*history_b, user, _assistant("")],
        )
        texts = {"a": "", "b": ""}
        for event in compare(request, self.backend("teacher"), self.backend("student"), params):
            history = turn.history_a if event.side == "a" else turn.history_b
            if event.kind == "delta":
                texts[event.side] += event.text
                history[-1] = _assistant(texts[event.side])
                yield turn
                continue
            stats = _stats(event.stats) if event.kind == "done" else f"**error:** {event.error}"
            setattr(turn, f"stats_{event.side}", stats)
            if event.stats is not None:
                history[-1] = _assistant(event.stats.text or texts[event.side])
            yield turn

    # -- ledger -----------------------------------------------------------
    @cached_property
    def store(self) -> Store:
        from audit.ledger.store import Store

        path = self.config.ledger_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return Store(path)

    # -- battles ------------------------------------------------------------
    @cached_property
    def vote_policy(self) -> Any:
        from audit.ledger.votes import VotePolicy

        return VotePolicy(
            max_votes_per_session_per_day=self.config.votes_per_session,
            max_votes_per_ip_per_day=self.config.votes_per_ip,
        )

    @cached_property
    def battles(self) -> Any:
        """The blind battle service; every vote goes through audit.ledger.votes into the ledger."""
        from audit.ledger.votes import record_vote
        from core.battle import BattlePolicy, BattleService

        policy = BattlePolicy(params=self.params())
        return BattleService(
            self.backends_by_name(),
            policy,
            record=partial(record_vote, self.store, policy=self.vote_policy),
        )

    # -- leaderboard -----------------------------------------------------------
    @cached_property
    def scratch(self) -> Path:
        """A temp folder for the pictures and files this app hands to browsers."""
        return Path(tempfile.mkdtemp(prefix="stillhouse-app-"))

    def scratch_file(self, suffix: str) -> Path:
        return self.scratch / f"{uuid.uuid4().hex[:12]}{suffix}"

    def leaderboard(self) -> LeaderboardView:
        """Vote counts, the ratings table and the intervals plot, from the ledger."""
        from audit.ledger.votes import counted_battles
        from core.arena import BattleTable, bradley_terry
        from core.arena_plot import plot_ratings

        votes = self.store.votes()
        counted = sum(1 for v in votes if not v.get("excluded"))
        counts = (
            f"**{len(votes)}** vote{'' if len(votes) == 1 else 's'} recorded · **{counted}** "
            "counted · "
            f"{len(votes) - counted} kept but left out (an answer named a model or was empty)"
        )
        try:
            battles = BattleTable.from_rows(counted_battles(self.store))
            ratings = bradley_terry(battles, bootstrap=self.config.bootstrap, seed=0)
        except StillhouseError as error:
            return LeaderboardView(
                counts=f"{counts}\n\n*No ratings yet: {error.message}.*", rows=[], plot=None
            )
        rows = [
            [r.rank, r.model, round(r.rating), f"{r.lower:.0f} to {r.upper:.0f}", r.battles]
            for r in ratings
        ]
        plot = plot_ratings(ratings, self.scratch_file(".png"))
        return LeaderboardView(counts=counts, rows=rows, plot=str(plot))

    # -- distill ------------------------------------------------------------------
    @cached_property
    def distill_job(self) -> Any:
        from ui.services.distill import DistillJob

        return DistillJob(self.store)

    def distill_preflight(self, preset: str, overrides: dict, use: str) -> Any:
        """The licence pre-flight for the Distill form (nothing is recorded yet)."""
        from ui.services.distill import distill_config, preflight_request, preflight_view

        return preflight_view(preflight_request(distill_config(preset, overrides), use))

    def distill_run(
        self, preset: str, overrides: dict, use: str, override_reason: str | None
    ) -> Iterator[Any]:
        """Gate and run a distillation for the Distill tab (see ``ui.services.distill``)."""
        from ui.services.distill import distill_config, preflight_request

        config = distill_config(preset, overrides)
        return self.distill_job.run(
            config, preflight_request(config, use), override_reason=override_reason
        )

    def run_scorecard(self, result: dict) -> list[list[str]]:
        """Scorecard rows for a finished run's evaluation and the ledger's votes."""
        from ui.services.scorecard import scorecard

        return scorecard(result["evaluation"], self.store.votes(), self.config.cost_per_hour)

    def latest_scorecard(self) -> LatestRun | None:
        """The newest succeeded distill run with an evaluation file: its scorecard and loss
        curve."""
        import json

        for run in reversed(self.store.runs(kind="distill")):
            if run.get("status") != "succeeded":
                continue
            files = {a.get("role"): a.get("path") for a in self.store.run(run["run_id"])["outputs"]}
            evaluation, curve = files.get("evaluation"), files.get("loss_curve")
            if evaluation and Path(evaluation).is_file():
                rows = self.run_scorecard({"evaluation": json.loads(Path(evaluation).read_text())})
                return LatestRun(
                    run_id=run["run_id"],
                    rows=rows,
                    loss_png=curve if curve and Path(curve).is_file() else None,
                )
        return None

    # -- similarity ----------------------------------------------------------------
    def model_names(self) -> list[str]:
        """Causal LMs by name: the served pair first, then every other known model."""
        from core.models import known_models

        names = [self.student_label(), self.teacher_label()]
        return list(
            dict.fromkeys(names + [m.name for m in known_models() if m.kind == "causal-lm"])
        )

    def _spec(self, name: str) -> ModelSpec:
        from core.models import resolve_model

        served = {self.teacher_label(): self.teacher_spec, self.student_label(): self.student_spec}
        return served.get(name) or resolve_model(name)

    def _probe_backend(self, spec: ModelSpec) -> Backend:
        """The app's loaded backend for the served pair; a fresh one for any other model."""
        if spec == self.teacher_spec:
            return self.backend("teacher")
        if spec == self.student_spec:
            return self.backend("student")
        from core.backends import backend_for

        return backend_for(spec)

    def similarity_probe(
        self,
        candidate: str,
        reference: str,
        baselines: list[str],
        prompts: int,
        max_new_tokens: int,
    ) -> Any:
        from ui.services.similarity import probe

        return probe(
            self.store,
            self._spec(candidate),
            self._spec(reference),
            [self._spec(b) for b in baselines],
            prompts=prompts,
            max_new_tokens=max_new_tokens,
            factory=self._probe_backend,
            plot=self.scratch_file(".png"),
        )

    def similarity_files(
        self, reference: str, candidate: str, baselines: list[str], protected: str | None
    ) -> Any:
        from ui.services.similarity import score_files

        return score_files(
            self.store, reference, candidate, baselines, protected, self.scratch_file(".png")
        )

    # -- audit and reports ------------------------------------------------------
    def license_ids(self) -> list[str]:
        from audit.licences.knowledge import known_license_ids

        return known_license_ids()

    def report_subjects(self) -> list[tuple[str, str]]:
        """Runs and registered models a report can be about, newest first, as (label,
        "run:ID"/"model:NAME")."""
        from ui.services.ledger import run_choices

        runs = [(label, f"run:{run_id}") for label, run_id in run_choices(self.store)]
        names = dict.fromkeys(m["name"] for m in reversed(self.store.models()))
        return runs + [(f"model {name}", f"model:{name}") for name in names]

    def register_served_models(self) -> None:
        """Record the teacher and the student this app serves in the ledger (once per weights
        hash)."""
        from core.models import prepare_model

        for spec in (self.teacher_spec, self.student_spec):
            prepared = prepare_model(spec)
            self.store.register_model(
                spec.name,
                license=spec.license,
                path=prepared.path,
                source=spec.source,
                details={"role": "served by the app", "base_model": spec.base_model},
            )

    # -- access -------------------------------------------------------------
    def is_admin_password(self, secret: str | None) -> bool:
        """True when ``secret`` is the admin password (constant-time compare)."""
        expected = self.config.admin_password
        if not expected or not secret:
            return False
        return hmac.compare_digest(_digest(secret), _digest(expected))

    def is_admin_user(self, username: str | None) -> bool:
        """True when a Hugging Face user signed in with OAuth is listed as an admin."""
        return bool(username) and username in self.config.admin_users


class LatestRun(BaseModel):
    """The newest finished distillation, for the Distill tab."""

    run_id: str = Field(description="Ledger run id.")
    rows: list[list[str]] = Field(description="Scorecard rows.")
    loss_png: str | None = Field(
        default=None, description="The run's loss-curve picture, if still on disk."
    )


class LeaderboardView(BaseModel):
    """What the Leaderboard tab shows."""

    counts: str = Field(description="Vote counts, Markdown.")
    rows: list[list] = Field(description="Rank, model, rating, interval, battles.")
    plot: str | None = Field(description="PNG of the ratings with intervals, if any.")


class ArenaTurn(BaseModel):
    """Both chat histories and speed lines after one streamed update."""

    history_a: list[dict] = Field(description="Teacher's chat history, Gradio messages format.")
    history_b: list[dict] = Field(description="Student's chat history, Gradio messages format.")
    stats_a: str = Field(default="streaming…", description="Teacher's speed line.")
    stats_b: str = Field(default="streaming…", description="Student's speed line.")


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _stats(side: Any) -> str:
    ttft = "–" if side.ttft_s is None else f"{side.ttft_s:.2f} s"
    return f"TTFT **{ttft}** · **{side.tokens_per_s:.1f}** tokens/s · {side.tokens} tokens"


def client_ids(request: Any) -> tuple[str, str | None]:
    """The browser session id and client IP of a Gradio request (first X-Forwarded-For hop on a
    Space)."""
    if request is None:
        return "anonymous", None
    forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
    host = request.client.host if request.client else None
    return request.session_hash or "anonymous", forwarded or host


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()
