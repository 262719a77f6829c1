"""The admin sign-in against the live app (issue 14, problem 3): not a Gradio event, throttled
over HTTP, answered with a signed HttpOnly cookie."""

from __future__ import annotations

import httpx
import pytest

from ui.session import COOKIE, valid

pytestmark = pytest.mark.timeout(300)
PASSWORD = "correct horse battery staple"


def test_no_gradio_event_takes_the_password(live_app):
    """The old handler was callable as /gradio_api/call/check: 301 guesses in 10 s."""
    config = httpx.get(f"{live_app.url}/config").json()
    box = next(
        c["id"] for c in config["components"] if c["props"].get("elem_id") == "admin-password"
    )
    takers = [d for d in config["dependencies"] if box in d["inputs"] and d.get("backend_fn")]
    assert takers == [], "a Python event still receives the password"


def test_sign_in_over_http_is_throttled_then_gives_a_signed_httponly_cookie(live_app):
    url = f"{live_app.url}/stillhouse/sign-in"
    codes = [httpx.post(url, json={"password": f"guess {i}"}).status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and 429 in codes[5:]
    locked = httpx.post(url, json={"password": PASSWORD})
    assert locked.status_code == 429 and "try again" in locked.json()["message"]
    failures = live_app.services.store.security_events("admin_login_failed")
    assert len(failures) >= 5 and "guess" not in str(failures)
    live_app.services.access.throttle.succeeded("127.0.0.1")  # the operator waits it out
    response = httpx.post(url, json={"password": PASSWORD})
    assert response.status_code == 200
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header
    assert valid(response.cookies[COOKIE])
    forged = response.cookies[COOKIE][:-1] + ("0" if response.cookies[COOKIE][-1] != "0" else "1")
    assert not valid(forged)
