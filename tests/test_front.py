"""web/front.py answers feed cache hits ahead of FastAPI: the same answers, byte for byte.

Each request goes to two servers of one app: ``create_app()`` (the front, as uvicorn runs
it) and its ``.app`` (FastAPI alone, where web.feeds.serve_feed answers). They share the
feed cache, so both answer from the same entry; a recorder inside FastAPI tells which
requests the front kept for itself and which it passed on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial
from urllib.parse import unquote

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

import web.app
import web.feeds
from config import get_settings
from feeds import store
from feeds.refresh import all_keys, refresh
from newsroom import articles
from newsroom.db import session_scope
from newsroom.models import utcnow
from newsroom.schemas import ArticleIn
from tests.support import ADMIN, Server, article, wait_for
from web.feedcache import FeedCache
from web.front import Front

FEED_SIZE = 2  # five stories: two archive pages (RFC 5005) and a current document
STORIES = [
    ("Isläggningen på Umeälven försenad", ["Umeå"]),
    ("Borlänge kommun öppnar ny simhall i Kvarnsveden", ["Borlänge"]),
    ("– Vi måste våga satsa på landsbygden", ["Landsbygd"]),
    ("Snöovädret stänger E4 norr om Skellefteå", ["Trafik"]),
    ("Nordiska ministerrådet samlas i Helsingfors", ["Nordiskt samarbete", "Borlänge"]),
]
FIRST_PUBLISHED = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
NOT_COMPARED = {"date", "server"}  # uvicorn's own, and the clock moves between requests


class Recorder:
    """Pure ASGI middleware inside FastAPI: notes each HTTP request that reaches it."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@dataclass
class Servers:
    front: Server  # create_app(): web.front.Front, then FastAPI
    plain: Server  # the same FastAPI app, and so the same feed cache, alone
    reached_fastapi: list[str]


def front_app(seen: list[str]) -> Front:
    app = web.app.create_app()
    app.app.add_middleware(Recorder, seen=seen)
    return app


