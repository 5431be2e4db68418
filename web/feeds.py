"""Serving feeds: cheap conditional GETs, gzip, and the hub and self links (RFC 9110, WebSub).

Most requests never reach ``serve_feed``: web/front.py answers cache hits before FastAPI
with the same two decisions below. ``serve_feed`` loads what is not cached yet and answers
whatever the front passes on; a plain Starlette endpoint, not a FastAPI route, for speed.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from config import Settings
from feeds import query, store
from feeds.keys import parse_path
from feeds.model import CONTENT_TYPES
from feeds.render import render
from newsroom.db import read_scope
from web.feedcache import BODY_FIELDS, CachedFeed, FeedCache, Variant, prepare

NOSNIFF = {"x-content-type-options": "nosniff"}
CURRENT_MAX_AGE = 60
ARCHIVE_MAX_AGE = 3600


def make_loader(settings: Settings) -> FeedCache:
    def load(path: str) -> CachedFeed | None:
        request = parse_path(path)
        if request is None:
            return None
        with read_scope() as session:
            if request.page is None:
                stored = store.get(session, path)
                max_age = CURRENT_MAX_AGE
            else:  # archive pages are rare: built on request, from the same data
                document = query.archive_page(session, request.key, request.page, settings)
                if document is None:
                    return None
                body = render(document, request.fmt)
                # HTTP dates count whole seconds: with the fraction kept, If-Modified-Since
                # set to the very Last-Modified we sent would compare older (200, not 304).
                modified = document.updated.replace(microsecond=0)
                stored = store.StoredFeed(
                    path, CONTENT_TYPES[request.fmt], body, store.etag_of(body), modified
                )
                max_age = ARCHIVE_MAX_AGE
        if stored is None:
            return None
        self_url = f"{settings.public_url}/feeds/{path}"
        headers = {
            "cache-control": f"public, max-age={max_age}",
            # WebSub §4: the hub and the topic's self URL, with quoted rel values.
            "link": f'<{settings.public_url}/websub>; rel="hub", <{self_url}>; rel="self"',
            # Encoded once per document, so a cache hit (web/front.py) pays only for sending
            # it, on a 200 alone (BODY_FIELDS). web/security.py leaves feeds to this module,
            # and sends no HSTS with them: feed readers are not browsers, and browsers
            # learn it from any page.
            **NOSNIFF,
        }
        return prepare(stored, headers, time.monotonic())

    return FeedCache(load)


async def serve_feed(request: Request) -> Response:
    cache: FeedCache = request.app.state.feed_cache
    path = request.path_params["path"]
    feed = cache.cached(path)
    if feed is None:
        feed = await run_in_threadpool(cache.load, path)
        if feed is None:
            return PlainTextResponse(
                f"no feed at /feeds/{path}\n", status_code=404, headers=NOSNIFF
            )
    headers = request.headers
    variant = variant_for(feed, headers.get("accept-encoding", ""))
    if not_modified(feed, headers.get("if-none-match"), headers.get("if-modified-since")):
        headers_304 = {k: v for k, v in variant.headers.items() if k not in BODY_FIELDS}
        return Response(status_code=304, headers=headers_304)
    return Response(variant.body, headers=variant.headers)


# The two decisions below are shared with web/front.py, which answers cache hits before
# FastAPI sees them: one rule for both paths, so they cannot drift apart.


def variant_for(feed: CachedFeed, accept_encoding: str) -> Variant:
    if accept_encoding and feed.gzipped is not None and _accepts_gzip(accept_encoding):
        return feed.gzipped
    return feed.identity


def not_modified(
    feed: CachedFeed, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    if if_none_match is not None:
        # RFC 9110 §13.1.2: weak comparison; when present, If-Modified-Since is ignored.
        if if_none_match in feed.echoes:
            return True
        tags = {tag.strip().removeprefix("W/").strip('"') for tag in if_none_match.split(",")}
        return "*" in tags or bool(tags & {feed.base_etag, feed.base_etag + "-gzip"})
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False  # §13.1.3: an invalid date is ignored
        if since.tzinfo is None:
            return False
        return feed.stored.last_modified <= since
    return False


def _accepts_gzip(accept_encoding: str) -> bool:
    # RFC 9110 §12.5.3: "*" stands for the codings the field does not name, so a gzip
    # entry decides wherever it stands ("*;q=0, gzip" accepts gzip); q=0 refuses.
    qualities: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        q = params.strip().removeprefix("q=")
        qualities.setdefault(coding.strip(), _quality(q) if params else 1.0)
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 1.0
