"""The admin session: a password checked in a plain HTTP route, answered with a signed cookie.

    routes = admin_routes(access, trusted_proxies)     # handed to Gradio's FastAPI app
    is_admin_cookie(request, access)                    # a Gradio event reads the cookie

``POST /stillhouse/sign-in`` with ``{"password": ...}`` is throttled (``ui.throttle``) and
answers 200 with an HttpOnly, SameSite=Strict cookie ``stillhouse_admin`` (8 hours),
401 for a wrong password, 429 while locked out. The cookie is ``expiry.nonce.hmac`` signed
with a per-process secret (``$STILLHOUSE_SESSION_SECRET`` to keep sessions across
restarts). No Gradio event ever sees the password, so the sign-in is not reachable through
``/gradio_api/``; the events only check the cookie the browser already holds.
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
_SECRET = (os.environ.get("STILLHOUSE_SESSION_SECRET") or secrets.token_hex(32)).encode()


def _sign(body: str) -> str:
    return hmac.new(_SECRET, body.encode(), hashlib.sha256).hexdigest()


def issue(now: float | None = None) -> str:
    """A fresh signed session value."""
    body = f"{int((now or time.time()) + LIFETIME_S)}.{secrets.token_hex(8)}"
    return f"{body}.{_sign(body)}"


def valid(value: str | None, now: float | None = None) -> bool:
    """Is ``value`` a cookie this process signed, and not expired?"""
    if not value or value.count(".") != 2:
        return False
    expiry, nonce, mac = value.split(".")
    if not hmac.compare_digest(mac, _sign(f"{expiry}.{nonce}")):
        return False
    return expiry.isdigit() and int(expiry) > (now or time.time())


def is_admin_cookie(request: Any) -> bool:
    """Does this (Gradio or Starlette) request carry a valid admin cookie?"""
    from http.cookies import SimpleCookie

    headers = getattr(request, "headers", None) or {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie") or "")
    except Exception:  # a malformed Cookie header: not signed in
        return False
    return COOKIE in jar and valid(jar[COOKIE].value)


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
        secure = (
            request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        )
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
