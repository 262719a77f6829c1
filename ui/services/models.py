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
            for role in ROLES:
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

        served = {self.teacher_label(): self.teacher_spec, self.student_label(): self.student_spec}
        return served.get(name) or resolve_model(name)

    def probe_backend(self, spec: ModelSpec) -> Backend:
        """The app's loaded backend for the served pair; a fresh one for any other model."""
        if spec == self.teacher_spec:
            return self.backend("teacher")
        if spec == self.student_spec:
            return self.backend("student")
        from core.backends import backend_for

        return backend_for(spec)

    def register(self, store: Store) -> None:
        """Record the teacher and the student in the ledger (once per weights hash)."""
        from core.models import prepare_model

        for spec in (self.teacher_spec, self.student_spec):
            prepared = prepare_model(spec)
            store.register_model(
                spec.name,
                license=spec.license,
                path=prepared.path,
                source=spec.source,
                details={"role": "served by the app", "base_model": spec.base_model},
            )
