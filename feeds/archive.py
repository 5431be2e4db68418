"""Archive slots: each article's place in a feed's RFC 5005 archive, given once.

An article gets the next slot of a feed when it is first seen there published, and keeps
it: retracted, backdated, updated or moved out of the feed, it never shifts the others.
The archive pages are cut from the slots (feeds.query.archive_page).
"""

from __future__ import annotations

from sqlalchemy import exists, func, insert, literal, select
from sqlalchemy.orm import Session

from feeds.keys import FeedKey
from feeds.query import selection
from newsroom.models import ArchiveSlot, Article, ArticleStatus


def place(session: Session, key: FeedKey, article_id: int | None) -> None:
    """Give the feed's published articles that have no slot the next ones.

    ``article_id``: the one article whose change is being followed, the case of every
    publish. None: every article of the feed, oldest first (a rebuild). One statement
    either way; call it under the feed's lock (feeds.refresh), so that two workers never
    hand out the same slot.
    """
    feed = str(key)
    last = select(func.coalesce(func.max(ArchiveSlot.position), 0)).where(
        ArchiveSlot.feed_key == feed
    )
    unplaced = selection(
        key.kind,
        ArticleStatus.PUBLISHED,
        literal(feed),
        last.scalar_subquery()
        + func.row_number().over(order_by=(Article.published_at, Article.id)),
        Article.id,
    ).where(~exists().where(ArchiveSlot.feed_key == feed, ArchiveSlot.article_id == Article.id))
    if article_id is not None:
        unplaced = unplaced.where(Article.id == article_id)
    columns = [ArchiveSlot.feed_key, ArchiveSlot.position, ArchiveSlot.article_id]
    # The tag or language bound in the statement: parameters given to execute() would
    # make an ORM insert a bulk insert of those values.
    session.execute(insert(ArchiveSlot).from_select(columns, unplaced.params(value=key.value)))
