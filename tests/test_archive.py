"""RFC 5005 archived feeds: the subscription document points back through archive pages,
so a reader that missed entries pages back with prev-archive until it has them all.

With three entries a page and seven articles: page 1 holds the three oldest, page 2 the
next three, the current document the three newest, and the seventh-oldest (the newest)
is on no archive page yet: only full pages are archives (§4: an archive's entries do not
change).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config import get_settings
from feeds import store
from feeds.refresh import all_keys, refresh
from newsroom import articles
from newsroom.db import alembic_config, get_engine, session_scope
from newsroom.models import ArchiveSlot, Article, OutboxEvent, utcnow
from newsroom.schemas import ArticleIn
from tests.support import Server, article
from web.front import Front
from worker import events

PAGE_SIZE = 3
PUBLIC = "https://nyheter.example"
FH_ARCHIVE = "{http://purl.org/syndication/history/1.0}archive"
ATOM_LINK = "{http://www.w3.org/2005/Atom}link"
AT = "http://purl.org/atompub/tombstones/1.0"
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
def app(page_size: int, db: str) -> Front:
    """The real web app, built with the small page size."""
    from web.app import create_app

    assert get_settings().feed_size == page_size
    return create_app()


@pytest.fixture
def server(app: Front) -> Iterator[Server]:
    with Server.running(app) as running:
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
    refresh_every_feed()
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


def archive_bytes(
    server: Server, pages: range, key: str = "all"
) -> dict[tuple[int, str], bytes]:
    return {
        (page, fmt): fetch(server, archive_url(page, fmt, key)).content
        for page in pages
        for fmt in (*XML_FORMATS, "json")
    }


def retract(entry_id: str) -> None:
    """Retract the article of a feed entry id, and refresh every feed."""
    uuid = entry_id.removeprefix("urn:uuid:")
    with session_scope() as session:
        slug = session.scalars(select(Article.slug).where(Article.uuid == uuid)).one()
        articles.retract(session, slug, utcnow(), timedelta(seconds=1))
    refresh_every_feed()


def test_a_retraction_leaves_every_page_where_it_was(
    app: Front, server: Server, seven: list[str]
) -> None:
    """§4: an archive's entries do not change. The retracted article's slot stays taken
    (Atom: by its RFC 6721 tombstone), so no later entry moves to an earlier page."""
    before = archive_bytes(server, range(1, 3))
    retract(seven[1])
    app.cache.clear()  # archive pages are built on request and kept a few seconds

    page_2 = {k: v for k, v in before.items() if k[0] == 2}
    assert archive_bytes(server, range(2, 3)) == page_2
    first = parse(server, archive_url(1, "atom"))
    assert [entry.id for entry in first.entries] == [seven[2], seven[0]]
    assert tombstones(server, archive_url(1, "atom")) == [seven[1]]
    for fmt in ("rss", "json"):
        seen, visited = follow_back(server, fmt)
        assert set(seen) == set(seven) - {seven[1]}, fmt
        assert visited[1:] == [archive_url(2, fmt), archive_url(1, fmt)]


def change(entry_id: str, **fields: Any) -> None:
    """Save the article of a feed entry id again with ``fields`` changed (as a PUT does,
    keeping its title and publication time), and refresh every feed for it, as the
    worker does for the feeds its event touches."""
    uuid = entry_id.removeprefix("urn:uuid:")
    with session_scope() as session:
        saved = session.scalars(select(Article).where(Article.uuid == uuid)).one()
        kept = {"title": saved.title, "tags": [tag.label for tag in saved.tags]}
        data = ArticleIn(**article(**{**kept, **fields}, published_at=saved.published_at))
        articles.update(session, saved.slug, data, utcnow(), timedelta(seconds=1))
        article_id = saved.id
    refresh_every_feed(article_id)


def tombstones(server: Server, url: str) -> list[str]:
    root = ET.fromstring(fetch(server, url).content)
    return [gone.get("ref", "") for gone in root.findall(f"{{{AT}}}deleted-entry")]


def test_an_article_that_leaves_a_feed_keeps_its_place_as_a_tombstone(
    app: Front, server: Server, seven: list[str]
) -> None:
    """Taken back to draft, or moved out of a tag: like a retraction, the article leaves
    the archive page it was on, its slot stays taken, and Atom says it is gone."""
    before = archive_bytes(server, range(2, 3))
    change(seven[0], status="draft")
    change(seven[2], tags=["Landsbygd"])  # no longer "Inrikes"
    app.cache.clear()

    assert archive_bytes(server, range(2, 3)) == before
    first = parse(server, archive_url(1, "atom"))
    assert [entry.id for entry in first.entries] == [seven[2], seven[1]]
    assert tombstones(server, archive_url(1, "atom")) == [seven[0]]
    inrikes = archive_url(1, "atom", "tags/inrikes")
    assert [entry.id for entry in parse(server, inrikes).entries] == [seven[1]]
    assert tombstones(server, inrikes) == [seven[2], seven[0]]
    landsbygd = parse(server, "/feeds/tags/landsbygd.atom")
    assert [entry.id for entry in landsbygd.entries] == [seven[2]], "still in its own tag"

    # Edited while out of the feed: the tombstones keep the time the articles left.
    def first_pages() -> dict[str, dict[tuple[int, str], bytes]]:
        app.cache.clear()
        return {key: archive_bytes(server, range(1, 2), key) for key in ("all", "tags/inrikes")}

    before_edits = first_pages()
    change(seven[0], status="draft", summary="Utkast: isen ligger kvar längre än väntat.")
    assert first_pages() == before_edits
    change(seven[2], tags=["Landsbygd"], summary="Landsbygden behöver satsningar.")
    assert first_pages()["tags/inrikes"] == before_edits["tags/inrikes"]

    # Back in the feed: the same slot, as an entry again.
    change(seven[2], tags=["Landsbygd", "Inrikes"])
    app.cache.clear()
    assert [entry.id for entry in parse(server, inrikes).entries] == [seven[2], seven[1]]
    assert tombstones(server, inrikes) == [seven[0]]


def test_a_backdated_article_takes_the_next_slot(
    app: Front, server: Server, seven: list[str]
) -> None:
    """Published today with a date before every other: it joins the archive at the end,
    on the page being filled, not on page 1 where its date would put it."""
    before = archive_bytes(server, range(1, 3))
    [backdated] = publish([("Gamla bilder visar Umeå före branden 1888", ["Umeå"])], start=-72)
    app.cache.clear()
    assert archive_bytes(server, range(1, 3)) == before
    # Not among the newest three, on no full page yet: the current document shows it.
    current = parse(server, "/feeds/all.atom")
    assert [entry.id for entry in current.entries] == [seven[6], seven[5], seven[4], backdated]
    for fmt in (*XML_FORMATS, "json"):
        seen, _ = follow_back(server, fmt)
        assert set(seen) == {*seven, backdated}, fmt

    [ninth] = publish([("Rekordkyla i Arjeplog: minus 41 grader", ["Norrbotten"])], start=8)
    app.cache.clear()
    third = parse(server, archive_url(3, "atom"))
    assert [entry.id for entry in third.entries] == [ninth, backdated, seven[6]]
    # Page 2 now links page 3 (next-archive); its entries stay.
    page_1 = {k: v for k, v in before.items() if k[0] == 1}
    assert archive_bytes(server, range(1, 2)) == page_1
    assert [entry.id for entry in parse(server, archive_url(2, "atom")).entries] == seven[5:2:-1]


def slots(key: str, *, left: bool = False) -> list[int]:
    """The article ids in a feed's archive slots, first slot first; ``left``: only those
    of the articles that have left the feed."""
    query = select(ArchiveSlot.article_id).where(ArchiveSlot.feed_key == key)
    if left:
        query = query.where(ArchiveSlot.left_at.is_not(None))
    with session_scope() as session:
        return list(session.scalars(query.order_by(ArchiveSlot.position)))


def handle(change: Callable[[Session], tuple[Article, OutboxEvent | None]]) -> int:
    """Make a change, then handle its event as the worker does; the article's id."""
    with session_scope() as session:
        changed, event = change(session)
        assert event is not None
        article_id, event_id = changed.id, event.id
    events.handle(event_id, get_settings(), lambda _: None)
    return article_id


