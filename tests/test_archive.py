"""RFC 5005 archived feeds: the subscription document points back through archive pages,
so a reader that missed entries pages back with prev-archive until it has them all.

With three entries a page and seven articles: page 1 holds the three oldest, page 2 the
next three, the current document the three newest, and the seventh-oldest (the newest)
is on no archive page yet: only full pages are archives (§4: an archive's entries do not
change).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import httpx
import pytest

from config import get_settings
from feeds import store
from feeds.refresh import all_keys, refresh
from newsroom import articles
from newsroom.db import session_scope
from newsroom.models import utcnow
from newsroom.schemas import ArticleIn
from tests.support import Server, article

PAGE_SIZE = 3
PUBLIC = "https://nyheter.example"
FH_ARCHIVE = "{http://purl.org/syndication/history/1.0}archive"
ATOM_LINK = "{http://www.w3.org/2005/Atom}link"
XML_FORMATS = ["atom", "rss"]
CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}

# Oldest first, a morning's worth of news from Västerbotten and Dalarna.
STORIES = [
    ("Isläggningen på Umeälven försenad", ["Umeå"]),
    ("Borlänge kommun öppnar ny simhall i Kvarnsveden", ["Borlänge"]),
    ("– Vi måste våga satsa på landsbygden", ["Landsbygd"]),
    ("Snöovädret stänger E4 norr om Skellefteå", ["Trafik"]),
    ("Nordiska ministerrådet samlas i Helsingfors", ["Nordiskt samarbete"]),
    ("Falu gruva lockar rekordmånga besökare", ["Falun"]),
    ("Översvämningar i Umeå: så förbereder sig kommunen", ["Umeå"]),
]
FIRST_PUBLISHED = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


@pytest.fixture
def page_size() -> Iterator[int]:
    """BUDKAVLE_FEED_SIZE for this test only; the settings are cached, so clear them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUDKAVLE_FEED_SIZE", str(PAGE_SIZE))
        get_settings.cache_clear()
        yield PAGE_SIZE
    get_settings.cache_clear()


@pytest.fixture
def server(page_size: int, db: str) -> Iterator[Server]:
    """The real web app, built with the small page size."""
    from web.app import create_app

    assert get_settings().feed_size == page_size
    with Server.running(create_app()) as running:
        yield running


def publish(stories: list[tuple[str, list[str]]], start: int = 0) -> list[str]:
    """Publish in the order given, an hour apart, and refresh every feed; the entry ids."""
    settings = get_settings()
    grace = timedelta(seconds=settings.outbox_grace_seconds)
    ids = []
    with session_scope() as session:
        for n, (title, tags) in enumerate(stories, start):
            data = ArticleIn(
                **article(
                    title=title,
                    tags=[*tags, "Inrikes"],
                    published_at=(FIRST_PUBLISHED + timedelta(hours=n)).isoformat(),
                )
            )
            created, _ = articles.create(session, data, utcnow(), grace)
            ids.append(f"urn:uuid:{created.uuid}")
    with session_scope() as session:
        keys = all_keys(session)
    for key in keys:
        with session_scope() as session:
            refresh(session, key, settings)
    return ids


@pytest.fixture
def seven(server: Server) -> list[str]:
    """Seven published articles; their entry ids, oldest first."""
    return publish(STORIES)


def fetch(server: Server, url_or_path: str) -> httpx.Response:
    path = url_or_path.removeprefix(PUBLIC)
    return server.client.get(path, headers={"Accept-Encoding": "identity"})


def parse(server: Server, url_or_path: str) -> feedparser.FeedParserDict:
    response = fetch(server, url_or_path)
    assert response.status_code == 200, f"{url_or_path}: {response.status_code}"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, f"{url_or_path}: {parsed.get('bozo_exception')}"
    return parsed


def links(parsed: feedparser.FeedParserDict) -> dict[str, str]:
    """rel -> href of the feed's links (atom:link in Atom and in RSS alike)."""
    return {link["rel"]: link["href"] for link in parsed.feed.get("links", [])}


