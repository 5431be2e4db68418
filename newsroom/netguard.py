"""Where the service may send requests: pushes and WebSub callbacks (SSRF guard).

A URL a partner or subscriber gives us must not make us call into our own network: a
host that resolves to a loopback, private, link-local, multicast or reserved address is
refused, unless the operator allow-listed that network. Plain http is allowed only into
such an allow-listed network (intranets, tests). The addresses are resolved once and
the request goes to exactly those, so a second DNS answer cannot point elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL = 2000


class UnsafeURL(ValueError):
    """A URL the service will not call; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str             # as written in the URL (for Host and TLS SNI)
    port: int
    addresses: tuple[Address, ...]


def parse(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an absolute http(s) URL, or UnsafeURL."""
    if len(url) > MAX_URL:
        raise UnsafeURL(f"longer than {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsafeURL("contains spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise UnsafeURL("must not carry a user name or password")
    if not parts.hostname:
        raise UnsafeURL("has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("has an invalid port") from None
    host = parts.hostname.lower().rstrip(".")
    try:  # "borlänge.example" is sent as its IDNA form, "xn--borlnge-5wa.example"
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeURL(f"{host!r} is not a valid host name") from None
    return parts.scheme, host, port


def check(url: str, allowed: Sequence[Network] = ()) -> Target:
    """Resolve ``url`` and refuse it if any address it resolves to is off limits."""
    scheme, host, port = parse(url)
    addresses = _resolve(host, port)
    for address in addresses:
        inside = _is_internal(address)
        listed = any(address in network for network in allowed)
        if inside and not listed:
            raise UnsafeURL(
                f"{host} resolves to {address}, an internal address; allow-list its network "
                "in BUDKAVLE_WEBHOOK_ALLOW_NETWORKS to permit it"
            )
        if scheme == "http" and not listed:
            raise UnsafeURL("must use https (http only into an allow-listed network)")
    return Target(url, scheme, host, port, addresses)


def _resolve(host: str, port: int) -> tuple[Address, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"{host} does not resolve ({exc})") from None
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return tuple(found)


def _is_internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address lead to it: judge that one too.
        embedded = address.ipv4_mapped or address.sixtofour or (
            address.teredo[1] if address.teredo else None
        )
        if embedded is not None and _is_internal(embedded):
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )
