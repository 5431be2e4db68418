"""A WebSub subscriber on loopback, for the hub's tests (as websub.rocks plays one),
and the helpers those tests share.

The subscriber answers intent verifications (echoing hub.challenge, or as told otherwise), answers
content distribution with the statuses it is told, and records every request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from config import get_settings
from newsroom.db import session_scope
from newsroom.models import WebSubIntent
from tests.support import Server

PUBLIC = "https://nyheter.example"  # BUDKAVLE_PUBLIC_URL in tests/conftest.py
HUB = f"{PUBLIC}/websub"
ECHO = "echo the challenge"
WRONG = "answer something else"


@contextmanager
def allow_loopback() -> Iterator[None]:
    """Callbacks on 127.0.0.1 are internal: the operator must allow-list them (SSRF)."""
    os.environ["BUDKAVLE_WEBHOOK_ALLOW_NETWORKS"] = "127.0.0.0/8"
    get_settings.cache_clear()
    try:
        yield
    finally:
        del os.environ["BUDKAVLE_WEBHOOK_ALLOW_NETWORKS"]
        get_settings.cache_clear()
        from worker import http

        http.reset_client()  # its pooled connections led to the peers


def topic(path: str = "all.atom") -> str:
    return f"{PUBLIC}/feeds/{path}"


def hub_request(
    server: Server,
    callback: str,
    mode: str = "subscribe",
    path: str = "all.atom",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    form = {"hub.mode": mode, "hub.topic": topic(path), "hub.callback": callback}
    return server.client.post("/websub", data={**form, **(extra or {})})


def intent_statuses() -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.scalars(select(WebSubIntent).order_by(WebSubIntent.id))
        return [(row.mode, row.status) for row in rows]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str                 # raw, as the hub sent it
    params: dict[str, str]
    headers: dict[str, str]    # names in lower case
    body: bytes


@dataclass
class Subscriber:
    base_url: str = ""
    # How to answer each verification GET in turn (ECHO, WRONG or a status); then ECHO.
    verify_answers: list[str | int] = field(default_factory=list)
    # The status of each answer to a content distribution POST in turn; then 200.
    push_answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Subscriber]:
        subscriber = cls()
        app = Starlette(routes=[Route("/{name}", subscriber._answer, methods=["GET", "POST"])])
        with Server.running(app) as server:
            subscriber.base_url = server.base_url
            yield subscriber

    def callback(self, name: str = "inbox", query: str = "") -> str:
        return f"{self.base_url}/{name}" + (f"?{query}" if query else "")

    def verifications(self, name: str = "inbox") -> list[Received]:
        return self._of("GET", name)

    def deliveries(self, name: str = "inbox") -> list[Received]:
        return self._of("POST", name)

    def _of(self, method: str, name: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method and r.path == f"/{name}"]

    async def _answer(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append(
                Received(request.method, request.url.path, request.url.query,
                         dict(request.query_params), dict(request.headers), body)
            )  # fmt: skip
            if request.method == "POST":
                status = self.push_answers.pop(0) if self.push_answers else 200
                return Response(status_code=status)
            answer = self.verify_answers.pop(0) if self.verify_answers else ECHO
        if answer == ECHO:
            return PlainTextResponse(request.query_params.get("hub.challenge", ""))
        if answer == WRONG:
            return PlainTextResponse("jag minns inte att jag bad om det")
        assert isinstance(answer, int)
        return Response(status_code=answer)