def marked_archive(body: bytes, fmt: str) -> bool:
    root = ET.fromstring(body)
    feed = root if fmt == "atom" else root.find("channel")
    assert feed is not None
    return feed.find(FH_ARCHIVE) is not None


def archive_url(n: int, fmt: str, key: str = "all") -> str:
    return f"{PUBLIC}/feeds/{key}/archive/{n}.{fmt}"


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_current_document(server: Server, seven: list[str], fmt: str) -> None:
    current = parse(server, f"/feeds/all.{fmt}")
    assert [entry.id for entry in current.entries] == seven[:3:-1]
    rels = links(current)
    # §4: the subscription document links the newest archive with prev-archive, and is
    # no archive itself.
    assert rels["prev-archive"] == archive_url(2, fmt)
    assert rels["self"] == f"{PUBLIC}/feeds/all.{fmt}"
    assert rels["hub"] == f"{PUBLIC}/websub"
    assert "next-archive" not in rels
    assert "current" not in rels
    assert not marked_archive(fetch(server, f"/feeds/all.{fmt}").content, fmt)


# page -> (entries on it, oldest first by index into STORIES; its paging links)
PAGES = {
    1: (range(0, 3), {"prev-archive": None, "next-archive": 2}),
    2: (range(3, 6), {"prev-archive": 1, "next-archive": None}),
}


@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_archive_page(server: Server, seven: list[str], fmt: str, page: int) -> None:
    stories, neighbours = PAGES[page]
    response = fetch(server, archive_url(page, fmt))
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPES[fmt]
    parsed = parse(server, archive_url(page, fmt))
    assert [entry.id for entry in parsed.entries] == [seven[i] for i in reversed(stories)]
    assert [entry.title for entry in parsed.entries] == [STORIES[i][0] for i in reversed(stories)]

    # §4: an archive document carries fh:archive and SHOULD link the current document.
    assert marked_archive(response.content, fmt)
    rels = links(parsed)
    assert rels["current"] == f"{PUBLIC}/feeds/all.{fmt}"
    assert rels["self"] == archive_url(page, fmt)
    for rel, neighbour in neighbours.items():
        assert rels.get(rel) == (neighbour and archive_url(neighbour, fmt)), rel


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all/archive/3.atom",  # six of seven entries fill two pages; the rest is current
        "/feeds/all/archive/3.json",
        "/feeds/all/archive/4.rss",
        "/feeds/all/archive/0.atom",
        "/feeds/all/archive/01.atom",
        "/feeds/all/archive/-1.atom",
        "/feeds/all/archive/2.xml",
        "/feeds/all/archive/.atom",
        "/feeds/tags/umea/archive/1.atom",  # two articles: no full page
        "/feeds/tags/finnmark/archive/1.atom",
    ],
)
def test_no_such_page(server: Server, seven: list[str], path: str) -> None:
    assert fetch(server, path).status_code == 404


def follow_back(server: Server, fmt: str) -> tuple[list[str], list[str]]:
    """Page back from the subscription document; the ids seen and the URLs visited."""
    seen: list[str] = []
    visited: list[str] = []
    url: str | None = f"{PUBLIC}/feeds/all.{fmt}"
    while url is not None:
        assert url not in visited, f"paging loops back to {url}"
        visited.append(url)
        if fmt == "json":
            document: dict[str, Any] = fetch(server, url).json()
            seen += [item["id"] for item in document["items"]]
            # JSON Feed 1.1: next_url leads to older items, RFC 5005's prev-archive.
            url = document.get("next_url")
        else:
            parsed = parse(server, url)
            seen += [entry.id for entry in parsed.entries]
            url = links(parsed).get("prev-archive")
    return seen, visited


@pytest.mark.parametrize("fmt", [*XML_FORMATS, "json"])
def test_paging_back_sees_every_entry(server: Server, seven: list[str], fmt: str) -> None:
    seen, visited = follow_back(server, fmt)
    # §4.2: a reader pages back until it has seen what it missed; here, everything.
    assert set(seen) == set(seven)
    assert visited == [f"{PUBLIC}/feeds/all.{fmt}", archive_url(2, fmt), archive_url(1, fmt)]


