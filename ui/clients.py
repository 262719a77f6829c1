"""Who is asking: the client address behind trusted proxies only, and a hashed id for it.

    ip = client_ip(request, trusted=["10.0.0.0/8"])   # X-Forwarded-For read only from these

``X-Forwarded-For`` is set by whoever sends the request, so it is believed only when the
socket peer is a configured trusted proxy (``--trusted-proxies``, like uvicorn's
``forwarded_allow_ips``). Then the list is read from the right, skipping trusted hops,
and the first address that is not a trusted proxy is the client. Otherwise the client is
the socket peer. ``*`` trusts every peer (only behind a proxy that overwrites the header).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any


def _networks(trusted: Sequence[str]) -> list[Any]:
    nets = []
    for item in trusted:
        item = item.strip()
        if item and item != "*":
            nets.append(ipaddress.ip_network(item, strict=False))
    return nets


def _is_trusted(address: str | None, trusted: Sequence[str]) -> bool:
    if not address:
        return False
    if "*" in trusted:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(trusted))


def client_ip(request: Any, trusted: Sequence[str] = ()) -> str | None:
    """The client's address for ``request`` (a Gradio or Starlette request)."""
    if request is None:
        return None
    client = getattr(request, "client", None)
    peer = getattr(client, "host", None) if client else None
    if not _is_trusted(peer, trusted):
        return peer
    headers = getattr(request, "headers", None) or {}
    hops = [h.strip() for h in (headers.get("x-forwarded-for") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def check_trusted(trusted: Sequence[str]) -> list[str]:
    """The list as given, or ``InputError`` naming an entry that is not an address or network."""
    from core.errors import InputError

    try:
        _networks(trusted)
    except ValueError as error:
        raise InputError(
            "bad_trusted_proxies", f"--trusted-proxies: {error}", hint="e.g. 10.0.0.0/8,127.0.0.1"
        ) from None
    return list(trusted)
