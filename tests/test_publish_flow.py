"""Publish, update and retract over HTTP; a real Celery worker brings every feed along."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import feedparser
import pytest

from tests.support import ADMIN, Server, article, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")

TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}deleted-entry"


def feed(server: Server, path: str) -> feedparser.FeedParserDict:
    response = server.client.get(f"/feeds/{path}")
    if response.status_code == 404:
        return feedparser.FeedParserDict(entries=[], bozo=False)
    assert response.status_code == 200, response.text
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def titles(server: Server, path: str) -> list[str]:
    return [entry.title for entry in feed(server, path).entries]


def test_publish_reaches_every_affected_feed(server: Server) -> None:
    created = server.client.post("/api/articles", json=article(), headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["slug"] == "personliga-moten-starker-det-nordiska-samarbetet"
    assert (body["version"], body["status"]) == (1, "published")

    title = "Personliga möten stärker det nordiska samarbetet"
    for path in ("all.atom", "all.rss", "tags/borlange.atom", "tags/nordiskt-samarbete.rss",
                 "lang/sv.atom"):  # fmt: skip
        wait_for(lambda path=path: titles(server, path) == [title], what=path)
    entry = feed(server, "all.atom").entries[0]
    assert entry.author == "Åsa Lindqvist"
    assert "– Vi förstår varandra" in entry.content[0].value
    assert "Marcus Hjelm från Borlänge." in entry.content[0].value
    assert {tag.term for tag in entry.tags} == {"borlange", "nordiskt-samarbete"}
    json_feed = server.client.get("/feeds/all.json").json()
    assert json_feed["items"][0]["title"] == title
    assert server.client.get("/feeds/lang/fi.atom").status_code == 404


def test_update_moves_the_article_between_tag_feeds(server: Server) -> None:
    server.client.post("/api/articles", json=article(), headers=ADMIN).raise_for_status()
    wait_for(lambda: titles(server, "tags/borlange.atom"), what="the first version")

    changed = article(title="Borlänge bygger vidare på nordiskt samarbete", tags=["Umeå"])
    slug = "personliga-moten-starker-det-nordiska-samarbetet"
    updated = server.client.put(f"/api/articles/{slug}", json=changed, headers=ADMIN)
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2

    wait_for(lambda: titles(server, "tags/umea.atom") == [changed["title"]], what="new tag")
    wait_for(lambda: titles(server, "tags/borlange.atom") == [], what="old tag emptied")
    assert titles(server, "all.atom") == [changed["title"]]

    again = server.client.put(f"/api/articles/{slug}", json=changed, headers=ADMIN)
    assert again.json()["version"] == 2, "the same content again is not a new version"


def test_retraction_leaves_feeds_and_a_tombstone_in_atom(server: Server) -> None:
    created = server.client.post("/api/articles", json=article(), headers=ADMIN).json()
    wait_for(lambda: titles(server, "all.rss"), what="publication")

    retracted = server.client.delete(f"/api/articles/{created['slug']}", headers=ADMIN)
    assert retracted.status_code == 200
    assert retracted.json()["status"] == "retracted"

    wait_for(lambda: titles(server, "all.rss") == [], what="RSS without the article")
    assert titles(server, "all.atom") == []
    assert server.client.get("/feeds/all.json").json()["items"] == []
    root = ET.fromstring(server.client.get("/feeds/all.atom").content)
    tombstones = root.findall(TOMBSTONES)
    assert len(tombstones) == 1
    assert tombstones[0].get("ref", "").startswith("urn:uuid:")
    assert server.client.get(f"/articles/{created['slug']}").status_code == 410


def test_scheduled_article_waits_for_its_time(server: Server) -> None:
    from datetime import UTC, datetime, timedelta

    soon = datetime.now(UTC) + timedelta(seconds=2)
    created = server.client.post(
        "/api/articles", json=article(published_at=soon.isoformat()), headers=ADMIN
    ).json()
    assert created["status"] == "scheduled"
    assert server.client.get("/feeds/all.atom").status_code == 404

    from worker.tasks import publish_scheduled

    wait_for(lambda: publish_scheduled() == 1, timeout=10, interval=0.2, what="its time")
    wait_for(lambda: titles(server, "all.atom"), what="the scheduled article in the feed")
    listed = server.client.get("/api/articles", headers=ADMIN).json()
    assert listed[0]["status"] == "published"
