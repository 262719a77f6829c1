"""Who is an admin: the password check and the Hugging Face user list.

access = AdminAccess(config)
access.is_admin_password("s3cret")      # constant-time compare with STILLHOUSE_ADMIN_PASSWORD
access.is_admin_user("alice")           # a Space user listed in STILLHOUSE_ADMIN_USERS
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from ui.config import AppConfig
from ui.throttle import LoginThrottle

if TYPE_CHECKING:
    from audit.ledger.store import Store


class AdminAccess:
    """The admin checks of one app."""

    def __init__(self, config: AppConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store
        self.throttle = LoginThrottle()

    def sign_in(self, secret: str | None, client: str | None) -> bool:
        """Check a password typed by ``client`` (an address), throttled: while this client or
        everyone is locked out this raises ``InputError`` without comparing. Each failure is
        recorded in the ledger by the client's salted hash, never with the guess."""
        key = client or "unknown"
        self.throttle.check(key)
        if self.is_admin_password(secret):
            self.throttle.succeeded(key)
            return True
        locked = self.throttle.failed(key)
        if self.store is not None:
            from audit.ledger.votes import hash_id, vote_salt

            self.store.record_security_event(
                "admin_login_failed",
                client_hash=hash_id(key, vote_salt()),
                details={"locked_for_s": locked},
            )
        return False

    @property
    def enabled(self) -> bool:
        """Whether a password is set (without one, admin login is disabled)."""
        return self.config.admin_password is not None

    def is_admin_password(self, secret: str | None) -> bool:
        """True when ``secret`` is the admin password (constant-time compare)."""
        expected = self.config.admin_password
        if not expected or not secret:
            return False
        return hmac.compare_digest(_digest(secret), _digest(expected))

    def is_admin_user(self, username: str | None) -> bool:
        """True when a Hugging Face user signed in with OAuth is listed as an admin."""
        return bool(username) and username in self.config.admin_users


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()
