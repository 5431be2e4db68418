"""The tag index (models.TagEntry): each published or retracted article under each of
its tags, and the counts per tag and day (models.TagDay), kept in step with the article
inside the transaction that changes it.

Tag feeds read a page of a tag from the index (feeds.query), the tag cloud sums the
days of its window (newsroom.tagcloud); so whatever changes an article's status, tags,
language, publication or retraction time calls ``sync`` before the commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsroom import daysums
from newsroom.models import Article, ArticleStatus, TagDay, TagEntry, utcnow

# The statuses that some feed shows: an entry, or a tombstone.
INDEXED = (ArticleStatus.PUBLISHED, ArticleStatus.RETRACTED)

_Row = tuple[int, ArticleStatus, str, datetime]  # tag_id, status, language, at
DayKey = tuple[date, int, str]  # day (UTC), tag_id, language


def sync(session: Session, article: Article) -> None:
    """Make the article's index rows say what the article says now."""
    session.flush()  # the article's id, its new tags' ids and its article_tags rows
    old = {
        (row.tag_id, row.status, row.language, row.at)
        for row in session.execute(
            select(TagEntry.tag_id, TagEntry.status, TagEntry.language, TagEntry.at).where(
                TagEntry.article_id == article.id
            )
        )
    }
    new = set(_rows(article))
    if old == new:
        return
    session.execute(delete(TagEntry).where(TagEntry.article_id == article.id))
    if new:
        session.execute(
            insert(TagEntry),
            [
                {"article_id": article.id, "tag_id": tag_id, "status": status,
                 "language": language, "at": at}
                for tag_id, status, language, at in sorted(new)
            ],
        )  # fmt: skip
    _count_days(session, old, new)


_DAYS = cast(Table, TagDay.__table__)


def _count_days(session: Session, old: set[_Row], new: set[_Row]) -> None:
    """Move the day counts by what the article's published rows were and are now."""
    change: Counter[DayKey] = Counter()
    for rows, sign in ((old, -1), (new, 1)):
        for tag_id, status, language, at in rows:
            if status is ArticleStatus.PUBLISHED:
                change[(at.astimezone(UTC).date(), tag_id, language)] += sign
    add_days(session, change)


def add_days(session: Session, change: Mapping[DayKey, int]) -> None:
    """Add ``change`` to the day counts (one statement), and delete those that reach zero.

    In key order, so that two publishes touching the same days lock them in the same
    order (PostgreSQL), and one waits instead of both deadlocking. A change to a day
    before today replaces the token of the sums the tag cloud keeps (newsroom.daysums).
    A bulk load of published articles (bench/bulkload.py) adds its counts with it too.
    """
    rows = [
        {"day": day, "tag_id": tag_id, "language": language, "articles": articles}
        for (day, tag_id, language), articles in sorted(change.items())
        if articles
    ]
    if not rows:
        return
    if daysums.changes_settled([day for (day, _, _), n in change.items() if n], utcnow()):
        daysums.note_change(session)  # before the counts: the token row is locked first
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), 2000):  # within both databases' parameter limits
        upsert = dialect.insert(_DAYS).values(rows[start : start + 2000])
        session.execute(
            upsert.on_conflict_do_update(
                index_elements=["day", "tag_id", "language"],
                set_={"articles": _DAYS.c.articles + upsert.excluded.articles},
            )
        )
    for day, tag_id, language in (key for key, articles in change.items() if articles < 0):
        session.execute(
            delete(_DAYS).where(
                _DAYS.c.day == day,
                _DAYS.c.tag_id == tag_id,
                _DAYS.c.language == language,
                _DAYS.c.articles <= 0,
            )
        )


def _rows(article: Article) -> list[_Row]:
    if article.status not in INDEXED:
        return []
    if article.status is ArticleStatus.PUBLISHED:
        at = article.published_at
    else:
        # retract() always sets retracted_at; updated_at only stands in for a row that
        # lacks it, as the migration's backfill does.
        at = article.retracted_at or article.updated_at
    assert at is not None  # a published article has its time (articles._apply)
    return [(tag.id, article.status, article.language, at) for tag in article.tags]
