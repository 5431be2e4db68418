"""The tag cloud's kept sums of settled days (newsroom.daysums): served from memory while
no past day's counts change, and summed again after any change that moves one (an older
article updated, retagged, moved or retracted; a backdated publish; a tag deleted), so
that every cloud is the one counting the articles gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsroom import articles, daysums, tagcloud
from newsroom.db import session_scope
from newsroom.models import Article, Tag, TagDay, TagDaysVersion, utcnow
from newsroom.schemas import ArticleIn
from tests.support import article
from tests.test_tagindex import counted_cloud

# The real clock: which days are settled is the reader's today, and a writer replaces the
# token for a day before its today.
NOW = utcnow()
TODAY = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)
GRACE = timedelta(seconds=1)
TAGS = ["Borlänge", "Umeå", "Falun", "Trafik", "Väder", "Tammerfors", "Landsbygd", "Åre"]

# (since, until): windows over settled days only, ending yesterday, today or open.
WINDOWS = {
    "20 days, open": (NOW - timedelta(days=20), None),
    "20 days to now": (NOW - timedelta(days=20), NOW),
    "settled days only": (TODAY - timedelta(days=12, hours=5), TODAY - timedelta(days=3)),
    "midnight to yesterday noon": (TODAY - timedelta(days=9), TODAY - timedelta(hours=12)),
}


def publish(session: Session, n: int, hours_ago: float, tags: list[str], **fields: Any) -> None:
    at = (NOW - timedelta(hours=hours_ago)).isoformat()
    data = article(title=f"Nyhet nummer {n} från Norden", slug=f"nyhet-{n}", tags=tags,
                   published_at=at, **fields)  # fmt: skip
    articles.create(session, ArticleIn(**data), NOW, GRACE)


def change(session: Session, slug: str, **fields: Any) -> None:
    current = session.scalars(select(Article).where(Article.slug == slug)).one()
    body = article(title=current.title, language=current.language,
                   tags=[t.label for t in current.tags],
                   published_at=current.published_at.isoformat())  # fmt: skip
    articles.update(session, slug, ArticleIn(**(body | fields)), NOW, GRACE)


def token(session: Session) -> str | None:
    return session.scalar(select(TagDaysVersion.token))


def assert_clouds_counted(session: Session) -> None:
    for name, (since, until) in WINDOWS.items():
        for language in (None, "sv", "fi"):
            for limit in (30, 3):
                got = tagcloud.tag_cloud(
                    session, since=since, until=until, language=language, limit=limit
                )
                assert got == counted_cloud(session, since, until, language, limit), (
                    name, language, limit,
                )  # fmt: skip


@pytest.fixture
def newsroom(db: str) -> None:
    daysums.forget()
    with session_scope() as session:
        for n in range(48):
            mine = sorted({TAGS[n % 8], TAGS[(n * 3) % 5], TAGS[(n * n) % 7]})
            publish(session, n, hours_ago=(29 * n) % 400 + 1, tags=mine,
                    language=["sv", "fi", "nb"][n % 3])  # fmt: skip


# Each changes a settled day's counts: the cloud must see it at once.
CHANGES: list[tuple[str, Callable[[Session], None]]] = [
    ("an old article retracted", lambda s: articles.retract(s, "nyhet-8", NOW, GRACE) and None),
    ("an old article retagged", lambda s: change(s, "nyhet-9", tags=["Åre", "Falun"])),
    ("an old article's language", lambda s: change(s, "nyhet-10", language="sv")),
    ("an old article moved to another old day",
     lambda s: change(s, "nyhet-11", published_at=(NOW - timedelta(days=6)).isoformat())),
    ("an old article back to draft", lambda s: change(s, "nyhet-12", status="draft")),
    ("a backdated publish", lambda s: publish(s, 90, hours_ago=24 * 7, tags=["Åre", "Umeå"])),
    ("a tag deleted by hand", lambda s: s.execute(delete(Tag).where(Tag.slug == "borlange"))
     and None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "step"), CHANGES, ids=[name for name, _ in CHANGES])
def test_a_past_day_that_changes_is_summed_again(
    newsroom: None, name: str, step: Callable[[Session], None]
) -> None:
    with session_scope() as session:
        assert_clouds_counted(session)  # sums kept
        before = token(session)
    with session_scope() as session:
        step(session)
    with session_scope() as session:
        if name != "a tag deleted by hand":
            assert token(session) != before, "a past day changed: a new token"
        assert_clouds_counted(session)


def test_todays_publishing_keeps_the_token_and_still_counts(newsroom: None) -> None:
    with session_scope() as session:
        assert_clouds_counted(session)
        before = token(session)
    with session_scope() as session:
        publish(session, 91, hours_ago=0, tags=["Borlänge", "Åre"], language="fi")
        change(session, "nyhet-91", tags=["Trafik"])
    with session_scope() as session:
        assert token(session) == before, "only today changed: the kept sums still hold"
        assert_clouds_counted(session)


def test_kept_sums_are_served_from_memory_until_the_token_changes(newsroom: None) -> None:
    since = NOW - timedelta(days=20)
    with session_scope() as session:
        first = {tag.slug: tag.count for tag in tagcloud.tag_cloud(session, since=since)}
    # Behind the service's back: a settled day's count changed without a new token.
    with session_scope() as session:
        old_day = (NOW - timedelta(days=5)).date()
        tag_id = session.scalar(select(Tag.id).where(Tag.slug == "umea"))
        moved = session.execute(
            update(TagDay).where(TagDay.day <= old_day, TagDay.tag_id == tag_id)
            .values(articles=TagDay.articles + 100)
        ).rowcount  # fmt: skip
        assert moved > 0
    with session_scope() as session:
        kept = {tag.slug: tag.count for tag in tagcloud.tag_cloud(session, since=since)}
        assert kept == first, "the settled days were summed from memory"
        daysums.note_change(session)
        summed = {tag.slug: tag.count for tag in tagcloud.tag_cloud(session, since=since)}
        assert summed["umea"] == first["umea"] + 100 * moved


def test_without_a_token_nothing_is_kept(newsroom: None) -> None:
    since = NOW - timedelta(days=20)
    with session_scope() as session:
        session.execute(delete(TagDaysVersion))
        first = {tag.slug: tag.count for tag in tagcloud.tag_cloud(session, since=since)}
        tag_id = session.scalar(select(Tag.id).where(Tag.slug == "umea"))
        moved = session.execute(
            update(TagDay).where(TagDay.day < (NOW - timedelta(days=5)).date(),
                                 TagDay.tag_id == tag_id).values(articles=TagDay.articles + 1)
        ).rowcount  # fmt: skip
        assert moved > 0
        again = {tag.slug: tag.count for tag in tagcloud.tag_cloud(session, since=since)}
        assert again["umea"] == first["umea"] + moved
