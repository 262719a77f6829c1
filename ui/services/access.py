"""Who is an admin: the password check and the Hugging Face user list.

access = AdminAccess(config)
access.is_admin_password("s3cret")      # constant-time compare with STILLHOUSE_ADMIN_PASSWORD
access.is_admin_user("alice")           # a Space user listed in STILLHOUSE_ADMIN_USERS
"""

from __future__ import annotations

import hashlib
import hmac

from ui.config import AppConfig


class AdminAccess:
    """The admin checks of one app."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config

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