def test_the_worker_gives_slots_as_articles_reach_feeds(db: str) -> None:
    now, grace = utcnow(), timedelta(seconds=1)

    def create(title: str, tags: list[str], hours_ago: int) -> int:
        published = (now - timedelta(hours=hours_ago)).isoformat()
        data = ArticleIn(**article(title=title, tags=tags, published_at=published))
        return handle(lambda session: articles.create(session, data, now, grace))

    umea = create("Isläggningen på Umeälven försenad", ["Umeå"], 1)
    backdated = create("Umeå före branden 1888", ["Umeå", "Historia"], 1000)
    falun = create("Falu gruva lockar rekordmånga besökare", ["Falun"], 2)
    assert slots("all") == slots("lang/sv") == [umea, backdated, falun]
    assert slots("tags/umea") == [umea, backdated]
    assert slots("tags/historia") == [backdated]

    # Tagged Falun in an update: a newcomer in that feed, at its end; retracted: in place.
    moved = ArticleIn(**article(title="Isläggningen på Umeälven försenad", tags=["Falun"]))
    handle(lambda session: articles.update(session, slug_of(umea), moved, now, grace))
    handle(lambda session: articles.retract(session, slug_of(backdated), now, grace))
    assert slots("tags/falun") == [falun, umea]
    assert slots("tags/umea") == [umea, backdated]
    assert slots("all") == [umea, backdated, falun]
    # The slots note who left: from the Umeå tag both, from every other feed the retracted.
    assert slots("tags/umea", left=True) == [umea, backdated]
    assert slots("all", left=True) == slots("lang/sv", left=True) == [backdated]
    assert slots("tags/historia", left=True) == [backdated]
    assert slots("tags/falun", left=True) == []


