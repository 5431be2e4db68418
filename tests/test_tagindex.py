"""The tag index (models.TagEntry) and the day counts (models.TagDay) say what the
articles say, after every kind of change; tag feeds and partner feeds read from the index
the entries that walking the articles finds, and the tag cloud sums from the day counts
the cloud that counting the articles gives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from config import get_settings
from feeds import query
from feeds.keys import FeedKey
from newsroom import articles, tagcloud
from newsroom.db import alembic_config, get_engine, session_scope
from newsroom.models import Article, ArticleStatus, Tag, TagDay, TagEntry, article_tags
from newsroom.schemas import ArticleIn
from tests.support import article
from tests.test_archive import migrate_to

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
GRACE = timedelta(seconds=1)

# What the index must hold: every (article, tag) of a published or retracted article.
_EXPECTED = text(
    """
    SELECT articles.id, article_tags.tag_id, articles.status, articles.language,
           CASE WHEN articles.status = 'published' THEN articles.published_at
                ELSE articles.retracted_at END AS at
    FROM articles JOIN article_tags ON article_tags.article_id = articles.id
    WHERE articles.status IN ('published', 'retracted')
    """
)


def index_rows(session: Session) -> set[tuple[Any, ...]]:
    return {
        (row.article_id, row.tag_id, str(row.status), row.language, row.at)
        for row in session.execute(select(TagEntry.__table__))
    }


def expected_rows(session: Session) -> set[tuple[Any, ...]]:
    rows = session.execute(_EXPECTED.columns(at=TagEntry.__table__.c.at.type)).all()
    return {(row.id, row.tag_id, row.status, row.language, row.at) for row in rows}


def day_counts(session: Session) -> dict[tuple[Any, ...], int]:
    return {
        (row.day, row.tag_id, row.language): row.articles
        for row in session.execute(select(TagDay.__table__))
    }


def expected_day_counts(session: Session) -> dict[tuple[Any, ...], int]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in session.execute(
        select(Article.published_at, Article.language, article_tags.c.tag_id)
        .join(article_tags, article_tags.c.article_id == Article.id)
        .where(Article.status == ArticleStatus.PUBLISHED)
    ):
        counts[(row.published_at.astimezone(UTC).date(), row.tag_id, row.language)] += 1
    return dict(counts)


def publish(session: Session, title: str, **fields: Any) -> Article:
    created, _ = articles.create(session, ArticleIn(**article(title=title, **fields)), NOW, GRACE)
    return created


def hours_ago(hours: int) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


def change(session: Session, slug: str, **fields: Any) -> None:
    current = session.scalars(select(Article).where(Article.slug == slug)).one()
    body = article(
        title=current.title, language=current.language, tags=[t.label for t in current.tags]
    )
    articles.update(session, slug, ArticleIn(**(body | fields)), NOW, GRACE)


# Each step changes what one article's index rows must be.
STEPS: list[tuple[str, Callable[[Session], None]]] = [
    ("published", lambda s: publish(s, "Isläggningen på Umeälven försenad", slug="is",
                                     tags=["Umeå", "Trafik"], published_at=hours_ago(3))),
    ("draft", lambda s: publish(s, "Utkast om Falun", slug="utkast", tags=["Falun"],
                                 status="draft")),
    ("scheduled", lambda s: publish(s, "Falu gruva öppnar i vår", slug="gruva",
                                     tags=["Falun"], published_at=(NOW + timedelta(hours=2))
                                     .isoformat())),
    ("tags changed", lambda s: change(s, "is", tags=["Umeå", "Landsbygd", "Väder"])),
    ("language changed", lambda s: change(s, "is", language="fi")),
    ("published_at changed", lambda s: change(s, "is", published_at=hours_ago(30))),
    ("draft published", lambda s: change(s, "utkast", status="published",
                                         published_at=hours_ago(1))),
    ("back to draft", lambda s: change(s, "utkast", status="draft")),
    ("schedule due", lambda s: articles.publish_due(s, NOW + timedelta(hours=3), GRACE)
                                and None),
    ("retracted", lambda s: articles.retract(s, "is", NOW, GRACE) and None),
    ("draft retracted", lambda s: articles.retract(s, "utkast", NOW, GRACE) and None),
]  # fmt: skip


def test_the_index_follows_every_change(db: str) -> None:
    for name, step in STEPS:
        with session_scope() as session:
            step(session)
        with session_scope() as session:
            assert index_rows(session) == expected_rows(session), f"after: {name}"
            assert day_counts(session) == expected_day_counts(session), f"after: {name}"
    with session_scope() as session:
        statuses = {str(row.status) for row in session.execute(select(TagEntry.status))}
        assert statuses == {"published", "retracted"}, "the steps reach both kinds of row"


def test_the_upgrade_fills_the_index_as_publishing_does(db: str) -> None:
    with session_scope() as session:
        for _, step in STEPS:
            step(session)
        made = index_rows(session)
        assert len(made) == 5, "published and retracted articles, with three tags and one"
        counted = day_counts(session)
        assert counted
    # To the revision before the one that makes the tag index and the day counts.
    scripts = ScriptDirectory.from_config(alembic_config(get_engine()))
    before = scripts.get_revision("0010_tag_index").down_revision
    assert isinstance(before, str)
    migrate_to(before, command.downgrade)
    try:
        migrate_to("head", command.upgrade)
        with session_scope() as session:
            assert index_rows(session) == made
            assert day_counts(session) == counted
    finally:
        migrate_to("head", command.upgrade)


def test_a_deleted_tag_or_article_leaves_no_index_rows(db: str) -> None:
    with session_scope() as session:
        publish(session, "Snöovädret stänger E4", slug="e4", tags=["Trafik", "Väder"])
        publish(session, "Falu gruva lockar besökare", slug="falun", tags=["Falun"])
    with session_scope() as session:
        session.execute(delete(Tag).where(Tag.slug == "vader"))
    with session_scope() as session:
        assert len(index_rows(session)) == 2
        assert index_rows(session) == expected_rows(session)
        assert day_counts(session) == expected_day_counts(session)
    # By hand only: the service retracts articles, it never deletes them. The day counts
    # keep a deleted article (it was published that day); the feeds lose it.
    with session_scope() as session:
        session.execute(delete(Article).where(Article.slug == "falun"))
    with session_scope() as session:
        assert len(index_rows(session)) == 1
        assert index_rows(session) == expected_rows(session)


# The walk the index replaces: the tag's articles, found through article_tags.
def walked(session: Session, slug: str, status: ArticleStatus, size: int) -> list[str]:
    order = (
        (Article.published_at.desc(), Article.id.desc())
        if status is ArticleStatus.PUBLISHED
        else (Article.retracted_at.desc().nulls_last(), Article.id.desc())
    )
    found = session.scalars(
        select(Article.uuid)
        .where(Article.status == status, Article.tags.any(Tag.slug == slug))
        .order_by(*order)
        .limit(size)
    )
    return [f"urn:uuid:{uuid}" for uuid in found]


def test_tag_feeds_read_what_walking_the_articles_finds(db: str) -> None:
    settings = get_settings().model_copy(update={"feed_size": 4, "feed_tombstones": 3})
    tags = ["Umeå", "Falun", "Trafik", "Landsbygd"]
    with session_scope() as session:
        for n in range(23):
            # Dates out of id order, and ties: the order must break them by id.
            published = hours_ago((7 * n) % 11)
            mine = [tags[n % 4]] + ([tags[(n + 1) % 4]] if n % 3 == 0 else [])
            publish(session, f"Nyhet nummer {n} från Norden", slug=f"nyhet-{n}", tags=mine,
                    published_at=published, language="sv" if n % 2 else "fi")  # fmt: skip
        for n in (2, 5, 9, 12, 13):
            articles.retract(session, f"nyhet-{n}", NOW + timedelta(minutes=n % 3), GRACE)
    with session_scope() as session:
        for slug in ["umea", "falun", "trafik", "landsbygd", "okand"]:
            document = query.current(session, FeedKey("tags", slug), settings)
            entries = [entry.uid for entry in document.entries]
            assert entries == walked(session, slug, ArticleStatus.PUBLISHED, 4), slug
            stones = [stone.uid for stone in document.tombstones]
            assert stones == walked(session, slug, ArticleStatus.RETRACTED, 3), slug


@pytest.mark.parametrize(
    ("tags", "languages"),
    [
        pytest.param(["umea"], [], id="one-tag"),
        pytest.param(["umea", "falun"], [], id="two-tags"),
        pytest.param(["umea", "trafik"], ["fi"], id="tags-and-language"),
        pytest.param(["falun"], ["sv", "fi"], id="two-languages"),
        pytest.param([], ["fi"], id="language-only"),
        pytest.param(["okand"], [], id="unknown-tag"),
    ],
)
def test_partner_feeds_read_what_walking_the_articles_finds(
    db: str, tags: list[str], languages: list[str]
) -> None:
    settings = get_settings().model_copy(update={"feed_size": 5})
    labels = {"umea": "Umeå", "falun": "Falun", "trafik": "Trafik"}
    with session_scope() as session:
        for n in range(19):
            mine = [list(labels.values())[n % 3]] + (["Umeå"] if n % 4 == 0 else [])
            publish(session, f"Nyhet nummer {n} från Norden", slug=f"nyhet-{n}", tags=mine,
                    published_at=hours_ago((5 * n) % 9), language=["sv", "fi"][n % 2])  # fmt: skip
        articles.retract(session, "nyhet-4", NOW, GRACE)
    with session_scope() as session:
        walk = select(Article.uuid).where(Article.status == ArticleStatus.PUBLISHED)
        if tags:
            walk = walk.where(Article.tags.any(Tag.slug.in_(tags)))
        if languages:
            walk = walk.where(Article.language.in_(languages))
        newest = session.scalars(
            walk.order_by(Article.published_at.desc(), Article.id.desc()).limit(5)
        )
        document = query.for_partner(session, tags, languages, settings)
        assert [entry.uid for entry in document.entries] == [f"urn:uuid:{u}" for u in newest]


def test_sqlite_reads_a_tag_feed_from_the_index(db: str) -> None:
    if db != "sqlite":
        pytest.skip("PostgreSQL's plans for tables this small are no evidence; see bench/")
    statement = query.selection("tags", ArticleStatus.PUBLISHED).order_by(
        *query.newest_first("tags", ArticleStatus.PUBLISHED)
    )
    compiled = statement.params(value="umea", tag=1).limit(50).compile(
        get_engine(), compile_kwargs={"literal_binds": True}
    )
    with get_engine().connect() as connection:
        plan = " / ".join(
            row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "ix_tag_entries_feed" in plan, plan
    assert "SCAN articles" not in plan and "TEMP B-TREE" not in plan, plan


def counted_cloud(
    session: Session, since: datetime, until: datetime | None, language: str | None, limit: int
) -> list[tagcloud.CloudTag]:
    """The cloud as it was counted before the day counts: every article in the window."""
    count = func.count(Article.id)
    query = (
        select(Tag.slug, Tag.label, count)
        .join(article_tags, article_tags.c.tag_id == Tag.id)
        .join(Article, Article.id == article_tags.c.article_id)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.published_at >= since)
        .group_by(Tag.id, Tag.slug, Tag.label)
        .order_by(count.desc(), Tag.slug)
        .limit(limit)
    )
    if until is not None:
        query = query.where(Article.published_at < until)
    if language is not None:
        query = query.where(Article.language == language)
    counts = {(slug, label): number for slug, label, number in session.execute(query)}
    return tagcloud.weigh(counts, limit)


MIDNIGHT = datetime(2026, 12, 5, tzinfo=UTC)
# (since, until) around NOW (07:00 on the 5th): edges mid-day and at midnight.
WINDOWS = {
    "30 days to now": (NOW - timedelta(days=30), None),
    "from midnight": (MIDNIGHT - timedelta(days=3), None),
    "mid-day to mid-day": (NOW - timedelta(days=4, hours=5), NOW - timedelta(hours=13)),
    "midnight to midnight": (MIDNIGHT - timedelta(days=4), MIDNIGHT),
    "within a day": (MIDNIGHT - timedelta(hours=20), MIDNIGHT - timedelta(hours=3)),
    "across one midnight": (MIDNIGHT - timedelta(hours=5), NOW),
    "empty": (NOW, NOW),
    "future": (NOW + timedelta(days=1), None),
}


def test_the_cloud_is_the_one_counting_the_articles_gives(db: str) -> None:
    tags = ["Borlänge", "Umeå", "Falun", "Trafik", "Väder", "Tammerfors", "Landsbygd"]
    with session_scope() as session:
        for n in range(40):
            published = NOW - timedelta(hours=(37 * n) % 150)
            mine = sorted({tags[n % 7], tags[(n * 3) % 5], tags[(n * n) % 7]})
            language = ["sv", "fi", "nb"][n % 3]
            publish(session, f"Nyhet nummer {n} från Norden", slug=f"nyhet-{n}", tags=mine,
                    published_at=published.isoformat(), language=language)  # fmt: skip
        # Changes that move counts between days, tags and languages, and out of the cloud.
        change(session, "nyhet-1", published_at=hours_ago(100))
        change(session, "nyhet-2", tags=["Falun"], language="sv")
        change(session, "nyhet-3", status="draft")
        for n in (4, 5, 6):
            articles.retract(session, f"nyhet-{n}", NOW, GRACE)
    with session_scope() as session:
        for name, (since, until) in WINDOWS.items():
            for language in (None, "sv", "nb", "da"):
                for limit in (30, 3):
                    expected = counted_cloud(session, since, until, language, limit)
                    got = tagcloud.tag_cloud(
                        session, since=since, until=until, language=language, limit=limit
                    )
                    assert got == expected, (name, language, limit)
        whole = tagcloud.tag_cloud(session, since=NOW - timedelta(days=30))
        assert len(whole) == len(tags), "every tag counted: the test means something"


@pytest.mark.parametrize("status", [ArticleStatus.PUBLISHED, ArticleStatus.RETRACTED])
def test_sqlite_reads_a_language_feed_from_its_index(db: str, status: ArticleStatus) -> None:
    """Entries and tombstones of one language are one range of ix_articles_language_feed,
    not every article of the language (97 ms a publish at 500k articles)."""
    if db != "sqlite":
        pytest.skip("PostgreSQL's plans for tables this small are no evidence; see bench/")
    statement = query.selection("lang", status).order_by(*query.newest_first("lang", status))
    compiled = statement.params(value="sv").limit(50).compile(
        get_engine(), compile_kwargs={"literal_binds": True}
    )
    with get_engine().connect() as connection:
        plan = " / ".join(
            row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "ix_articles_language_feed (status=? AND language=?)" in plan, plan
    assert "SCAN articles" not in plan, plan
