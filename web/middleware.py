"""Pure ASGI middleware (no BaseHTTPMiddleware: it would cost the feed path dearly)."""

from __future__ import annotations

import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.bodies import discard, expects_continue
from web.httpmetrics import HTTP


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, in a way the client can read:
    the rest of the body is discarded first (web/bodies.py says why)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                if not expects_continue(scope["headers"]):
                    await discard(receive)
                await self._refuse(send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a chunked body that never said its length
                if message.get("more_body", False):
                    await discard(receive)
                raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        message = f"request body over {self.max_bytes} bytes"
        detail = [{"field": "body", "msg": message, "loc": ["body"]}]
        body = json.dumps({"detail": detail}, separators=(",", ":")).encode()  # as JSONResponse
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    # An HTTPException, because FastAPI turns any other exception raised while it reads the
    # body into a 400; this one reaches web.errors and becomes the same 413 as above.
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes")


class Metrics:
    """Count requests and time them, by area of the service (feeds, api, pages...).

    Feed cache hits never get here: web/front.py counts them in the same series.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        area = _area(scope["path"])
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            HTTP.observe(area, scope["method"], status, time.perf_counter() - started)


def _area(path: str) -> str:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in {"feeds", "api", "articles", "websub", "metrics"} else "other"
