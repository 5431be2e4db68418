"""Partner endpoints on loopback: each answers as it is told and records what it got."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import Server

HANG = -1  # an answer that comes only after HANG_SECONDS (the push times out first)
HANG_SECONDS = 5.0


@dataclass(frozen=True)
class Push:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass
class Endpoint:
    # Each request takes the next answer: a status, (status, headers), or HANG; then 200.
    answers: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[Push] = field(default_factory=list)


@dataclass
class Partners:
    base_url: str = ""
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Partners]:
        peers = cls()
        app = Starlette(routes=[Route("/{name}", peers._answer, methods=["POST"])])
        with Server.running(app) as server:
            peers.base_url = server.base_url
            yield peers

    def endpoint(self, name: str, *answers: int | tuple[int, dict[str, str]]) -> str:
        with self._lock:
            self.endpoints[name] = Endpoint(list(answers))
        return f"{self.base_url}/{name}"

    def received(self, name: str) -> list[Push]:
        with self._lock:
            return list(self.endpoints[name].received)

    async def _answer(self, request: Request) -> Response:
        body = await request.body()
        name = request.path_params["name"]
        with self._lock:
            endpoint = self.endpoints.setdefault(name, Endpoint())
            endpoint.received.append(Push(dict(request.headers), body, time.monotonic()))
            answer = endpoint.answers.pop(0) if endpoint.answers else 200
        if answer == HANG:
            await asyncio.sleep(HANG_SECONDS)
            answer = 200
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return Response(status_code=status, headers=headers)
