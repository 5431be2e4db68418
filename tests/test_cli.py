"""The budkavle command: publish files, load the demo, list, rebuild; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from budkavle.cli import app
from feeds import store
from newsroom.db import session_scope
from newsroom.models import Article, OutboxEvent

runner = CliRunner()

ARTICLE_MD = """\
---
title: "Översvämningar i Umeå: så förbereder sig kommunen"
language: sv
slug: oversvamningar-i-umea
summary: Kommunen bygger nya dammar längs Umeälven.
tags: [Umeå, Klimat]
authors: [Åsa Lindqvist]
image:
  url: https://bilder.nyheter.example/umea-alv.jpg
  alt: Umeälven i november
  caption: Umeälven vid Tegsbron.
published_at: 2026-11-20 09:00
---
– Vi måste våga planera för det värsta, säger kommunens klimatstrateg.

## Nya dammar

Arbetet börjar i vår.
"""


def count(model: type) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_publish_a_markdown_file_then_again_unchanged(db: str, tmp_path: Path) -> None:
    path = write(tmp_path, "umea.md", ARTICLE_MD)
    first = runner.invoke(app, ["publish", str(path)])
    assert first.exit_code == 0, first.output
    assert "oversvamningar-i-umea  published  v1" in first.output
    with session_scope() as session:
        stored = session.scalars(select(Article)).one()
        assert stored.title == "Översvämningar i Umeå: så förbereder sig kommunen"
        assert stored.tag_slugs == ["klimat", "umea"]
        assert stored.published_at is not None
        assert stored.published_at.isoformat() == "2026-11-20T08:00:00+00:00"  # Stockholm
        assert "<h2>Nya dammar</h2>" in stored.body_html

    again = runner.invoke(app, ["publish", str(path)])
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output
    assert (count(Article), count(OutboxEvent)) == (1, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"\xff\xfe---\ntitle: x\n---\n", "not UTF-8", id="not-utf8"),
        pytest.param("---\ntitle: [unclosed\n---\nText", "not valid YAML", id="bad-yaml"),
        pytest.param("---\nlanguage: sv\n---\nText", "title: Field required", id="no-title"),
        pytest.param("---\ntitle: Hej\nlanguage: xx\n---\nText", "unknown language", id="lang"),
        pytest.param("---\ntitle: Hej\nlanguage: sv\n---\n", "has no text left", id="empty"),
        pytest.param(
            "---\ntitle: Hej\nlanguage: sv\nbody_html: <p>x</p>\n---\nText",
            "the body goes below the front matter",
            id="body-in-front-matter",
        ),
    ],
)
def test_publish_refuses_bad_files_and_changes_nothing(
    db: str, tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = write(tmp_path, "bad.md", content)
    result = runner.invoke(app, ["publish", str(path)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()), result.output
    assert count(Article) == 0


def test_publish_a_missing_file(db: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["publish", str(tmp_path / "saknas.md")])
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_demo_loads_once(db: str) -> None:
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    loaded = count(Article)
    assert loaded >= 6
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0, second.output
    assert count(Article) == loaded
    assert second.output.count("nothing new") == loaded
    with session_scope() as session:
        languages = set(session.scalars(select(Article.language)))
    assert {"sv", "fi", "en"} <= languages


def test_feeds_rebuild_and_articles_list(db: str, tmp_path: Path) -> None:
    runner.invoke(app, ["publish", str(write(tmp_path, "umea.md", ARTICLE_MD))])
    rebuilt = runner.invoke(app, ["feeds", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "4 feeds checked, 12 documents changed" in rebuilt.output
    with session_scope() as session:
        assert set(store.paths(session)) >= {"all.atom", "tags/umea.rss", "lang/sv.json"}
    assert "0 documents changed" in runner.invoke(app, ["feeds", "rebuild"]).output
    listed = runner.invoke(app, ["articles"])
    assert "oversvamningar-i-umea" in listed.output


def test_a_bad_setting_is_named(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from config import get_settings

    monkeypatch.setenv("BUDKAVLE_FEED_SIZE", "many")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["articles"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "BUDKAVLE_FEED_SIZE" in result.output


def test_feeds_rebuild_in_batches_builds_every_feed_as_a_refresh_does(db: str) -> None:
    """More tags than a batch of the rebuild holds: every feed, the same bytes as
    refreshing each feed on its own."""
    from datetime import timedelta

    from budkavle.cli import REBUILD_BATCH
    from config import get_settings
    from feeds.refresh import all_keys, refresh
    from newsroom import articles
    from newsroom.models import ArchiveSlot, FeedDocumentRow, utcnow
    from newsroom.schemas import ArticleIn
    from tests.support import article

    places = [f"Ort {n}" for n in range(REBUILD_BATCH + 7)]
    with session_scope() as session:
        for n in range(0, len(places), 3):
            data = ArticleIn(**article(title=f"Nytt från {places[n]}", tags=places[n : n + 3]))
            articles.create(session, data, utcnow(), timedelta(seconds=1))
        keys = all_keys(session)
    assert len(keys) > REBUILD_BATCH + 1
    rebuilt = runner.invoke(app, ["feeds", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"{len(keys)} feeds checked, {3 * len(keys)} documents changed" in rebuilt.output
    with session_scope() as session:
        batched = dict(session.execute(select(FeedDocumentRow.path, FeedDocumentRow.body)).all())
        session.execute(delete(FeedDocumentRow))
        session.execute(delete(ArchiveSlot))
    for key in keys:
        with session_scope() as session:
            refresh(session, key, get_settings())
    with session_scope() as session:
        alone = dict(session.execute(select(FeedDocumentRow.path, FeedDocumentRow.body)).all())
    assert batched == alone