def test_an_article_a_worker_gave_no_slot_gets_one_while_it_is_new(db: str) -> None:
    """As after an upgrade, when a worker without slots handled its event: the next
    publish in the same feed places it, since it is among the feed's newest."""
    now, grace = utcnow(), timedelta(seconds=1)

    def create(title: str) -> int:
        data = ArticleIn(**article(title=title, tags=["Umeå"]))
        return handle(lambda session: articles.create(session, data, now, grace))

    first = create("Isläggningen på Umeälven försenad")
    with session_scope() as session:
        session.execute(delete(ArchiveSlot).where(ArchiveSlot.article_id == first))
    second = create("Översvämningar i Umeå: så förbereder sig kommunen")
    assert slots("all") == slots("tags/umea") == [first, second]


def test_deleted_articles_leave_the_pages_where_they_were(
    app: Front, server: Server, seven: list[str]
) -> None:
    """Rows deleted by hand (their slots go with them, ON DELETE CASCADE): the pages are
    still cut by position, and the current document still points to page 2."""
    with session_scope() as session:
        uuids = [entry_id.removeprefix("urn:uuid:") for entry_id in seven[:2]]
        session.execute(delete(Article).where(Article.uuid.in_(uuids)))
    refresh_every_feed()
    app.cache.clear()
    current = parse(server, "/feeds/all.atom")
    assert links(current)["prev-archive"] == archive_url(2, "atom")
    assert [e.id for e in parse(server, archive_url(2, "atom")).entries] == seven[5:2:-1]
    assert [e.id for e in parse(server, archive_url(1, "atom")).entries] == [seven[2]]


def slug_of(article_id: int) -> str:
    with session_scope() as session:
        return session.scalars(select(Article.slug).where(Article.id == article_id)).one()


def test_the_upgrade_numbers_the_published_articles_as_the_old_pages_did(db: str) -> None:
    """Migration 0006 gives today's articles the slots a rebuild gives them: oldest first."""
    now, grace = utcnow(), timedelta(seconds=1)
    stories = [*STORIES, ("Utkast om Falun", ["Falun"])]
    with session_scope() as session:
        for n, (title, tags) in enumerate(stories):
            status = "draft" if title.startswith("Utkast") else "published"
            # Dates out of id order, two languages, one retraction, one draft.
            published = (FIRST_PUBLISHED + timedelta(hours=(5 * n) % 7)).isoformat()
            language = "fi" if n % 3 == 0 else "sv"
            data = ArticleIn(
                **article(
                    title=title, tags=tags, published_at=published, status=status,
                    language=language,
                )
            )  # fmt: skip
            created, _ = articles.create(session, data, now, grace)
        articles.retract(session, created.slug, now, grace)
        articles.retract(session, slug_of_title(session, STORIES[3][0]), now, grace)
    migrate_to("0005", command.downgrade)
    try:
        migrate_to("head", command.upgrade)
        with session_scope() as session:
            keys = [str(key) for key in all_keys(session)]
        migrated = {key: slots(key) for key in keys}
        assert migrated["all"], "nothing numbered"
        refresh_every_feed_anew()
        assert {key: slots(key) for key in keys} == migrated
    finally:
        migrate_to("head", command.upgrade)


def migrate_to(revision: str, step: Callable[[Config, str], None]) -> None:
    """As newsroom.db.migrate does, to any revision: up or down."""
    engine = get_engine()
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def slug_of_title(session: Session, title: str) -> str:
    return session.scalars(select(Article.slug).where(Article.title == title)).one()


def refresh_every_feed(article_id: int | None = None) -> None:
    settings = get_settings()
    with session_scope() as session:
        keys = all_keys(session)
    for key in keys:
        with session_scope() as session:
            refresh(session, key, settings, article_id=article_id)


def refresh_every_feed_anew() -> None:
    """Forget every slot, then give them again as a rebuild does."""
    with session_scope() as session:
        session.execute(delete(ArchiveSlot))
    refresh_every_feed()
