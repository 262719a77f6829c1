"""The teacher and student one app serves: specs, labels, loaded backends, generation settings.

    models = ServedModels(config)
    models.teacher_label(), models.student_label()     # names shown in the page
    backend = models.backend("student")                # loaded once, shared by every session
    models.warm_up()                                   # load both in the background

The backends are loaded once and shared by every browser session (they are thread-safe).
Any other model (a similarity baseline, say) gets a fresh backend from ``probe_backend``.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from core.generation import GenerationParams
from core.specs import ModelSpec
from ui.config import AppConfig

if TYPE_CHECKING:
    from audit.ledger.store import Store
    from core.backends import Backend

ROLES = ("teacher", "student")


class ServedModels:
    """The app's teacher and student, resolved on first use and loaded once."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._backends: dict[str, Backend] = {}
        self._student: ModelSpec | None = None
        self._shares: dict[str, ModelSpec] | None = None

    @cached_property
    def teacher_spec(self) -> ModelSpec:
        from core.models import resolve_model

        return resolve_model(self.config.teacher)

    @property
    def student_spec(self) -> ModelSpec:
        """The student's spec; NotFoundError while it is not saved yet (resolved again on each
        use until it is, so a student distilled while the app runs is served without restart)."""
        if self._student is None:
            from core.models import resolve_model

            self._student = resolve_model(self.config.student)
        return self._student

    def student_ready(self) -> bool:
        """Is the student saved (and so servable)?"""
        from core.errors import NotFoundError

        try:
            _ = self.student_spec
        except NotFoundError:
            return False
        return True

    def teacher_label(self) -> str:
        return self.teacher_spec.name

    def student_label(self) -> str:
        """The student's name (the name it will have while it is on its way)."""
        return self.student_spec.name if self.student_ready() else self.config.student

    def backend(self, role: str) -> Backend:
        """The loaded backend for ``teacher`` or ``student`` (loaded on first use)."""
        with self._lock:
            if role not in self._backends:
                from core.backends import backend_for

                self._backends[role] = backend_for(self._gpu_specs[role])
            return self._backends[role]

    @property
    def _gpu_specs(self) -> dict[str, ModelSpec]:
        """The pair with their shares of the GPU when vLLM serves both on it, else as resolved
        (while the student is on its way, the teacher's share is sized as if next to itself)."""
        if self._shares is not None:
            return self._shares
        from core.backends import vllm_usable

        ready = self.student_ready()
        specs = [self.teacher_spec, self.student_spec if ready else self.teacher_spec]
        if vllm_usable():
            from core.backends.memory import served_shares

            specs = served_shares(specs, self.config.gpu_memory)
        shares = dict(zip(ROLES, specs, strict=True))
        if ready:
            self._shares = shares
        return shares

    def close(self) -> None:
        """Release both loaded models (the app calls this when its server stops)."""
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            backend.close()

    def backends_by_name(self) -> dict[str, Backend]:
        """Both backends keyed by model name (what the blind battles draw from)."""
        return {
            self.teacher_label(): self.backend("teacher"),
            self.student_label(): self.backend("student"),
        }

    def warm_up(self) -> threading.Thread:
        """Load both models in the background so the first chat does not wait."""

        def load() -> None:
            for role in ROLES if self.student_ready() else ("teacher",):
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
        """Generation settings for chat: the app's defaults unless given."""
        return GenerationParams(
            max_new_tokens=max_new_tokens or self.config.max_new_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            seed=seed,
        )

    def names(self) -> list[str]:
        """Causal LMs by name: the served pair first, then every other known model."""
        from core.models import known_models

        names = [self.student_label(), self.teacher_label()]
        return list(
            dict.fromkeys(names + [m.name for m in known_models() if m.kind == "causal-lm"])
        )

    def spec(self, name: str) -> ModelSpec:
        """The served pair's spec for its name; any other name resolved as usual."""
        from core.models import resolve_model

        served = {self.teacher_label(): self.teacher_spec}
        if self.student_ready():
            served[self.student_label()] = self.student_spec
        return served.get(name) or resolve_model(name)

    def is_served(self, spec: ModelSpec) -> bool:
        """Is this the teacher's or the student's spec (a backend the app keeps loaded)?"""
        return spec == self.teacher_spec or (self.student_ready() and spec == self.student_spec)

    def probe_backend(self, spec: ModelSpec) -> Backend:
        """The app's loaded backend for the served pair; a fresh one for any other model."""
        if spec == self.teacher_spec:
            return self.backend("teacher")
        if self.student_ready() and spec == self.student_spec:
            return self.backend("student")
        from core.backends import backend_for

        return backend_for(spec)

    def register(self, store: Store) -> None:
        """Record the teacher and the student in the ledger (once per weights hash)."""
        from core.models import prepare_model

        specs = [self.teacher_spec] + ([self.student_spec] if self.student_ready() else [])
        for spec in specs:
            prepared = prepare_model(spec)
            store.register_model(
                spec.name,
                license=spec.license,
                path=prepared.path,
                source=spec.source,
                details={"role": "served by the app", "base_model": spec.base_model},
            )
