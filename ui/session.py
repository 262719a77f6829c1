"""Signed cookies: the admin session (a password checked in a plain HTTP route) and the
visitor identity that the vote caps key on.

    routes = admin_routes(access, trusted_proxies)     # handed to Gradio's FastAPI app
    is_admin_cookie(request)                            # a Gradio event reads the cookie
    middleware = visitor_middleware()                   # every visitor gets a signed id
    visitor_id(request)                                 # that id, or None if absent/forged

``POST /stillhouse/sign-in`` with ``{"password": ...}`` is throttled (``ui.throttle``) and
answers 200 with an HttpOnly, SameSite=Strict cookie ``stillhouse_admin`` (8 hours),
401 for a wrong password, 429 while locked out. No Gradio event ever sees the password, so
the sign-in is not reachable through ``/gradio_api/``; the events only check the cookie the
browser already holds.

Every response to a request without a valid ``stillhouse_visitor`` cookie sets one
(HttpOnly, SameSite=Lax, 30 days): the vote caps count a visitor by it, not by Gradio's
client-chosen ``session_hash`` (``ui.services.battle.client_ids``).

Both are ``expiry.nonce.hmac``, signed with a per-process secret
(``$STILLHOUSE_SESSION_SECRET`` to keep them across restarts) and the cookie's purpose, so
a visitor cookie is never an admin cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from typing import Any

from starlette.requests import Request  # module level: FastAPI resolves the routes' annotations

COOKIE = "stillhouse_admin"
LIFETIME_S = 8 * 3600
VISITOR_COOKIE = "stillhouse_visitor"
VISITOR_LIFETIME_S = 30 * 24 * 3600
_SECRET = (os.environ.get("STILLHOUSE_SESSION_SECRET") or secrets.token_hex(32)).encode()


def _sign(purpose: str, body: str) -> str:
    return hmac.new(_SECRET, f"{purpose}:{body}".encode(), hashlib.sha256).hexdigest()


def issue(
    now: float | None = None, *, purpose: str = COOKIE, lifetime_s: float = LIFETIME_S
) -> str:
    """A fresh signed cookie value for ``purpose`` (the cookie's name)."""
    body = f"{int((now or time.time()) + lifetime_s)}.{secrets.token_hex(16)}"
    return f"{body}.{_sign(purpose, body)}"


def valid(value: str | None, now: float | None = None, *, purpose: str = COOKIE) -> bool:
    """Is ``value`` a ``purpose`` cookie this process signed, and not expired?"""
    if not value or value.count(".") != 2:
        return False
    expiry, nonce, mac = value.split(".")
    if not hmac.compare_digest(mac, _sign(purpose, f"{expiry}.{nonce}")):
        return False
    return expiry.isdigit() and int(expiry) > (now or time.time())


def cookie(request: Any, name: str) -> str | None:
    """The value of cookie ``name`` on a (Gradio or Starlette) request, or None."""
    return _cookie(getattr(request, "headers", None) or {}, name)


def _cookie(headers: Any, name: str) -> str | None:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie") or "")
    except Exception:  # a malformed Cookie header: no cookies
        return None
    return jar[name].value if name in jar else None


def is_admin_cookie(request: Any) -> bool:
    """Does this (Gradio or Starlette) request carry a valid admin cookie?"""
    return valid(cookie(request, COOKIE))


def visitor_id(request: Any) -> str | None:
    """The signed visitor id of this request (its cookie's nonce); None when it carries no
    valid visitor cookie (none, forged, expired)."""
    return _visitor(cookie(request, VISITOR_COOKIE))


def _visitor(value: str | None) -> str | None:
    if value is None or not valid(value, purpose=VISITOR_COOKIE):
        return None
    return value.split(".")[1]


def _secure(scope_scheme: str, headers: Any) -> bool:
    return scope_scheme == "https" or headers.get("x-forwarded-proto") == "https"


class VisitorCookies:
    """ASGI middleware: answer every HTTP request that lacks a valid visitor cookie with a
    fresh one (pure ASGI, so streamed responses stay streamed)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers, MutableHeaders

        headers = Headers(scope=scope)
        if _visitor(_cookie(headers, VISITOR_COOKIE)) is not None:
            await self.app(scope, receive, send)
            return
        value = issue(purpose=VISITOR_COOKIE, lifetime_s=VISITOR_LIFETIME_S)
        flags = f"Max-Age={VISITOR_LIFETIME_S}; Path=/; HttpOnly; SameSite=Lax"
        if _secure(scope.get("scheme", "http"), headers):
            flags += "; Secure"

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(
                    "set-cookie", f"{VISITOR_COOKIE}={value}; {flags}"
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def visitor_middleware() -> list[Any]:
    """The visitor-cookie middleware, for ``FastAPI(middleware=...)``."""
    from starlette.middleware import Middleware

    return [Middleware(VisitorCookies)]


def admin_routes(access: Any, trusted_proxies: list[str]) -> list[Any]:
    """The sign-in and sign-out routes, for ``FastAPI(routes=...)``."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    from core.errors import InputError
    from ui.clients import client_ip

    async def sign_in(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        secret = body.get("password") if isinstance(body, dict) else None
        try:
            ok = access.sign_in(
                secret if isinstance(secret, str) else None, client_ip(request, trusted_proxies)
            )
        except InputError as error:
            return JSONResponse({"ok": False, "message": error.message}, status_code=429)
        if not ok:
            return JSONResponse({"ok": False, "message": "Wrong password."}, status_code=401)
        response = JSONResponse({"ok": True, "message": "Signed in."})
        secure = _secure(request.url.scheme, request.headers)
        response.set_cookie(
            COOKIE, issue(), max_age=LIFETIME_S, httponly=True, samesite="strict", secure=secure
        )
        return response

    async def sign_out(request: Request) -> JSONResponse:
        response = JSONResponse({"ok": True, "message": "Signed out."})
        response.delete_cookie(COOKIE)
        return response

    return [
        APIRoute("/stillhouse/sign-in", sign_in, methods=["POST"], include_in_schema=False),
        APIRoute("/stillhouse/sign-out", sign_out, methods=["POST"], include_in_schema=False),
    ]
