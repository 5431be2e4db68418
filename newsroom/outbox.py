"""The outbox: one event row per change, written with the change, handled until done.

The broker only rings a bell with an event id; this table says what is still to do, so
a lost task, a flushed queue or a killed worker delays an event but never loses it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from newsroom.db import lock
from newsroom.models import Article, ArticleStatus, EventKind, OutboxEvent

# Re-ring an unhandled event after this long, doubling per failed attempt, up to a cap.
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
# An event that has not failed is rung again ever more rarely as it ages, but within this
# long however old it is: its bell may have been lost with a flushed queue.
MAX_QUIET = timedelta(minutes=5)


def visibility(article: Article) -> dict[str, Any]:
    """What a consumer needs to know of an article's state before or after a change."""
    return {
        "visible": article.status is ArticleStatus.PUBLISHED,
        "language": article.language,
        "tags": article.tag_slugs,
    }


def snapshot(article: Article) -> dict[str, Any]:
    """The article as it stood at this version: what partners are told, in JSON types."""
    image = None
    if article.image_url:
        image = {"url": article.image_url, "alt": article.image_alt,
                 "caption": article.image_caption}  # fmt: skip
    return {
        "id": article.id,
        "uuid": article.uuid,
        "slug": article.slug,
        "version": article.version,
        "status": str(article.status),
        "language": article.language,
        "title": article.title,
        "summary": article.summary,
        "body_html": article.body_html,
        "tags": [{"slug": tag.slug, "label": tag.label} for tag in article.tags],
        "authors": list(article.authors),
        "image": image,
        "canonical_url": article.canonical_url,
        "published_at": _iso(article.published_at),
        "updated_at": _iso(article.updated_at),
        "retracted_at": _iso(article.retracted_at),
    }


def _told(article: Article, kind: EventKind) -> dict[str, Any]:
    """A retraction carries only what identifies the article: retracted text (a legal
    takedown, a libel) must not travel further with the news of its retraction."""
    full = snapshot(article)
    if kind is not EventKind.RETRACTED:
        return full
    keep = ("id", "uuid", "slug", "version", "status", "language", "canonical_url", "retracted_at")
    return {key: full[key] for key in keep}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def record(
    session: Session,
    article: Article,
    kind: EventKind,
    before: dict[str, Any],
    now: datetime,
    grace: timedelta,
) -> OutboxEvent:
    """Add the event in the caller's transaction; the sweeper rings it after ``grace``."""
    session.flush()  # the article needs its id
    event = OutboxEvent(
        kind=kind,
        article_id=article.id,
        version=article.version,
        payload={"before": before, "after": visibility(article), "article": _told(article, kind)},
        created_at=now,
        next_ring_at=now + grace,
    )
    session.add(event)
    session.flush()
    return event


def assign_position(session: Session, event_id: int) -> int:
    """Give the event its place in the order partners see changes; once, whatever runs twice.

    Under a lock held to the commit, so a reader never sees position n+1 before n: a
    cursor that has passed a position has seen everything before it.
    """
    lock(session, "outbox:position")
    event = session.get(OutboxEvent, event_id)
    if event is None:
        raise LookupError(f"no outbox event {event_id}")
    if event.position is None:
        event.position = last_position(session) + 1
        if event.kind is EventKind.PUBLISHED:
            # When the article became news: the first of its "published" positions, kept
            # if it is unpublished and published again (digests, newsroom/editions.py).
            session.execute(
                update(Article)
                .where(Article.id == event.article_id)
                .where(or_(Article.first_position.is_(None),
                           Article.first_position > event.position))
                .values(first_position=event.position)
            )  # fmt: skip
    return event.position


def last_position(session: Session) -> int:
    """The newest position given: everything at or before it is visible to readers."""
    return session.scalar(select(func.max(OutboxEvent.position))) or 0


def due(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Unhandled events whose bell should ring again, oldest first, pushed back a step.

    The next ring waits as long as the event is old (and longer after failures): an event
    still unhandled is most likely still queued behind others, and ringing it again each
    sweep would add a bell per waiting event per sweep to that very queue. A burst of a
    thousand publishes once fed itself that way and never drained.
    """
    events = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.handled_at.is_(None), OutboxEvent.next_ring_at <= now)
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    for event in events:
        event.next_ring_at = now + max(backoff(event.attempts), quiet(now - event.created_at))
    return [event.id for event in events]


def backoff(attempts: int) -> timedelta:
    delay: timedelta = FIRST_RETRY * 2 ** min(attempts, 16)
    return min(delay, MAX_RETRY)


def quiet(age: timedelta) -> timedelta:
    """How long an event of this age waits for its next bell: its age, within bounds."""
    return min(max(age, FIRST_RETRY), MAX_QUIET)


def mark_started(session: Session, event_id: int, now: datetime) -> None:
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.started_at.is_(None))
        .values(started_at=now)
    )


def earlier_unhandled(session: Session, event: OutboxEvent) -> int | None:
    """An older event of the same article still waiting: it must go first.

    Handling one article's events strictly in turn is what keeps every consumer (feeds,
    positions, partners) from seeing version n after n+1.
    """
    return session.scalar(
        select(OutboxEvent.id)
        .where(
            OutboxEvent.article_id == event.article_id,
            OutboxEvent.id < event.id,
            OutboxEvent.handled_at.is_(None),
        )
        .limit(1)
    )


def next_unhandled(session: Session, event_id: int) -> int | None:
    """The next event of the same article, held back until this one was done."""
    event = session.get(OutboxEvent, event_id)
    if event is None:
        return None
    return session.scalar(
        select(OutboxEvent.id)
        .where(
            OutboxEvent.article_id == event.article_id,
            OutboxEvent.id > event.id,
            OutboxEvent.handled_at.is_(None),
        )
        .order_by(OutboxEvent.id)
        .limit(1)
    )


def mark_handled(session: Session, event_id: int, now: datetime) -> None:
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.handled_at.is_(None))
        .values(handled_at=now, last_error=None)
    )


def record_failure(session: Session, event_id: int, error: str, now: datetime) -> None:
    event = session.get(OutboxEvent, event_id)
    if event is None:
        return
    event.attempts += 1
    event.last_error = error[:4000]
    event.next_ring_at = now + backoff(event.attempts)


def pending_stats(session: Session, now: datetime) -> tuple[int, float]:
    """How many events wait, and the age in seconds of the oldest (for /metrics)."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(
            OutboxEvent.handled_at.is_(None)
        )
    ).one()
    if not count:
        return 0, 0.0
    # SQLite hands back a naive value from an aggregate; it was stored as UTC.
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
    return count, (now - oldest).total_seconds()
