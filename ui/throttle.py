"""Admin sign-in throttling: failures delay and lock out each client, and everyone at once.

    throttle = LoginThrottle()
    throttle.check(client)                 # InputError("login_locked", ...) while locked out
    throttle.failed(client)                # after a wrong password: the lockout in seconds
    throttle.succeeded(client)             # a right password clears this client's count

Per client: ``free`` failures, then each further one locks that client out for
``base_s * 2**k`` seconds (1, 2, 4, ... up to ``max_s``). Globally (guesses spread over many
addresses): more than ``global_free`` failures within ``window_s`` lock every sign-in for
``global_lock_s``. While locked, the password is not even compared, so guessing costs the
attacker the lockout whatever the guess. 301 guesses in 10 s become about 12.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from core.errors import InputError


@dataclass
class _Client:
    failures: int = 0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Failed-login counters for one app (in memory; a restart forgets them)."""

    free: int = 5
    base_s: float = 1.0
    max_s: float = 900.0
    global_free: int = 50
    window_s: float = 600.0
    global_lock_s: float = 60.0
    clock: object = time.monotonic
    _clients: dict[str, _Client] = field(default_factory=dict)
    _recent: deque = field(default_factory=deque)
    _global_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator]

    def check(self, client: str) -> None:
        """Refuse while this client, or everyone, is locked out."""
        now = self._now()
        with self._lock:
            until = max(self._global_until, self._clients.get(client, _Client()).locked_until)
        if until > now:
            raise InputError(
                "login_locked",
                f"too many failed sign-ins: try again in {max(1, round(until - now))} s",
            )

    def failed(self, client: str) -> float:
        """Count a wrong password; return how long this client is now locked out (0: not)."""
        now = self._now()
        with self._lock:
            state = self._clients.setdefault(client, _Client())
            state.failures += 1
            lock = 0.0
            if state.failures > self.free:
                lock = min(self.max_s, self.base_s * 2 ** (state.failures - self.free - 1))
                state.locked_until = now + lock
            self._recent.append(now)
            while self._recent and self._recent[0] < now - self.window_s:
                self._recent.popleft()
            if len(self._recent) > self.global_free:
                self._global_until = now + self.global_lock_s
                lock = max(lock, self.global_lock_s)
            return lock

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
