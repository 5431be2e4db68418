"""Editions: who gets which new articles, decided once and kept as rows.

An edition covers the articles whose publication took an outbox position up to
``to_position``. Each subscriber has a ``digest_position``: the articles after it are new
to them. Planning an edition gives every included subscriber one delivery row (unique
per edition) and moves their position to ``to_position`` in the same transaction, so no
article reaches anyone twice, even when they switch frequency.

Subscribers who would get the same articles in the same language share a segment, which
is rendered once; most share one, newcomers and tag filters make a few more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from newsroom import outbox
from newsroom.db import lock
from newsroom.models import (
    Article,
    ArticleStatus,
    Edition,
    EmailDelivery,
    EmailStatus,
    EventKind,
    Frequency,
    OutboxEvent,
    Subscriber,
    SubscriberStatus,
    Tag,
    article_tags,
)

_Row = TypeVar("_Row")

# Rows per INSERT or UPDATE statement: well under SQLite's limit of bound parameters.
_CHUNK = 2000


@dataclass(frozen=True)
class Slot:
    """An edition that is due: its unique key, who it is for, and when it was due."""

    key: str
    frequency: Frequency
    time_zone: str | None = None  # None: subscribers in every time zone


@dataclass
class Segment:
    language: str
    article_ids: tuple[int, ...]
    subscriber_ids: list[int] = field(default_factory=list)


@dataclass
class Plan:
    edition: Edition
    segments: list[Segment]
    passed_over: list[int]  # included, but nothing new matched their filters


def due_slots(
    session: Session, now: datetime, *, window: timedelta, hour: int, weekday: int
) -> list[Slot]:
    """Every edition whose time has come and that was not planned yet."""
    slots = []
    immediate = _immediate_slot(session, now, window)
    if immediate is not None:
        slots.append(immediate)
    zones = session.execute(
        select(Subscriber.frequency, Subscriber.time_zone)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.frequency.in_([Frequency.DAILY, Frequency.WEEKLY]))
        .distinct()
    ).all()
    for frequency, zone in zones:
        local = now.astimezone(ZoneInfo(zone))
        if frequency is Frequency.DAILY and local.hour >= hour:
            slots.append(Slot(f"daily:{zone}:{local.date().isoformat()}", frequency, zone))
        elif frequency is Frequency.WEEKLY and (local.weekday(), local.hour) >= (weekday, hour):
            year, week, _ = local.isocalendar()
            slots.append(Slot(f"weekly:{zone}:{year}-W{week:02d}", frequency, zone))
    planned = set(
        session.scalars(select(Edition.key).where(Edition.key.in_([s.key for s in slots])))
    )
    return [slot for slot in slots if slot.key not in planned]


def _immediate_slot(session: Session, now: datetime, window: timedelta) -> Slot | None:
    """Debounce: the burst's first new article waits ``window``; the rest join it."""
    oldest = session.scalar(
        select(func.min(Subscriber.digest_position))
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.frequency == Frequency.IMMEDIATE)
    )
    if oldest is None:
        return None
    first = session.scalar(
        select(func.min(OutboxEvent.created_at))
        .where(OutboxEvent.kind == EventKind.PUBLISHED)
        .where(OutboxEvent.position > oldest)
    )
    if first is None or now - first < window:
        return None
    # Both ends in the key: a subscriber who switched to immediate while behind the last
    # edition's end makes a new range, not a key that was planned already.
    return Slot(f"immediate:{oldest}-{outbox.last_position(session)}", Frequency.IMMEDIATE)


def manual_slot(frequency: Frequency, now: datetime) -> Slot:
    """`digest send`: an edition now, for every time zone."""
    return Slot(f"{frequency}:manual:{now.isoformat()}", frequency)


def plan(session: Session, slot: Slot, now: datetime, *, max_articles: int) -> Plan | None:
    """The edition's segments and recipients; None if it was planned already."""
    lock(session, "digest:plan")
    if session.scalar(select(Edition.id).where(Edition.key == slot.key)) is not None:
        return None
    to_position = outbox.last_position(session)
    edition = Edition(
        key=slot.key, frequency=slot.frequency, to_position=to_position, planned_at=now
    )
    session.add(edition)
    session.flush()
    segments: dict[tuple[str, tuple[int, ...]], Segment] = {}
    passed_over: list[int] = []
    for (language, tags, since), ids in _groups(session, slot, to_position):
        article_ids = new_articles(
            session,
            language=language,
            tags=tags,
            after=since,
            upto=to_position,
            limit=max_articles,
        )
        if not article_ids:
            passed_over.extend(ids)
            continue
        segment = segments.setdefault(
            (language, article_ids), Segment(language=language, article_ids=article_ids)
        )
        segment.subscriber_ids.extend(ids)
    return Plan(edition=edition, segments=list(segments.values()), passed_over=passed_over)


def _groups(
    session: Session, slot: Slot, to_position: int
) -> Iterator[tuple[tuple[str, tuple[str, ...], int], list[int]]]:
    """Subscribers of the slot, grouped by what decides their articles."""
    query = (
        select(Subscriber.id, Subscriber.language, Subscriber.tags, Subscriber.digest_position)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.frequency == slot.frequency)
        .where(Subscriber.digest_position < to_position)
        .order_by(Subscriber.id)
    )
    if slot.time_zone is not None:
        query = query.where(Subscriber.time_zone == slot.time_zone)
    groups: dict[tuple[str, tuple[str, ...], int], list[int]] = defaultdict(list)
    for subscriber_id, language, tags, since in session.execute(
        query.execution_options(yield_per=_CHUNK)
    ):
        groups[(language, tuple(sorted(tags)), since)].append(subscriber_id)
    yield from sorted(groups.items())


