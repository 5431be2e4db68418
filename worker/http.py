"""Outgoing HTTP for pushes and WebSub: only to checked addresses, never following redirects.

The host is resolved and checked once (newsroom.netguard); the request then goes to that
very address, with the original name in Host and in TLS SNI, so a DNS answer that changes
between the check and the connection cannot steer us inside (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import httpx

from config import get_settings
from newsroom import netguard

USER_AGENT = "Budkavle (+https://github.com/budkavle)"
MAX_RESPONSE_BYTES = 64 * 1024


# Clients kept at once; past it, the least recently used one is closed (its partner is
# quiet: its connections would have expired anyway).
MAX_POOLS = 512
# Idle connections are dropped after 4 s: uvicorn and Apache close theirs at 5 s, and a push
# sent just as the server closes would meet a reset and count as a failed try.
KEEPALIVE_EXPIRY = 4.0
KEEPALIVE_PER_POOL = 32

Key = tuple[str, str, int, str]  # scheme, host name, port, checked address


class Pools:
    """Keep-alive connections per (scheme, host, port, checked address).

    A request goes to the address the guard checked, with the host's name in Host and in
    TLS SNI. Each key has its own connection pool (an httpx transport: no client layer,
    which cost as much CPU again per push), so a connection verified for one name never
    carries another name's request: TLS connections are reused as safely as plain ones,
    and a push to a partner met a moment ago skips the TCP and TLS handshakes.
    """

    def __init__(self, timeout: httpx.Timeout) -> None:
        self.timeout = timeout.as_dict()
        # One TLS context for every pool: loading the CA bundle is the slow part.
        self.ssl_context = httpx.create_ssl_context()
        self._pools: OrderedDict[Key, httpx.HTTPTransport] = OrderedDict()
        self._lock = threading.Lock()

    def pool(self, key: Key) -> httpx.HTTPTransport:
        with self._lock:
            found = self._pools.get(key)
            if found is not None:
                self._pools.move_to_end(key)
                return found
            made = httpx.HTTPTransport(
                verify=self.ssl_context,
                limits=httpx.Limits(
                    max_connections=None,
                    max_keepalive_connections=KEEPALIVE_PER_POOL,
                    keepalive_expiry=KEEPALIVE_EXPIRY,
                ),
            )
            self._pools[key] = made
            evicted = []
            while len(self._pools) > MAX_POOLS:
                evicted.append(self._pools.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return made

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._pools)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for old in pools:
            old.close()


_creating = threading.Lock()


def client() -> Pools:
    """One set of pools per process (connections are reused across tasks and threads)."""
    # A lock: two threads of the push worker asking at once must not make two sets, one of
    # which would be dropped with its connections still open.
    with _creating:
        return _client()


@lru_cache(maxsize=1)
def _client() -> Pools:
    settings = get_settings()
    return Pools(httpx.Timeout(settings.push_timeout_seconds, connect=5.0))


def reset_client() -> None:
    """Close the pools (their sockets too); the next call makes new ones."""
    with _creating:
        if _client.cache_info().currsize:
            _client().close()
        _client.cache_clear()


def request(
    http: Pools,
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
    # Redirects are never followed: a 3xx is an answer, and a redirect could point inside.
    sent = httpx.Request(
        method,
        pinned,
        content=content,
        headers={"user-agent": USER_AGENT, **(headers or {}), "host": host},
        extensions=(
            {"timeout": http.timeout, "sni_hostname": target.host}
            if target.scheme == "https"
            else {"timeout": http.timeout}
        ),
    )
    pool = http.pool((target.scheme, target.host, target.port, str(address)))
    deadline = time.monotonic() + get_settings().push_timeout_seconds
    response = pool.handle_request(sent)
    try:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                break  # we only look at the status and a short body
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the answer took longer than the push timeout")
    finally:
        response.close()
    # The body is decoded already: hand on the headers without the encoding and length.
    dropped = ("content-encoding", "content-length", "transfer-encoding")
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    return httpx.Response(
        response.status_code, headers=kept, content=bytes(body[:MAX_RESPONSE_BYTES])
    )
