"""Serving feeds over HTTP: headers, conditional GETs and gzip (RFC 9110), WebSub links,
and the memory cache that a Redis announcement empties when the worker stores new bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial

import httpx
import pytest
from sqlalchemy import select, update

import web.feeds
from config import get_settings
from feeds import store
from feeds.refresh import all_keys, refresh
from newsroom.db import session_scope
from newsroom.models import OutboxEvent
from tests.support import ADMIN, Server, article, wait_for
from web.feedcache import FeedCache
from worker.events import handle

pytestmark = pytest.mark.usefixtures("celery_worker")

PUBLIC = "https://nyheter.example"
CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
FORMATS = list(CONTENT_TYPES)
IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}

SECOND = article(
    title="Översvämningar i Umeå: så förbereder sig kommunen",
    summary="Vårfloden kan bli den största på tjugo år, varnar SMHI.",
    body_markdown=(
        "Umeå kommun bygger tillfälliga vallar längs Umeälven.\n\n"
        "– Vi måste våga planera för det värsta, säger beredskapssamordnare Jonas Öberg.\n\n"
        "*Text: Sofia Åström / Budkavle*"
    ),
    tags=["Umeå", "Klimat"],
    authors=["Sofia Åström"],
    image={
        "url": "https://bilder.nyheter.example/2026/umealven-vallar.jpg",
        "alt": "Sandsäckar längs Umeälven vid Gamla bron",
        "caption": "Vallarna ska stå klara före vårfloden. Foto: Sofia Åström",
    },
)


@pytest.fixture
def server(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The real app, whose cached feeds never expire on their own.

    With the usual few seconds of lifetime a stale entry would heal by itself; an hour
    leaves the Redis announcement as the only way a new ETag can reach readers.
    """
    from web.app import create_app

    monkeypatch.setattr(web.feeds, "FeedCache", partial(FeedCache, ttl=3600))
    with Server.running(create_app()) as running:
        yield running