def new_articles(
    session: Session,
    *,
    language: str,
    tags: Sequence[str],
    after: int,
    upto: int,
    limit: int,
) -> tuple[int, ...]:
    """Ids of published articles first published in (after, upto], newest first."""
    query = (
        select(Article.id)
        .join(
            OutboxEvent,
            and_(OutboxEvent.article_id == Article.id, OutboxEvent.kind == EventKind.PUBLISHED),
        )
        .where(OutboxEvent.position <= upto)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.language == language)
        .group_by(Article.id)
        # First published after ``after``: an article unpublished and published again
        # (draft, or rescheduled) has a second PUBLISHED event, and is not news twice.
        .having(func.min(OutboxEvent.position) > after)
        .order_by(func.min(OutboxEvent.position).desc())
        .limit(limit)
    )
    if tags:
        tagged = (
            select(article_tags.c.article_id)
            .join(Tag, Tag.id == article_tags.c.tag_id)
            .where(article_tags.c.article_id == Article.id, Tag.slug.in_(list(tags)))
        )
        query = query.where(exists(tagged))
    return tuple(session.scalars(query))


def record_deliveries(
    session: Session, plan: Plan, segment_ids: Sequence[int], *, batch_size: int, now: datetime
) -> int:
    """One queued delivery per recipient, in batches; returns the number of batches.

    ``segment_ids`` are the stored rows of ``plan.segments``, in the same order.
    """
    edition = plan.edition
    rows = (
        {
            "edition_id": edition.id,
            "segment_id": segment_id,
            "subscriber_id": subscriber_id,
            "batch": index // batch_size,
            "status": EmailStatus.QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for index, (segment_id, subscriber_id) in enumerate(
            (segment_id, subscriber_id)
            for segment_id, segment in zip(segment_ids, plan.segments, strict=True)
            for subscriber_id in segment.subscriber_ids
        )
    )
    recipients = 0
    for chunk in _chunks(rows):
        session.execute(insert(EmailDelivery), chunk)
        recipients += len(chunk)
    included = [sid for segment in plan.segments for sid in segment.subscriber_ids]
    for ids in _chunks(iter(included + plan.passed_over)):
        session.execute(
            update(Subscriber)
            .where(Subscriber.id.in_(ids))
            .values(digest_position=edition.to_position),
            execution_options={"synchronize_session": False},
        )
    edition.recipients = recipients
    edition.batches = -(-recipients // batch_size)
    if recipients == 0:
        edition.finished_at = now
    return edition.batches


def stalled_batches(session: Session, now: datetime, grace: timedelta) -> list[tuple[int, int]]:
    """(edition, batch) pairs with queued deliveries that nobody is sending: lost bells,
    killed workers (their lease ran out), retries whose time has come.

    Their rows are stamped due from ``now``, so the next sweep does not ring them again
    before ``grace`` has passed: a long queue of big batches is not rung every sweep.
    """
    stalled = (
        (EmailDelivery.status == EmailStatus.QUEUED)
        & (EmailDelivery.next_attempt_at <= now - grace)
        & or_(EmailDelivery.leased_until.is_(None), EmailDelivery.leased_until < now)
    )
    rows = session.execute(
        select(EmailDelivery.edition_id, EmailDelivery.batch)
        .where(stalled)
        .distinct()
        .order_by(EmailDelivery.edition_id, EmailDelivery.batch)
        .limit(1000)
    ).all()
    batches = [(edition_id, batch) for edition_id, batch in rows]
    for edition_id, batch in batches:
        session.execute(
            update(EmailDelivery)
            .where(stalled, EmailDelivery.edition_id == edition_id, EmailDelivery.batch == batch)
            .values(next_attempt_at=now),
            execution_options={"synchronize_session": False},
        )
    return batches


def finish(session: Session, now: datetime) -> list[int]:
    """Mark editions with nothing left queued as finished; returns their ids."""
    open_ids = list(session.scalars(select(Edition.id).where(Edition.finished_at.is_(None))))
    done = []
    for edition_id in open_ids:
        queued = session.scalar(
            select(EmailDelivery.id)
            .where(EmailDelivery.edition_id == edition_id)
            .where(EmailDelivery.status == EmailStatus.QUEUED)
            .limit(1)
        )
        if queued is None:
            session.execute(update(Edition).where(Edition.id == edition_id).values(finished_at=now))
            done.append(edition_id)
    return done


def _chunks(rows: Iterator[_Row]) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class Progress:
    edition_id: int
    key: str
    planned_at: datetime
    recipients: int
    sent: int
    queued: int
    failed: int
    finished_at: datetime | None


def progress(session: Session, *, limit: int = 10, unfinished: bool = False) -> list[Progress]:
    """The newest editions and how far their sending has come, for operators."""
    query = select(Edition).order_by(Edition.id.desc()).limit(limit)
    if unfinished:
        query = query.where(Edition.finished_at.is_(None))
    result = []
    for edition in session.scalars(query):
        counts = dict(
            session.execute(
                select(EmailDelivery.status, func.count())
                .where(EmailDelivery.edition_id == edition.id)
                .group_by(EmailDelivery.status)
            ).all()
        )
        result.append(
            Progress(
                edition_id=edition.id,
                key=edition.key,
                planned_at=edition.planned_at,
                recipients=edition.recipients,
                sent=counts.get(EmailStatus.SENT, 0),
                queued=counts.get(EmailStatus.QUEUED, 0),
                failed=counts.get(EmailStatus.FAILED, 0),
                finished_at=edition.finished_at,
            )
        )
    return result
