"""The outermost ASGI app: feed cache hits are answered here, everything else by FastAPI.

Feed readers poll the same few documents over and over, and a cache hit needs no I/O.
Through FastAPI a hit still paid for routing past every API route, the middleware stack,
Request and Response objects and headers encoded anew; here it is a dict lookup and two
``send`` calls with header lists encoded when the document was loaded (bench/RESULTS.md,
"Feed serving", one worker: full GET 0.39 -> 0.86-1.01 x nginx, 304 0.08 -> 0.41-0.49).

The answers are those of ``web.feeds.serve_feed`` for the same cache entry, byte for byte
(tests/test_front.py sends both the same requests): the same cache object, which the
Redis ChangeListener empties, and the same two decisions, ``variant_for`` and
``not_modified``. Whatever this layer is not sure about goes to FastAPI untouched: a
miss, another method, a request with a body, a Range or a precondition serve_feed does
not evaluate, an app mounted below a root path.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from web.feedcache import FeedCache
from web.feeds import not_modified, variant_for
from web.httpmetrics import HTTP

PREFIX = "/feeds/"

# Header fields whose presence sends the request to FastAPI. serve_feed ignores Range and
# the If-Match/If-Unmodified-Since preconditions, and BodyLimit judges request bodies:
# rare in feed polling, so not worth a second implementation here.
_FALL_THROUGH = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"range",
        b"if-range",
        b"if-match",
        b"if-unmodified-since",
    }
)


class Front:
    """ASGI app for uvicorn; ``app`` is the FastAPI app behind it (OpenAPI, routes...)."""

    def __init__(self, app: FastAPI, cache: FeedCache) -> None:
        self.app = app
        self.cache = cache
        HTTP.declare("feeds", ("GET", "HEAD"), (200, 304))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(PREFIX)
            or scope["method"] not in ("GET", "HEAD")
            or scope.get("root_path")
            or not await self._serve_hit(scope, send)
        ):
            await self.app(scope, receive, send)

    async def _serve_hit(self, scope: Scope, send: Send) -> bool:
        """Answer from the cache; False, having sent nothing, if FastAPI should answer."""
        started = time.perf_counter()
        feed = self.cache.cached(scope["path"][len(PREFIX) :])
        if feed is None:
            return False
        # Starlette's Headers.get returns the first of repeated fields; so does this.
        accept_encoding = if_none_match = if_modified_since = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                if accept_encoding is None:
                    accept_encoding = value.decode("latin-1")
            elif name == b"if-none-match":
                if if_none_match is None:
                    if_none_match = value.decode("latin-1")
            elif name == b"if-modified-since":
                if if_modified_since is None:
                    if_modified_since = value.decode("latin-1")
            elif name in _FALL_THROUGH:
                return False
        variant = variant_for(feed, accept_encoding or "")
        method = scope["method"]
        if not_modified(feed, if_none_match, if_modified_since):
            status, headers, body = 304, variant.raw_304, b""
        else:
            # uvicorn sends no body for HEAD, but Content-Length stays that of the GET.
            status, headers = 200, variant.raw_200
            body = b"" if method == "HEAD" else variant.body
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        # The same series as web.middleware.Metrics records.
        HTTP.observe("feeds", method, status, time.perf_counter() - started)
        return True
