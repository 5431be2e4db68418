"""The tag index (models.TagEntry): each published or retracted article under each of
its tags, kept in step with the article inside the transaction that changes it.

Tag feeds read a page of a tag from it (feeds.query); so whatever changes an article's
status, tags, language, publication or retraction time calls ``sync`` before the commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from newsroom.models import Article, ArticleStatus, TagEntry

# The statuses that some feed shows: an entry, or a tombstone.
INDEXED = (ArticleStatus.PUBLISHED, ArticleStatus.RETRACTED)

_Row = tuple[int, ArticleStatus, str, datetime]  # tag_id, status, language, at


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