def test_json_feed_pages(server: Server, seven: list[str]) -> None:
    current = fetch(server, "/feeds/all.json").json()
    assert current["feed_url"] == f"{PUBLIC}/feeds/all.json"
    assert current["next_url"] == archive_url(2, "json")
    assert [item["id"] for item in current["items"]] == seven[:3:-1]

    newest_archive = fetch(server, archive_url(2, "json")).json()
    assert newest_archive["feed_url"] == archive_url(2, "json")
    assert newest_archive["next_url"] == archive_url(1, "json")
    assert [item["id"] for item in newest_archive["items"]] == seven[5:2:-1]

    oldest = fetch(server, archive_url(1, "json")).json()
    assert "next_url" not in oldest
    assert [item["id"] for item in oldest["items"]] == seven[2::-1]


@pytest.mark.parametrize("fmt", [*XML_FORMATS, "json"])
def test_archive_page_headers(server: Server, seven: list[str], fmt: str) -> None:
    response = fetch(server, archive_url(1, fmt))
    # Archives are stable (§4): readers and proxies may keep them far longer than current.
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["vary"] == "Accept-Encoding"
    etag = response.headers["etag"]
    assert etag == store.etag_of(response.content)
    assert response.links["self"]["url"] == archive_url(1, fmt)
    assert response.links["hub"]["url"] == f"{PUBLIC}/websub"
    # Last-Modified of an archive page is its newest entry's change, as for any feed.
    last_modified = response.headers["last-modified"]
    items = fetch(server, archive_url(1, "json")).json()["items"]
    newest = max(datetime.fromisoformat(item["date_modified"]) for item in items)
    assert parsedate_to_datetime(last_modified) == newest.replace(microsecond=0)

    path = archive_url(1, fmt)
    conditional = [
        {"If-None-Match": etag},
        {"If-Modified-Since": last_modified},  # RFC 9110 §13.1.3: not modified since then
    ]
    for headers in conditional:
        again = server.client.get(
            path.removeprefix(PUBLIC), headers={"Accept-Encoding": "identity", **headers}
        )
        assert (again.status_code, again.content) == (304, b""), headers
        assert again.headers["etag"] == etag


def test_a_new_page_fills(server: Server, seven: list[str]) -> None:
    """Two more articles fill page 3; the current document now points there."""
    more = [
        ("Rekordkyla i Arjeplog: minus 41 grader", ["Norrbotten"]),
        ("Dalarnas museum visar Karin Larssons textilier", ["Falun"]),
    ]
    nine = seven + publish(more, start=len(seven))

    current = parse(server, "/feeds/all.atom")
    assert links(current)["prev-archive"] == archive_url(3, "atom")
    assert [entry.id for entry in current.entries] == nine[:5:-1]

    third = parse(server, archive_url(3, "atom"))
    assert [entry.id for entry in third.entries] == nine[:5:-1]
    assert links(third)["prev-archive"] == archive_url(2, "atom")
    assert "next-archive" not in links(third)

    second = parse(server, archive_url(2, "atom"))
    assert links(second)["next-archive"] == archive_url(3, "atom")

    seen, visited = follow_back(server, "atom")
    assert set(seen) == set(nine)
    assert len(visited) == 4


def test_tag_and_language_feeds_page_too(server: Server, seven: list[str]) -> None:
    seen: list[str] = []
    url: str | None = f"{PUBLIC}/feeds/lang/sv.rss"
    while url is not None:
        parsed = parse(server, url)
        seen += [entry.id for entry in parsed.entries]
        url = links(parsed).get("prev-archive")
    assert set(seen) == set(seven)

    # Every story is tagged "Inrikes": that tag feed has the same history.
    tag = parse(server, "/feeds/tags/inrikes.atom")
    assert links(tag)["prev-archive"] == archive_url(2, "atom", "tags/inrikes")
    first = parse(server, archive_url(1, "atom", "tags/inrikes"))
    assert [entry.id for entry in first.entries] == seven[2::-1]
