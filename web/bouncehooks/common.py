"""What every provider module shares: its context, its answer, its refusals, JSON fields."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
import redis

from config import Settings
from newsroom.reports import Report

MAX_FETCH_BYTES = 64 * 1024
FETCH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")  # RFC 3463


class Refused(Exception):
    """Not the provider's request, or not one we can read: the status and the field why."""

    def __init__(self, status: int, field: str, message: str, challenge: str = "") -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message
        self.challenge = challenge  # WWW-Authenticate of a 401


@dataclass(frozen=True)
class Context:
    settings: Settings
    fetch: Callable[[str], bytes]
    redis: Callable[[], redis.Redis]


@dataclass(frozen=True)
class Reading:
    reports: list[Report]
    note: str = ""
    undo: Callable[[], None] = field(default=lambda: None)


def off(setting: str) -> Refused:
    return Refused(404, "provider", f"not configured here: set {setting}")


def payload(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Refused(422, "body", "must be the provider's JSON object") from None
    if not isinstance(value, dict):
        raise Refused(422, "body", "must be a JSON object")
    return value


def text(data: dict[str, Any], name: str, where: str = "") -> str:
    """A string field, or 422 naming it (`where` is the path of `data`)."""
    value = data.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise Refused(422, f"{where}{name}", "missing or not a string")
    return str(value)


def obj(data: dict[str, Any], name: str, where: str = "") -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise Refused(422, f"{where}{name}", "missing or not an object")
    return value


def status_in(*texts: object) -> str:
    """The first RFC 3463 status code in any of `texts` ("5.1.1"), or ""."""
    for value in texts:
        match = _STATUS.search(str(value or ""))
        if match:
            return ".".join(match.groups())
    return ""


@lru_cache(maxsize=32)  # a provider signs with one certificate for months: fetch it once
def fetch_https(url: str) -> bytes:
    with (
        httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_FETCH_BYTES:
                raise ValueError(f"{url}: more than {MAX_FETCH_BYTES} bytes")
        return bytes(body)
