"""Outgoing HTTP for pushes and WebSub: only to checked addresses, never following redirects.

The host is resolved and checked once (newsroom.netguard); the request then goes to that
very address, with the original name in Host and in TLS SNI, so a DNS answer that changes
between the check and the connection cannot steer us inside (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import httpx

from config import get_settings
from newsroom import netguard

USER_AGENT = "Budkavle (+https://github.com/budkavle)"
MAX_RESPONSE_BYTES = 64 * 1024


_creating = threading.Lock()


def client() -> httpx.Client:
    """One pooled client per process (connections are reused across tasks and threads)."""
    # A lock: two threads of the push worker asking at once must not make two clients,
    # one of which would be dropped with its connections still open.
    with _creating:
        return _client()


@lru_cache(maxsize=1)
def _client() -> httpx.Client:
    settings = get_settings()
    timeout = httpx.Timeout(settings.push_timeout_seconds, connect=5.0)
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,  # a 3xx is an answer, and a redirect could point inside
        headers={"user-agent": USER_AGENT},
        # Idle connections are dropped after 4 s: uvicorn and Apache close theirs at 5 s, and a
        # push sent just as the server closes would meet a reset and count as a failed try.
        limits=httpx.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0
        ),
    )


def reset_client() -> None:
    """Close the pooled client (its sockets too); the next call makes a new one."""
    with _creating:
        if _client.cache_info().currsize:
            _client().close()
        _client.cache_clear()


def request(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send to ``url`` if the guard allows it; raises netguard.UnsafeURL otherwise.

    The answer is read up to MAX_RESPONSE_BYTES and within the push timeout in all: a
    server that trickles or floods cannot hold a worker or fill its memory.
    """
    target = netguard.check(url, get_settings().allowed_networks)
    parts = urlsplit(url)
    address = target.addresses[0]
    ip = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    pinned = urlunsplit((parts.scheme, f"{ip}:{target.port}", parts.path or "/",
                         parts.query, ""))  # fmt: skip
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    sent_headers = {**(headers or {}), "host": host}
    extensions: dict[str, str] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
        # The pool knows connections by address, not by name: a connection verified for
        # one host must not carry another host's request, so TLS connections are not kept.
        sent_headers["connection"] = "close"
    deadline = time.monotonic() + get_settings().push_timeout_seconds
    with http.stream(
        method, pinned, content=content, headers=sent_headers, extensions=extensions
    ) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                break  # we only look at the status and a short body
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the answer took longer than the push timeout")
    # The body is decoded already: hand on the headers without the encoding and length.
    dropped = ("content-encoding", "content-length", "transfer-encoding")
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    return httpx.Response(
        response.status_code, headers=kept, content=bytes(body[:MAX_RESPONSE_BYTES])
    )