@pytest.fixture
def long_lived_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached feeds that never expire on their own: only a Redis announcement drops them."""
    monkeypatch.setattr(web.feeds, "FeedCache", partial(FeedCache, ttl=3600))


@pytest.fixture
def servers(db: str, long_lived_cache: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    # Other Budkavles on this Redis server (other test runs) announce on the same channel,
    # and each announcement would empty the cache between the two requests of a case.
    monkeypatch.setattr(web.app, "CHANGES_CHANNEL", f"test-front:{uuid.uuid4()}")
    monkeypatch.setenv("BUDKAVLE_FEED_SIZE", str(FEED_SIZE))
    get_settings.cache_clear()
    try:
        publish_stories()
        seen: list[str] = []
        front = front_app(seen)
        with Server.running(front) as fronted, Server.running(front.app) as plain:
            yield Servers(fronted, plain, seen)
    finally:
        get_settings.cache_clear()


def publish_stories() -> None:
    """Publish STORIES an hour apart, oldest first, and refresh every feed."""
    settings = get_settings()
    grace = timedelta(seconds=settings.outbox_grace_seconds)
    with session_scope() as session:
        for n, (title, tags) in enumerate(STORIES):
            published_at = (FIRST_PUBLISHED + timedelta(hours=n)).isoformat()
            data = ArticleIn(**article(title=title, tags=tags, published_at=published_at))
            articles.create(session, data, utcnow(), grace)
    with session_scope() as session:
        keys = all_keys(session)
    for key in keys:
        with session_scope() as session:
            refresh(session, key, settings)


@dataclass(frozen=True)
class Validators:
    etag: str
    gzip_etag: str
    last_modified: str

    def shifted(self, delta: timedelta) -> str:
        return format_datetime(parsedate_to_datetime(self.last_modified) + delta, usegmt=True)


Fields = list[tuple[str, str]]


def no_fields(_: Validators) -> Fields:
    return []


@dataclass(frozen=True)
class Case:
    name: str
    headers: Callable[[Validators], Fields] = no_fields
    path: str = "/feeds/all.atom"
    method: str = "GET"
    fast: bool = True  # the front answers it itself, the document being in the cache
    content: bytes | None = None

    @property
    def validated_path(self) -> str:
        """The feed whose validators the headers use: the path without its query."""
        return self.path.partition("?")[0]

    @property
    def asgi_path(self) -> str:
        """``scope["path"]`` as uvicorn gives it: no query, percent-decoded."""
        return unquote(self.validated_path)


def none_match(value: Callable[[Validators], str]) -> Callable[[Validators], Fields]:
    return lambda v: [("If-None-Match", value(v))]


def modified_since(value: Callable[[Validators], str]) -> Callable[[Validators], Fields]:
    return lambda v: [("If-Modified-Since", value(v))]


CONDITIONS = [
    Case("unconditional"),
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison, accepts a list, and "*".
    Case("etag", none_match(lambda v: v.etag)),
    Case("gzip variant's etag", none_match(lambda v: v.gzip_etag)),
    Case("weak form of the etag", none_match(lambda v: "W/" + v.etag)),
    Case("list holding the etag", none_match(lambda v: f'"0f1e2d", {v.etag} , W/"a1b2c3"')),
    Case("any", none_match(lambda v: "*")),
    Case("wrong etag", none_match(lambda v: '"umea-2026"')),
    Case("empty If-None-Match", none_match(lambda v: "")),
    # Starlette reads the first of repeated fields; the front must do the same.
    Case(
        "repeated If-None-Match, wrong one first",
        lambda v: [("If-None-Match", '"umea-2026"'), ("If-None-Match", v.etag)],
    ),
    # RFC 9110 §13.1.3: If-Modified-Since compares with Last-Modified; a bad date is ignored.
    Case("since last-modified", modified_since(lambda v: v.last_modified)),
    Case("since a later date", modified_since(lambda v: v.shifted(timedelta(hours=1)))),
    Case("since an older date", modified_since(lambda v: v.shifted(-timedelta(seconds=1)))),
    Case("invalid date", modified_since(lambda v: "tisdag kl. 12")),
    Case("garbled date", modified_since(lambda v: "Mon, 32 Foo 2026")),
    Case("date without GMT", modified_since(lambda v: v.last_modified.removesuffix(" GMT"))),
    Case("empty If-Modified-Since", modified_since(lambda v: "")),
    # RFC 9110 §13.2.2: If-None-Match is evaluated first; If-Modified-Since is then ignored.
    Case(
        "wrong etag, matching date",
        lambda v: [("If-None-Match", '"umea-2026"'), ("If-Modified-Since", v.last_modified)],
    ),
    Case(
        "matching etag, older date",
        lambda v: [
            ("If-None-Match", v.etag),
            ("If-Modified-Since", v.shifted(-timedelta(days=1))),
        ],
    ),
]

ENCODINGS = [
    # RFC 9110 §12.5.3: q=0 is "not acceptable"; "*" stands for any coding not named.
    None,
    "identity",
    "gzip",
    "GZIP",
    "gzip, deflate, br, zstd",
    "br;q=1.0, gzip;q=0.5",
    "*",
    "gzip;q=0",
    "gzip ; q=0.000",
    "gzip;q=0, *",
    "*;q=0, gzip",
    "deflate",
    "",
]

OTHER_REQUESTS = [
    Case("rss", path="/feeds/all.rss"),
    Case("json", path="/feeds/all.json"),
    Case("tag feed", path="/feeds/tags/borlange.atom"),
    Case("tag feed, etag", none_match(lambda v: v.etag), path="/feeds/tags/borlange.rss"),
    Case("language feed", path="/feeds/lang/sv.json"),
    # Archive pages are built on request, then cached like any document: a hit is a hit.
    Case("archive page", path="/feeds/all/archive/1.atom"),
    Case("archive page, etag", none_match(lambda v: v.etag), path="/feeds/all/archive/2.rss"),
    Case(
        "archive page, since",
        modified_since(lambda v: v.last_modified),
        path="/feeds/all/archive/1.json",
    ),
    # serve_feed reads the path only; a reader's tracking query changes nothing.
    Case("query string", path="/feeds/all.atom?utm_source=newsboat&utm_medium=rss"),
    Case("query string, etag", none_match(lambda v: v.etag), path="/feeds/all.rss?x=1"),
    Case("percent-encoded dot", path="/feeds/all%2Eatom"),
    # Misses, and what the front leaves to FastAPI even on a hit.
    Case("unknown feed", path="/feeds/nope.atom", fast=False),
    Case("unknown tag", path="/feeds/tags/finnmark.atom", fast=False),
    Case("no such archive page", path="/feeds/all/archive/9.atom", fast=False),
    Case("archive page zero", path="/feeds/all/archive/0.atom", fast=False),
    Case("trailing slash", path="/feeds/all.atom/", fast=False),
    Case("bare prefix", path="/feeds/", fast=False),
    Case("upper case", path="/feeds/ALL.atom", fast=False),
    Case("dot segments", path="/feeds/%2e%2e/etc/passwd", fast=False),
    Case("POST", method="POST", fast=False),
    Case("OPTIONS", method="OPTIONS", fast=False),
    Case("range", lambda v: [("Range", "bytes=0-99")], fast=False),
    Case("if-match", lambda v: [("If-Match", v.etag)], fast=False),
    Case("if-unmodified-since", lambda v: [("If-Unmodified-Since", v.last_modified)], fast=False),
    Case("GET with a body", content="hej då".encode(), fast=False),
    Case("not a feed", path="/openapi.json", fast=False),
]


def with_encoding(
    headers: Callable[[Validators], Fields], encoding: str
) -> Callable[[Validators], Fields]:
    return lambda v: [*headers(v), ("Accept-Encoding", encoding)]


def all_cases() -> Iterator[Case]:
    """Every condition with every Accept-Encoding, then the other requests; GET and HEAD."""
    for method in ("GET", "HEAD"):
        for case in CONDITIONS:
            for encoding in ENCODINGS:
                headers = (
                    case.headers if encoding is None else with_encoding(case.headers, encoding)
                )
                name = f"{method} {case.name}, Accept-Encoding: {encoding}"
                yield replace(case, name=name, headers=headers, method=method)
        for case in OTHER_REQUESTS:
            if case.method == "GET":
                yield replace(case, name=f"{method} {case.name}", method=method)
            elif method == "GET":
                yield case


def send(server: Server, case: Case, fields: Fields) -> tuple[int, Fields, bytes]:
    request = server.client.build_request(
        case.method, case.path, headers=fields, content=case.content
    )
    if not any(name.lower() == "accept-encoding" for name, _ in fields):
        del request.headers["accept-encoding"]  # httpx's own; a case without one sends none
    response = server.client.send(request, stream=True)
    try:
        body = b"".join(response.iter_raw())  # as it came over the wire: no gunzipping
    finally:
        response.close()
    kept = [(k, v) for k, v in response.headers.multi_items() if k not in NOT_COMPARED]
    return response.status_code, kept, body


def validators(server: Server, path: str) -> Validators:
    identity = server.client.get(path, headers={"Accept-Encoding": "identity"})
    gzipped = server.client.get(path, headers={"Accept-Encoding": "gzip"})
    if "etag" not in identity.headers:  # misses and other pages: validators matching nothing
        return Validators('"none"', '"none-gzip"', format_datetime(FIRST_PUBLISHED, usegmt=True))
    return Validators(
        identity.headers["etag"], gzipped.headers["etag"], identity.headers["last-modified"]
    )


def test_front_answers_as_fastapi_does(servers: Servers, subtests: pytest.Subtests) -> None:
    known: dict[str, Validators] = {}
    statuses: set[int] = set()
    for case in all_cases():
        with subtests.test(case.name):
            if case.validated_path not in known:
                known[case.validated_path] = validators(servers.plain, case.validated_path)
            fields = case.headers(known[case.validated_path])
            # FastAPI first: on a miss its serve_feed loads the document into the cache
            # that both servers share, so the front's request after it can be a hit.
            expected = send(servers.plain, case, fields)
            before = len(servers.reached_fastapi)
            answered = send(servers.front, case, fields)
            assert answered == expected
            passed_on = servers.reached_fastapi[before:]
            assert passed_on == ([] if case.fast else [f"{case.method} {case.asgi_path}"])
            statuses.add(expected[0])
    # The table covers every kind of answer, or it would prove less than it seems to.
    assert statuses == {200, 304, 404, 405}


def test_hits_are_counted_as_fastapi_counts_them(servers: Servers) -> None:
    def count(method: str, status: int) -> float:
        labels = {"area": "feeds", "method": method, "status": str(status)}
        return REGISTRY.get_sample_value("budkavle_http_requests_total", labels) or 0.0

    def timed() -> float:
        labels = {"area": "feeds"}
        return REGISTRY.get_sample_value("budkavle_http_request_seconds_count", labels) or 0.0

    # The plain server's request puts all.atom in the cache: the front's are all hits.
    etag = servers.plain.client.get("/feeds/all.atom").headers["etag"]
    before = {(m, s): count(m, s) for m in ("GET", "HEAD") for s in (200, 304)}
    timed_before = timed()
    reached = len(servers.reached_fastapi)
    servers.front.client.get("/feeds/all.atom")
    servers.front.client.get("/feeds/all.atom", headers={"If-None-Match": etag})
    servers.front.client.get("/feeds/all.atom", headers={"If-None-Match": etag})
    servers.front.client.head("/feeds/all.atom")
    assert servers.reached_fastapi[reached:] == []
    # The front counts a request once it has sent it: the client may read it first.
    wait_for(lambda: timed() - timed_before == 4, timeout=2, what="four timed requests")
    after = {key: count(*key) - value for key, value in before.items()}
    assert after == {("GET", 200): 1, ("GET", 304): 2, ("HEAD", 200): 1, ("HEAD", 304): 0}
    # And /metrics, answered by FastAPI behind the front, shows them.
    metrics = servers.front.client.get("/metrics").text
    assert 'budkavle_http_requests_total{area="feeds",method="GET",status="304"}' in metrics


def test_fastapi_is_behind_the_front(servers: Servers) -> None:
    front = servers.front.client.get("/openapi.json")
    assert front.status_code == 200
    assert "/api/articles" in front.json()["paths"]
    assert servers.front.client.get("/healthz").json() == {"status": "ok"}


@pytest.fixture
def announcing(db: str, long_lived_cache: None, celery_worker: None) -> Iterator[Servers]:
    """The app with the worker announcing changes on the real channel, as in production."""
    seen: list[str] = []
    front = front_app(seen)
    with Server.running(front) as fronted, Server.running(front.app) as plain:
        yield Servers(fronted, plain, seen)


def answered_by_front(
    servers: Servers, headers: dict[str, str], ok: Callable[[httpx.Response], bool]
) -> httpx.Response | None:
    """The response, if the front answered it itself and it is the one wanted."""
    reached = len(servers.reached_fastapi)
    response = servers.front.client.get("/feeds/all.atom", headers=headers)
    return response if len(servers.reached_fastapi) == reached and ok(response) else None


def test_an_announced_change_is_served_fresh_by_the_front(announcing: Servers) -> None:
    identity = {"Accept-Encoding": "identity"}
    first, second = article(), article(title="Översvämningar i Umeå: så förbereder sig kommunen")
    posted = announcing.front.client.post("/api/articles", json=first, headers=ADMIN)
    assert posted.status_code == 201, posted.text
    old = wait_for(
        partial(answered_by_front, announcing, identity, lambda r: first["title"] in r.text),
        what="the front to serve the first article from the cache",
    )
    old_etag = old.headers["etag"]
    # The cache keeps entries for an hour here: from now on only the worker's Redis
    # announcement can make the front stop answering 304 to this ETag.
    conditional = {**identity, "If-None-Match": old_etag}
    wait_for(
        partial(answered_by_front, announcing, conditional, lambda r: r.status_code == 304),
        what="the front to answer 304 from the cache",
    )

    posted = announcing.front.client.post("/api/articles", json=second, headers=ADMIN)
    assert posted.status_code == 201, posted.text
    wait_for(lambda: stored_etag() != old_etag, what="the worker to store the new all.atom")
    fresh = wait_for(
        partial(answered_by_front, announcing, conditional, lambda r: r.status_code == 200),
        timeout=3,
        what="the front to serve the new all.atom",
    )
    assert fresh.headers["etag"] == stored_etag()
    assert second["title"] in fresh.text


def stored_etag() -> str:
    with session_scope() as session:
        feed = store.get(session, "all.atom")
    assert feed is not None
    return feed.etag
