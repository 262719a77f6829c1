"""What one running app holds: the per-tab services over one config, one ledger, one pair.

    services = AppServices(config)
    services.models.teacher_label()          # ServedModels: the loaded teacher and student
    services.arena.turn(...)                 # ArenaService
    services.battle.start(...)               # BattleTabService
    services.leaderboard.view()              # LeaderboardService
    services.distill.preflight(...)          # DistillService
    services.similarity.probe(...)           # SimilarityService
    services.audit.tables()                  # AuditService
    services.reports.export(...)             # ReportsService
    services.first_distill(preset="quick")   # distill the missing student in the background
    services.student_view().line             # "student training: step 80/160, about 3 min left"
    services.access.is_admin_password(...)   # AdminAccess

Each service lives in its own module under ``ui.services`` and returns pydantic views
(or plain strings, paths and rows a widget takes as they are). None holds business logic
or SQL: everything is a call into ``core`` or ``audit``.
"""

from __future__ import annotations

from audit.ledger.store import Store
from ui.config import AppConfig
from ui.services.access import AdminAccess
from ui.services.arena import ArenaService
from ui.services.audit import AuditService
from ui.services.battle import BattleTabService
from ui.services.distill import DistillService
from ui.services.leaderboard import LeaderboardService
from ui.services.models import ServedModels
from ui.services.reports import ReportsService
from ui.services.scratch import Scratch
from ui.services.similarity import SimilarityService
from ui.services.student import FirstDistill, StudentView


class AppServices:
    """The shared state of one app, one service per tab (shared by every browser session)."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.store = Store(config.ledger_path())
        self.scratch = Scratch()
        self.models = ServedModels(config)
        self.student_job: FirstDistill | None = None
        self.access = AdminAccess(config, self.store)
        self.arena = ArenaService(self.models, waiting=lambda: self.student_view().line)
        self.battle = BattleTabService(config, self.models, self.store)
        self.leaderboard = LeaderboardService(config, self.store, self.scratch)
        self.distill = DistillService(config, self.store)
        self.similarity = SimilarityService(self.models, self.store, self.scratch)
        self.audit = AuditService(self.store, self.scratch)
        self.reports = ReportsService(self.store, self.scratch)

    def register_served_models(self) -> None:
        """Record the teacher and the student this app serves in the ledger."""
        self.models.register(self.store)

    def first_distill(self, *, preset: str, overrides: list[str] | None = None) -> FirstDistill:
        """Distill the missing student in a background thread; once it is saved it is
        recorded in the ledger and served on next use, with no restart."""
        self.student_job = FirstDistill(
            self.config,
            self.store,
            preset=preset,
            overrides=overrides or [],
            on_saved=self.register_served_models,
        )
        self.student_job.start()
        return self.student_job

    def student_view(self) -> StudentView:
        """Where the student stands: ready, on its way (with progress), or why there is none."""
        if self.models.student_ready():
            job = self.student_job.view() if self.student_job is not None else None
            return job if job is not None and job.state == "done" else StudentView(state="done")
        if self.student_job is None:
            return StudentView(state="failed", message="it is not cached and no run is going")
        view = self.student_job.view()
        if view.state == "done":  # saved, but not resolvable: say so rather than "ready"
            return view.model_copy(update={"state": "failed", "message": "saved but not found"})
        return view
