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


class AppServices:
    """The shared state of one app, one service per tab (shared by every browser session)."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.store = Store(config.ledger_path())
        self.scratch = Scratch()
        self.models = ServedModels(config)
        self.access = AdminAccess(config)
        self.arena = ArenaService(self.models)
        self.battle = BattleTabService(config, self.models, self.store)
        self.leaderboard = LeaderboardService(config, self.store, self.scratch)
        self.distill = DistillService(config, self.store)
        self.similarity = SimilarityService(self.models, self.store, self.scratch)
        self.audit = AuditService(self.store, self.scratch)
        self.reports = ReportsService(self.store, self.scratch)

    def register_served_models(self) -> None:
        """Record the teacher and the student this app serves in the ledger."""
        self.models.register(self.store)
