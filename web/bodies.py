"""Request bodies read within a bound, and refused so that the client hears the refusal.

A server that answers 413 and closes while the client is still sending leaves unread bytes
behind; the kernel then resets the connection, and "the reset packet might erase the
client's unacknowledged input buffers before they can be read" (RFC 9112 §9.6). A client
busy writing its body (Python's urllib, most libraries) sees that reset and never the 413.
So before refusing, the rest of the body is read and thrown away, up to a bound in bytes
and in time. A client that sent ``Expect: 100-continue`` (curl, for a large body) is
waiting for leave to send: it is refused at once, before anything is read (RFC 9110
§10.1.1), since reading would be what tells the server to send it "100 Continue".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import Receive

# Beyond these, answering (and closing) is worth more than a client that hears the answer.
DISCARD_BYTES = 64 * 1024 * 1024
DISCARD_SECONDS = 10.0


def expects_continue(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"expect" and value.strip().lower() == b"100-continue" for name, value in headers
    )


async def discard(receive: Receive) -> None:
    """Read the rest of the request body and drop it, within DISCARD_BYTES/_SECONDS."""
    dropped = 0
    try:
        async with asyncio.timeout(DISCARD_SECONDS):
            while dropped <= DISCARD_BYTES:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


async def read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be longer than ``limit`` (the rest is
    then discarded, unless the client is still waiting for leave to send it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        if not expects_continue(request.scope["headers"]):
            await discard(request.receive)
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            await discard(request.receive)
            return None
    return bytes(body)
