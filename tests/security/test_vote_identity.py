"""The session vote cap keys on a server-signed cookie (issue 14, problem 4), not on Gradio's
``session_hash``, which the client picks: replayed over gradio_client against the live app."""

from __future__ import annotations

import httpx
import pytest

from ui.session import VISITOR_COOKIE, issue, valid

pytestmark = pytest.mark.timeout(600)
CAP = 2


@pytest.fixture(scope="module")
def capped_app(tiny_model_dir, tiny_teacher_dir, tmp_path_factory):
    """The live app with a session cap of 2 and no IP cap, so only the session cap counts."""
    from tests.security.conftest import launched_app

    folder = tmp_path_factory.mktemp("capped-app")
    with launched_app(
        tiny_teacher_dir,
        tiny_model_dir,
        folder,
        votes_per_session=CAP,
        votes_per_ip=None,
        max_new_tokens=8,
    ) as demo:
        yield demo


def visitor_cookie(app) -> str:
    """What a browser gets on loading the page."""
    response = httpx.get(app.url + "/")
    assert response.status_code == 200
    header = response.headers["set-cookie"]
    assert header.startswith(f"{VISITOR_COOKIE}=")
    assert "HttpOnly" in header and "SameSite=Lax" in header
    return response.cookies[VISITOR_COOKIE]


def battle_and_vote(app, cookie: str | None) -> str:
    """One battle and a vote from a brand-new Gradio session (a fresh ``session_hash``, as a
    script rotating it would send), carrying ``cookie``; the reveal line."""
    from gradio_client import Client

    cookies = {VISITOR_COOKIE: cookie} if cookie else {}
    client = Client(app.url + "/", verbose=False, httpx_kwargs={"cookies": cookies})
    battle_id = client.predict("Name three colours.", None, api_name="/battle_start")[0]
    shown = client.predict(battle_id, api_name="/battle_vote_left")
    return next(v for v in shown if isinstance(v, str) and "Model A" in v)


def taken(reveal: str) -> bool:
    assert reveal.startswith(("Thanks", "Vote not taken")), reveal
    return reveal.startswith("Thanks")


def test_the_page_sets_a_signed_httponly_visitor_cookie(capped_app):
    first, second = visitor_cookie(capped_app), visitor_cookie(capped_app)
    assert first != second  # one per visitor
    again = httpx.get(capped_app.url + "/", cookies={VISITOR_COOKIE: first})
    assert VISITOR_COOKIE not in again.headers.get("set-cookie", "")  # kept, not replaced
    assert not valid(first)  # a visitor cookie is no admin cookie
    admin = issue()
    assert valid(admin) and not valid(admin, purpose=VISITOR_COOKIE)


def test_rotating_session_hash_does_not_get_past_the_session_cap(capped_app):
    """Before: each new ``session_hash`` was a new session with a fresh cap."""
    cookie = visitor_cookie(capped_app)
    outcomes = [taken(battle_and_vote(capped_app, cookie)) for _ in range(CAP + 2)]
    assert outcomes == [True] * CAP + [False] * 2
    assert taken(battle_and_vote(capped_app, visitor_cookie(capped_app)))  # another visitor


def test_without_a_valid_cookie_votes_count_under_the_address(capped_app):
    """A forged or junk cookie (or none) is no way round the cap: such votes share the IP's
    session cap, however often the cookie or the ``session_hash`` changes."""
    cookie = visitor_cookie(capped_app)
    expiry, nonce, mac = cookie.split(".")
    forged = [f"{expiry}.{c * len(nonce)}.{mac}" for c in "0123"]  # new ids, old signature
    cookies = [forged[0], "junk", forged[1], f"{expiry}.{nonce}.{'0' * len(mac)}", forged[2]]
    outcomes = [taken(battle_and_vote(capped_app, c)) for c in cookies]
    assert outcomes == [True] * CAP + [False] * 3
    assert capped_app.services.store.verify().ok


def test_a_request_without_the_cookie_is_keyed_by_its_address():
    from starlette.requests import Request

    from ui.services.battle import client_ids

    bare = Request({"type": "http", "headers": [], "client": ("203.0.113.9", 5555)})
    assert client_ids(bare) == ("ip:203.0.113.9", "203.0.113.9")  # type: ignore[arg-type]
