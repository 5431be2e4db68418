"""Archive slots: each article's place in a feed's RFC 5005 archive, given once.

An article gets the next slot of a feed when the worker follows its publication there
(or, at the latest, a rebuild), and keeps it: retracted, backdated, updated or moved out
of the feed, it never shifts the others. When it leaves the feed, its slot notes the time,
which its tombstone shows.
The archive pages are cut from the slots (feeds.query.archive_page).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Insert,
    Integer,
    String,
    Table,
    Update,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from feeds.keys import FeedKey
from feeds.query import feed_params, newest_first, selection
from newsroom.models import ArchiveSlot, Article, ArticleStatus, TagEntry, UTCDateTime

_SLOTS = cast(Table, ArchiveSlot.__table__)


def place(session: Session, key: FeedKey, *, article_id: int | None, newest: int) -> None:
    """Give the feed's published articles that have no slot the next ones.

    ``article_id``: the article whose change is being followed, the case of every publish;
    with it, any of the feed's ``newest`` articles without a slot (one whose event a
    worker without slots handled, during an upgrade) gets one too. None: every article
    of the feed, oldest first (a rebuild). One statement either way; call it under the
    feed's lock (feeds.refresh), so that two workers never hand out the same slot.
    """
    params = {**feed_params(session, key), "feed": str(key), "article": article_id}
    params["newest"] = newest
    session.execute(_placing(key.kind, one=article_id is not None), params)


def note_departure(session: Session, key: FeedKey, *, article_id: int, now: datetime) -> None:
    """Note in the article's slot whether it has left the feed: ``now`` when it has just
    left (a second run keeps the first time), nothing when it is back."""
    params = {**feed_params(session, key), "feed": str(key), "article": article_id, "now": now}
    session.execute(_noting(key.kind), params)


@cache
def _noting(kind: str) -> Update:
    """UPDATE of the slot of "article" in "feed", built once per kind of feed; it writes
    only when the article has come or gone since the last time."""
    in_feed = (
        selection(kind, ArticleStatus.PUBLISHED, Article.id)
        .where(Article.id == _SLOTS.c.article_id)
        .exists()
    )
    left_at = _SLOTS.c.left_at
    return (
        update(_SLOTS)
        .where(
            _SLOTS.c.feed_key == bindparam("feed", type_=String),
            _SLOTS.c.article_id == bindparam("article", type_=Integer),
            or_(and_(left_at.is_(None), ~in_feed), and_(left_at.is_not(None), in_feed)),
        )
        .values(left_at=case((left_at.is_(None), bindparam("now", type_=UTCDateTime)), else_=None))
    )


@cache
def _placing(kind: str, *, one: bool) -> Insert:
    """INSERT ... SELECT, built once per kind of feed. Parameters: feed (the key), value
    (the tag or language) and, when ``one``, article and newest (how many of the newest
    articles to look at)."""
    feed = bindparam("feed", type_=String)
    last = select(func.max(_SLOTS.c.position)).where(_SLOTS.c.feed_key == feed)
    unplaced = selection(
        kind,
        ArticleStatus.PUBLISHED,
        feed,
        func.coalesce(last.scalar_subquery(), 0)
        + func.row_number().over(order_by=_oldest_first(kind)),
        Article.id,
    ).where(~exists().where(_SLOTS.c.feed_key == feed, _SLOTS.c.article_id == Article.id))
    if one:
        # Read from the candidates' ids, so that neither database reads every article.
        newest = (
            selection(kind, ArticleStatus.PUBLISHED, Article.id)
            .order_by(*newest_first(kind, ArticleStatus.PUBLISHED))
            .limit(bindparam("newest"))
            .correlate(None)
            .subquery()
        )
        candidates = union(
            select(bindparam("article", type_=Integer).label("id")), select(newest.c.id)
        ).subquery()
        if kind == "tags":  # selection() reads from the tag index, joined to the articles
            unplaced = unplaced.join(candidates, candidates.c.id == TagEntry.article_id)
        else:
            unplaced = unplaced.select_from(candidates).join(
                Article, Article.id == candidates.c.id
            )
    # The table, not the mapped class: parameters given with an ORM insert would make it
    # a bulk insert of those values.
    return insert(_SLOTS).from_select(["feed_key", "position", "article_id"], unplaced)


def _oldest_first(kind: str) -> tuple[Any, ...]:
    """newest_first's order of published articles, reversed: the order slots are given in."""
    if kind == "tags":
        return (TagEntry.at, TagEntry.article_id)
    return (Article.published_at, Article.id)
