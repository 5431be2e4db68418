"""Rebuild one feed in every format and store what changed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from feeds import archive, query, store
from feeds.keys import FeedKey
from feeds.model import CONTENT_TYPES
from feeds.render import render_every_format
from newsroom.db import lock
from newsroom.models import Article, Tag, utcnow


def refresh(
    session: Session, key: FeedKey, settings: Settings, *, article_id: int | None = None
) -> dict[str, str]:
    """Converge the stored documents of ``key`` on the database; the paths that changed,
    with their new ETags.

    ``article_id``: the article whose change this follows, which gets its archive slot
    here if it is new in the feed, or has its leaving noted there; without it, every
    article that lacks a slot gets one (a rebuild, slower). Two workers may refresh the
    same feed at once for two publishes. The lock makes the second one read after the
    first one wrote, so the newest bytes always win, and slots are given in turn.
    """
    lock(session, f"feed:{key}")
    archive.place(session, key, article_id=article_id, newest=settings.feed_size)
    if article_id is not None:
        archive.note_departure(session, key, article_id=article_id, now=utcnow())
    document = query.current(session, key, settings)
    documents = {
        key.path(fmt): (CONTENT_TYPES[fmt], body)
        for fmt, body in render_every_format(document).items()
    }
    return store.put_if_changed(session, documents, document.updated)


def all_keys(session: Session) -> list[FeedKey]:
    """Every feed there is: all, each tag, each language that has articles."""
    tags = session.scalars(select(Tag.slug).order_by(Tag.slug))
    languages = session.scalars(select(Article.language).distinct().order_by(Article.language))
    return [
        FeedKey("all"),
        *(FeedKey("tags", slug) for slug in tags),
        *(FeedKey("lang", code) for code in languages),
    ]
