"""Feed documents held in memory by each web process, ready to send.

The database holds the truth; this cache only saves a query per request. The worker
announces changed paths on a Redis channel after its commit and the listener drops them
at once; an entry also expires after ``ttl`` seconds, in case an announcement was lost.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime

import redis

from feeds.store import StoredFeed

log = logging.getLogger(__name__)

GZIP_MIN_BYTES = 512  # smaller bodies gain nothing from compression


# Fields about the body, which a 304 has none of: Content-Type, and nosniff (which says
# how to read a body). Leaving nosniff out of 304s keeps the most frequent answer, a
# reader's conditional poll, as short as it was.
BODY_FIELDS = frozenset({"content-type", "x-content-type-options"})


@dataclass(frozen=True)
class Variant:
    body: bytes
    headers: dict[str, str]
    # The same fields encoded once for web/front.py, in the order Starlette's Response
    # sends them: a 200 ends with Content-Length, a 304 has neither it nor BODY_FIELDS.
    raw_200: list[tuple[bytes, bytes]]
    raw_304: list[tuple[bytes, bytes]]


def _variant(body: bytes, headers: dict[str, str]) -> Variant:
    raw = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    raw_200 = [*raw, (b"content-length", str(len(body)).encode("latin-1"))]
    raw_304 = [field for field in raw if field[0].decode("latin-1") not in BODY_FIELDS]
    return Variant(body, headers, raw_200, raw_304)


@dataclass(frozen=True)
class CachedFeed:
    stored: StoredFeed
    identity: Variant
    gzipped: Variant | None
    loaded_at: float
    # If-None-Match values that are exactly one of our ETags, strong or weak: what a
    # reader sends back, found without parsing the field.
    echoes: frozenset[str]

    @property
    def base_etag(self) -> str:
        return self.stored.etag.strip('"')


def prepare(stored: StoredFeed, extra_headers: dict[str, str], loaded_at: float) -> CachedFeed:
    """Build both encodings and their headers once, not per request."""
    common = {
        "content-type": stored.content_type,
        "last-modified": format_datetime(stored.last_modified, usegmt=True),
        "vary": "Accept-Encoding",
        **extra_headers,
    }
    identity = _variant(stored.body, {**common, "etag": stored.etag})
    gzipped = None
    if len(stored.body) >= GZIP_MIN_BYTES:
        # mtime=0: the same bytes compress to the same bytes, so the ETag may name them.
        body = gzip.compress(stored.body, compresslevel=6, mtime=0)
        etag = stored.etag[:-1] + '-gzip"'
        gzipped = _variant(body, {**common, "etag": etag, "content-encoding": "gzip"})
    etags = [variant.headers["etag"] for variant in (identity, gzipped) if variant is not None]
    echoes = frozenset([*etags, *(f"W/{etag}" for etag in etags)])
    return CachedFeed(stored, identity, gzipped, loaded_at, echoes)


class FeedCache:
    def __init__(self, load: Callable[[str], CachedFeed | None], ttl: float = 5.0) -> None:
        self._load = load
        self._ttl = ttl
        self._entries: dict[str, CachedFeed] = {}
        # Bumped by every drop: a load that began before a drop must not be cached, or
        # the bytes it read just before the worker's commit would live on for ``ttl``.
        self._generation = 0

    def cached(self, path: str) -> CachedFeed | None:
        entry = self._entries.get(path)
        if entry is not None and time.monotonic() - entry.loaded_at < self._ttl:
            return entry
        return None

    def load(self, path: str) -> CachedFeed | None:
        """Read through to the database (blocking: call it from a thread)."""
        generation = self._generation
        entry = self._load(path)
        if entry is not None and generation == self._generation:
            self._entries[path] = entry
        return entry

    def drop(self, paths: list[str]) -> None:
        self._generation += 1
        for path in paths:
            self._entries.pop(path, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()


POLL_SECONDS = 0.2


class ChangeListener:
    """Follows the Redis channel of changed feeds and drops those paths from the cache."""

    def __init__(
        self, cache: FeedCache, redis_url: str, channel: str, timeout: float = 1.0
    ) -> None:
        self._cache = cache
        self._redis_url = redis_url
        self._channel = channel
        # Bounded calls (a frozen Redis must not hold the thread, or stop() waits on it),
        # but longer than a poll: an idle channel is not an error.
        self._timeouts = {
            "socket_connect_timeout": timeout,
            "socket_timeout": max(timeout, 5 * POLL_SECONDS),
        }
        self._stop = threading.Event()
        self.following = threading.Event()  # set once subscribed, and the cache cleared
        self._thread = threading.Thread(target=self._run, name="feed-changes", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self._redis_url, **self._timeouts)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                with pubsub:
                    pubsub.subscribe(self._channel)
                    # Anything announced while we were not listening is unknown: start clean.
                    self._cache.clear()
                    self.following.set()
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=POLL_SECONDS)
                        if message and isinstance(message.get("data"), bytes):
                            self._cache.drop(message["data"].decode().split("\n"))
            except redis.RedisError as exc:
                log.warning("feed change listener: %s; retrying", exc)
                self._cache.clear()
                self._stop.wait(1.0)
