"""The ceiling for any Python code under uvicorn: the feed's bytes and headers, no framework.

feed_serving.py runs it beside nginx and Budkavle, on the same bytes and headers that
Budkavle sent, so the table shows how much of the gap to nginx is uvicorn's own and how
much is Budkavle's. It answers 304 to any If-None-Match and gzip to any Accept-Encoding
that names it: the least work an answer can be.

    BENCH_BARE_DIR=folder python -m uvicorn bare_asgi:app --app-dir bench
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_DIR = Path(os.environ.get("BENCH_BARE_DIR", "."))
_HEADERS: dict[str, dict[str, str]] = json.loads((_DIR / "headers.json").read_text())


def _answer(variant: str, body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    headers = [(k.encode(), v.encode()) for k, v in _HEADERS[variant].items()]
    return [*headers, (b"content-length", str(len(body)).encode())], body


IDENTITY = _answer("identity", (_DIR / "all.atom").read_bytes())
GZIPPED = _answer("gzip", (_DIR / "all.atom.gz").read_bytes())
NOT_MODIFIED = [(k, v) for k, v in IDENTITY[0] if k not in (b"content-type", b"content-length")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    names = {name: value for name, value in scope["headers"]}
    if b"if-none-match" in names:
        await send({"type": "http.response.start", "status": 304, "headers": NOT_MODIFIED})
        await send({"type": "http.response.body", "body": b""})
        return
    headers, body = GZIPPED if b"gzip" in names.get(b"accept-encoding", b"") else IDENTITY
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
