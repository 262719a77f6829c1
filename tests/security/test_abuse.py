"""Brute force and vote-cap abuse (issue 14, problems 3 and 4), replayed."""

from __future__ import annotations

import threading
import time

import pytest
from starlette.requests import Request

from audit.ledger.store import Store
from audit.ledger.votes import VotePolicy, record_vote
from core.errors import InputError
from ui.clients import client_ip

pytestmark = pytest.mark.timeout(120)


def http_request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "headers": headers, "client": (peer, 5555)})


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy():
    assert client_ip(http_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    assert client_ip(http_request("203.0.113.9", "1.2.3.4"), ["10.0.0.0/8"]) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop():
    # the client forged "1.2.3.4"; the proxy appended the real address it saw
    request = http_request("10.0.0.2", "1.2.3.4, 198.51.100.7")
    assert client_ip(request, ["10.0.0.0/8"]) == "198.51.100.7"
    request = http_request("10.0.0.2", "198.51.100.7, 10.0.0.5")
    assert client_ip(request, ["10.0.0.0/8"]) == "198.51.100.7"


def vote(i: int, ip: str, session: str) -> dict:
    return {
        "battle_id": f"b{i}",
        "model_a": "teacher",
        "model_b": "student",
        "winner": "model_a",
        "session_id": session,
        "ip": ip,
    }


def test_forged_addresses_do_not_get_past_the_ip_cap(tmp_path):
    """Problem 4: after the cap of 5, 6 of 6 votes with forged X-Forwarded-For were taken."""
    store = Store(tmp_path / "ledger.duckdb")
    policy = VotePolicy(max_votes_per_session_per_day=None, max_votes_per_ip_per_day=5, salt="s")
    taken = 0
    for i in range(11):
        request = http_request("203.0.113.9", f"10.9.8.{i}")  # a new forged hop every time
        try:
            record_vote(store, vote(i, client_ip(request), f"session-{i}"), policy)
            taken += 1
        except InputError as error:
            assert error.code == "vote_cap"
    assert taken == 5


def test_parallel_voters_at_the_cap_get_no_extra_votes(tmp_path):
    """Problem 4: at the cap, 20 parallel voters got 3-13 votes over it."""
    store = Store(tmp_path / "ledger.duckdb")
    policy = VotePolicy(max_votes_per_session_per_day=5, max_votes_per_ip_per_day=None, salt="s")
    for i in range(4):
        record_vote(store, vote(i, "198.51.100.1", "one-session"), policy)
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def cast(i: int) -> None:
        start.wait()
        try:
            record_vote(store, vote(100 + i, "198.51.100.1", "one-session"), policy)
            outcomes.append("taken")
        except InputError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=cast, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("taken") == 1 and outcomes.count("vote_cap") == 19
    assert store.count_votes() == 5 and store.verify().ok


def test_password_guessing_is_throttled_and_recorded_without_the_guess(tmp_path):
    """Problem 3: 301 guesses in 10 s, no delay, no lockout."""
    from ui.config import AppConfig
    from ui.services.access import AdminAccess

    store = Store(tmp_path / "ledger.duckdb")
    access = AdminAccess(AppConfig(admin_password="correct horse", preload=False), store)
    compared = refused = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            assert not access.sign_in(f"guess-{compared}", "203.0.113.9")
            compared += 1
        except InputError as error:
            assert error.code == "login_locked" and "try again in" in error.message
            refused += 1
            time.sleep(0.01)
    assert compared <= 9 and refused > 50  # 5 free, then locked 1 s, 2 s, ...
    events = store.security_events("admin_login_failed")
    assert len(events) == compared and "guess" not in str(events)
    assert store.verify().ok
    with pytest.raises(InputError, match="try again"):  # even the right password must wait
        access.sign_in("correct horse", "203.0.113.9")
    assert access.sign_in("correct horse", "198.51.100.50")  # another client is not locked


def test_guesses_spread_over_many_addresses_lock_everyone(tmp_path):
    from ui.config import AppConfig
    from ui.services.access import AdminAccess

    access = AdminAccess(AppConfig(admin_password="correct horse", preload=False))
    for i in range(51):
        access.sign_in("wrong", f"10.1.{i // 250}.{i % 250}")
    with pytest.raises(InputError, match="try again"):
        access.sign_in("correct horse", "198.51.100.50")