def publish(server: Server, body: dict[str, object]) -> None:
    response = server.client.post("/api/articles", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


def get(server: Server, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return server.client.get(path, headers={**IDENTITY, **(headers or {})})


def response_when(
    check: Callable[[], httpx.Response | None], what: str, timeout: float = 10
) -> httpx.Response:
    response = wait_for(check, timeout=timeout, what=what)
    assert response is not None  # wait_for returns only a truthy result
    return response


def served(server: Server, fmt: str, title: str) -> httpx.Response | None:
    response = get(server, f"/feeds/all.{fmt}")
    if response.status_code == 200 and title.encode() in response.content:
        return response
    return None


@pytest.fixture
def published(server: Server) -> dict[str, httpx.Response]:
    """One article, published over HTTP; the identity response of all.{fmt} once served."""
    publish(server, article())
    title = article()["title"]
    return {
        fmt: response_when(partial(served, server, fmt, title), f"all.{fmt}") for fmt in FORMATS
    }


def changed(server: Server, path: str, etag: str) -> httpx.Response | None:
    response = get(server, path, {"If-None-Match": etag})
    return response if response.status_code == 200 else None


def stored(path: str) -> store.StoredFeed:
    with session_scope() as session:
        feed = store.get(session, path)
    assert feed is not None, f"nothing stored at {path}"
    return feed


@pytest.mark.parametrize("fmt", FORMATS)
def test_headers(server: Server, published: dict[str, httpx.Response], fmt: str) -> None:
    response = published[fmt]
    assert response.headers["content-type"] == CONTENT_TYPES[fmt]
    assert "content-encoding" not in response.headers

    # The bytes served are the bytes stored, and the ETag is their hash: a strong
    # validator (RFC 9110 §8.8.3), since equal bytes are all it ever promises.
    feed = stored(f"all.{fmt}")
    assert response.content == feed.body
    etag = response.headers["etag"]
    assert etag == store.etag_of(response.content)
    assert not etag.startswith("W/")
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2

    # RFC 9110 §8.8.2: an HTTP-date, in GMT, of the data (the worker stored it, not now()).
    last_modified = response.headers["last-modified"]
    assert last_modified.endswith(" GMT")
    assert parsedate_to_datetime(last_modified) == feed.last_modified

    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "Accept-Encoding"

    # WebSub §4 discovery: the hub and the topic's self URL in Link (RFC 8288), rel quoted.
    link = response.headers["link"]
    assert f'<{PUBLIC}/websub>; rel="hub"' in link
    assert f'<{PUBLIC}/feeds/all.{fmt}>; rel="self"' in link
    assert response.links["hub"]["url"] == f"{PUBLIC}/websub"
    assert response.links["self"]["url"] == f"{PUBLIC}/feeds/all.{fmt}"


@dataclass(frozen=True)
class Validators:
    etag: str
    gzip_etag: str
    last_modified: str

    def shifted(self, delta: timedelta) -> str:
        return format_datetime(parsedate_to_datetime(self.last_modified) + delta, usegmt=True)


@dataclass(frozen=True)
class Conditional:
    name: str
    headers: Callable[[Validators], dict[str, str]]
    status: int
    encoding: str = "identity"  # the Accept-Encoding sent


CONDITIONAL_GETS = [
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison, accepts a list, and "*".
    Conditional("etag", lambda v: {"If-None-Match": v.etag}, 304),
    Conditional("weak form of the etag", lambda v: {"If-None-Match": "W/" + v.etag}, 304),
    Conditional(
        "list holding the etag",
        lambda v: {"If-None-Match": f'"0f1e2d", {v.etag} , W/"a1b2c3"'},
        304,
    ),
    Conditional("any", lambda v: {"If-None-Match": "*"}, 304),
    Conditional("wrong etag", lambda v: {"If-None-Match": '"umea-2026"'}, 200),
    Conditional("identity etag, gzip wanted", lambda v: {"If-None-Match": v.etag}, 304, "gzip"),
    Conditional("gzip variant's etag", lambda v: {"If-None-Match": v.gzip_etag}, 304, "gzip"),
    # RFC 9110 §13.1.3: If-Modified-Since compares with Last-Modified; a bad date is ignored.
    Conditional("since last-modified", lambda v: {"If-Modified-Since": v.last_modified}, 304),
    Conditional(
        "since a later date", lambda v: {"If-Modified-Since": v.shifted(timedelta(hours=1))}, 304
    ),
    Conditional(
        "since an older date",
        lambda v: {"If-Modified-Since": v.shifted(-timedelta(seconds=1))},
        200,
    ),
    Conditional("invalid date", lambda v: {"If-Modified-Since": "tisdag kl. 12"}, 200),
    Conditional("garbled date", lambda v: {"If-Modified-Since": "Mon, 32 Foo 2026"}, 200),
    Conditional(
        "date without GMT",
        lambda v: {"If-Modified-Since": v.last_modified.removesuffix(" GMT")},
        200,
    ),
    # RFC 9110 §13.2.2: If-None-Match is evaluated first; If-Modified-Since is then ignored.
    Conditional(
        "wrong etag, matching date",
        lambda v: {"If-None-Match": '"umea-2026"', "If-Modified-Since": v.last_modified},
        200,
    ),
    Conditional(
        "matching etag, older date",
        lambda v: {
            "If-None-Match": v.etag,
            "If-Modified-Since": v.shifted(-timedelta(days=1)),
        },
        304,
    ),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_conditional_get(
    server: Server,
    published: dict[str, httpx.Response],
    fmt: str,
    subtests: pytest.Subtests,
) -> None:
    path = f"/feeds/all.{fmt}"
    full = {"identity": published[fmt], "gzip": get(server, path, GZIP)}
    assert full["gzip"].headers["content-encoding"] == "gzip"
    validators = Validators(
        etag=full["identity"].headers["etag"],
        gzip_etag=full["gzip"].headers["etag"],
        last_modified=full["identity"].headers["last-modified"],
    )
    for case in CONDITIONAL_GETS:
        with subtests.test(case.name):
            headers = {"Accept-Encoding": case.encoding, **case.headers(validators)}
            response = get(server, path, headers)
            assert response.status_code == case.status
            expected = full[case.encoding]
            # A 304 sends the validators and caching headers a 200 would have sent
            # (RFC 9110 §15.4.5), and no content.
            assert response.headers["etag"] == expected.headers["etag"]
            for name in ("last-modified", "cache-control", "vary", "link"):
                assert response.headers[name] == expected.headers[name], name
            if case.status == 304:
                assert response.content == b""
            else:
                assert response.content == full["identity"].content


@dataclass(frozen=True)
class Negotiation:
    name: str
    accept_encoding: str
    gzipped: bool


# RFC 9110 §12.5.3: a coding with q=0 is "not acceptable"; "*" stands for any coding not
# named in the field.
NEGOTIATIONS = [
    Negotiation("gzip", "gzip", True),
    Negotiation("a browser's list", "gzip, deflate, br, zstd", True),
    Negotiation("upper case", "GZIP", True),
    Negotiation("gzip preferred less", "br;q=1.0, gzip;q=0.5", True),
    Negotiation("any", "*", True),
    Negotiation("gzip refused", "gzip;q=0", False),
    Negotiation("gzip refused, spaced", "gzip ; q=0.000", False),
    Negotiation("gzip refused, any other allowed", "gzip;q=0, *", False),
    Negotiation("only gzip allowed", "*;q=0, gzip", True),
    Negotiation("identity", "identity", False),
    Negotiation("deflate only", "deflate", False),
    Negotiation("empty", "", False),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_gzip(
    server: Server,
    published: dict[str, httpx.Response],
    fmt: str,
    subtests: pytest.Subtests,
) -> None:
    identity = published[fmt]
    for case in NEGOTIATIONS:
        with subtests.test(case.name):
            # httpx would decompress on its own; read the bytes as they came over the wire.
            headers = {"Accept-Encoding": case.accept_encoding}
            with server.client.stream("GET", f"/feeds/all.{fmt}", headers=headers) as response:
                raw = b"".join(response.iter_raw())
            assert response.status_code == 200
            assert response.headers["vary"] == "Accept-Encoding"
            assert response.headers["content-type"] == CONTENT_TYPES[fmt]
            if not case.gzipped:
                assert "content-encoding" not in response.headers
                assert response.headers["etag"] == identity.headers["etag"]
                assert raw == identity.content
                continue
            assert response.headers["content-encoding"] == "gzip"
            assert gzip.decompress(raw) == identity.content
            assert len(raw) < len(identity.content)
            # Other bytes, so another strong ETag (RFC 9110 §8.8.3.3).
            etag = response.headers["etag"]
            assert not etag.startswith("W/")
            assert etag != identity.headers["etag"]
            assert response.headers["last-modified"] == identity.headers["last-modified"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_head(
    server: Server, published: dict[str, httpx.Response], fmt: str, encoding: str
) -> None:
    headers = {"Accept-Encoding": encoding}
    whole = server.client.get(f"/feeds/all.{fmt}", headers=headers)
    head = server.client.head(f"/feeds/all.{fmt}", headers=headers)
    assert head.status_code == 200
    assert head.content == b""
    # RFC 9110 §9.3.2: the same header fields as GET, Date aside.
    del whole.headers["date"], head.headers["date"]
    assert head.headers == whole.headers


def test_new_bytes_reach_readers_through_the_announcement(
    server: Server, published: dict[str, httpx.Response]
) -> None:
    before = {fmt: published[fmt].headers for fmt in FORMATS}
    for fmt in FORMATS:  # held in the web process's memory from here on
        unchanged = get(server, f"/feeds/all.{fmt}", {"If-None-Match": before[fmt]["etag"]})
        assert unchanged.status_code == 304

    publish(server, SECOND)
    wait_for(
        lambda: all(stored(f"all.{fmt}").etag != before[fmt]["etag"] for fmt in FORMATS),
        what="the worker to store the new feeds",
    )
    for fmt in FORMATS:
        path = f"/feeds/all.{fmt}"
        # The cache keeps entries for an hour here: only the Redis message can drop them.
        fresh = response_when(
            partial(changed, server, path, before[fmt]["etag"]),
            f"{path} to leave the memory cache",
            timeout=2,
        )
        assert fresh.headers["etag"] == stored(f"all.{fmt}").etag
        assert fresh.headers["etag"] != before[fmt]["etag"]
        old_date = parsedate_to_datetime(before[fmt]["last-modified"])
        assert parsedate_to_datetime(fresh.headers["last-modified"]) > old_date
        assert SECOND["title"] in fresh.text
        # The reader that fetched the old document is now told it changed.
        since = {"If-Modified-Since": before[fmt]["last-modified"]}
        assert get(server, path, since).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/nope.atom",
        "/feeds/tags/unknown.atom",
        "/feeds/lang/fi.atom",
        "/feeds/all.xml",
        "/feeds/all",
        "/feeds/all.atom/",
        "/feeds/ALL.atom",
        "/feeds/tags/ÅÄÖ.atom",
        "/feeds/tags/borlänge.rss",
        "/feeds/../etc/passwd",  # httpx removes the dot segments: /etc/passwd
        "/feeds/%2e%2e/etc/passwd",
        "/feeds/..%2Fetc%2Fpasswd",
        "/feeds/all/archive/0.atom",
        "/feeds/all/archive/1.atom",
    ],
)
def test_unknown_feed(server: Server, published: dict[str, httpx.Response], path: str) -> None:
    response = server.client.get(path)
    assert response.status_code == 404
    assert "etag" not in response.headers
    assert b"root:" not in response.content


def test_handling_an_event_twice_changes_nothing(
    server: Server, published: dict[str, httpx.Response]
) -> None:
    settings = get_settings()
    with session_scope() as session:
        event_id = session.scalars(select(OutboxEvent.id)).one()
    # all.* is served first; the tag and language feeds follow in the same event.
    wait_for(lambda: handled(event_id), what="the worker to mark the event handled")
    with session_scope() as session:
        keys = all_keys(session)
        paths = store.paths(session)
    assert {"all.atom", "tags/borlange.rss", "lang/sv.json"} <= set(paths)
    before = {path: stored(path) for path in paths}

    # As if the worker died after the feeds committed but before the event was marked:
    # the outbox rings again and another worker handles the same event from the start.
    with session_scope() as session:
        session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id).values(handled_at=None)
        )
    announced: list[str] = []
    handle(event_id, settings, announced.extend)
    assert handled(event_id)
    assert announced == [], "same data, same bytes: nothing to announce"
    with session_scope() as session:
        assert store.paths(session) == paths
    assert {path: stored(path) for path in paths} == before

    for key in keys:  # converge, don't replay: a refresh finds nothing to do
        with session_scope() as session:
            assert refresh(session, key, settings) == {}, str(key)
    assert {path: stored(path) for path in paths} == before
    assert get(server, "/feeds/all.atom").headers["etag"] == before["all.atom"].etag


def handled(event_id: int) -> bool:
    with session_scope() as session:
        event = session.get(OutboxEvent, event_id)
        return event is not None and event.handled_at is not None
