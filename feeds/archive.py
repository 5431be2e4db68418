"""Archive slots: each article's place in a feed's RFC 5005 archive, given once.

An article gets the next slot of a feed when it is first seen there published, and keeps
it: retracted, backdated, updated or moved out of the feed, it never shifts the others.
The archive pages are cut from the slots (feeds.query.archive_page).
"""

from __future__ import annotations

from sqlalchemy import exists, func, insert, select
from sqlalchemy.orm import Session

from feeds.keys import FeedKey
from feeds.query import selection
from newsroom.models import ArchiveSlot, Article, ArticleStatus


def place(session: Session, key: FeedKey, article_id: int | None) -> int:
    """Give the feed's published articles that have no slot the next ones; how many.

    ``article_id``: the one article whose change is being followed, the cheap case of every
    publish. None: every article of the feed, oldest first (a rebuild). Call it under the
    feed's lock (feeds.refresh), so two workers never hand out the same slot.
    """
    feed = str(key)
    unplaced = (
        selection(key.kind, ArticleStatus.PUBLISHED, Article.id)
        .where(
            ~exists().where(ArchiveSlot.feed_key == feed, ArchiveSlot.article_id == Article.id)
        )
        .order_by(Article.published_at, Article.id)
    )
    if article_id is not None:
        unplaced = unplaced.where(Article.id == article_id)
    ids = session.scalars(unplaced, {"value": key.value}).all()
    if ids:
        last = session.scalar(
            select(func.max(ArchiveSlot.position)).where(ArchiveSlot.feed_key == feed)
        )
        session.execute(
            insert(ArchiveSlot),
            [
                {"feed_key": feed, "position": position, "article_id": id_}
                for position, id_ in enumerate(ids, start=(last or 0) + 1)
            ],
        )
    return len(ids)
