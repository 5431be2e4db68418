"""Editions: who gets which new articles, decided once and kept as rows.

An edition covers the articles whose publication took an outbox position up to
``to_position``. Each subscriber has a ``digest_position``: the articles after it are new
to them. Planning an edition gives every included subscriber one delivery row (unique
per edition) and moves their position to ``to_position`` in the same transaction, so no
article reaches anyone twice, even when they switch frequency.

That transaction is one of many short ones: the edition's row comes first, then its
subscribers a few thousand at a time (record_deliveries), so a big edition never holds
SQLite's one write lock for long. Whoever is still behind ``to_position`` is still to
plan; a worker that dies midway leaves the rest to the sweeper, which plans it again.

Subscribers who would get the same articles in the same language share a segment, which
is rendered once; most share one, newcomers and tag filters make a few more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Table,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsroom import outbox, selection
from newsroom.db import lock
from newsroom.models import (
    Edition,
    EmailDelivery,
    EmailStatus,
    EventKind,
    Frequency,
    OutboxEvent,
    Subscriber,
    SubscriberStatus,
)
from newsroom.selection import (  # this module's since before: the CLI's preview uses it
    new_articles as new_articles,
)

_subscribers = cast(Table, Subscriber.__table__)
_deliveries = cast(Table, EmailDelivery.__table__)

# Rows fetched at a time while reading the subscribers.
_CHUNK = 2000


@dataclass(frozen=True)
class Slot:
    """An edition that is due: its unique key, who it is for, and when it was due."""

    key: str
    frequency: Frequency
    time_zone: str | None = None  # None: subscribers in every time zone


Recipient = tuple[int, int]  # (subscriber id, the digest_position the plan read)


@dataclass
class Segment:
    language: str
    article_ids: tuple[int, ...]
    recipients: list[Recipient] = field(default_factory=list)


@dataclass
class Plan:
    to_position: int
    segments: list[Segment]
    passed_over: list[Recipient]  # included, but nothing new matched their filters


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


def slot_of(edition: Edition) -> Slot:
    """The slot an edition was planned for, from its key (see due_slots, manual_slot)."""
    return Slot(edition.key, edition.frequency, zone_of(edition.key))


def zone_of(key: str) -> str | None:
    """'daily:Europe/Helsinki:2026-11-26', 'weekly:UTC:2026-W48': that zone. Manual keys
    ('daily:manual:' and an ISO time, with colons) and immediate ones: None, every zone."""
    parts = key.split(":")
    return parts[1] if len(parts) == 3 and parts[1] != "manual" else None


def open_edition(session: Session, slot: Slot, now: datetime, lease: timedelta) -> int | None:
    """The edition's row, leased to the caller for planning; None if it exists already.

    Short: the lock is held only to take ``to_position`` and the key. Planning itself
    reads outside any write transaction and writes in batches (record_deliveries).
    """
    lock(session, "digest:plan")
    if session.scalar(select(Edition.id).where(Edition.key == slot.key)) is not None:
        return None
    edition = Edition(
        key=slot.key,
        frequency=slot.frequency,
        to_position=outbox.last_position(session),
        planned_at=now,
        plan_lease_until=now + lease,
    )
    session.add(edition)
    session.flush()
    return edition.id


def stalled_plans(session: Session, now: datetime, lease: timedelta) -> list[int]:
    """Editions whose planning stopped midway (a killed worker: its lease ran out), each
    leased again to the caller, who finishes them."""
    stalled = (
        Edition.plan_done_at.is_(None),
        or_(Edition.plan_lease_until.is_(None), Edition.plan_lease_until < now),
    )
    ids = list(session.scalars(select(Edition.id).where(*stalled).order_by(Edition.id)))
    if ids:
        session.execute(
            update(Edition)
            .where(Edition.id.in_(ids), *stalled)
            .values(plan_lease_until=now + lease),
            execution_options={"synchronize_session": False},
        )
    return ids


def plan(session: Session, edition: Edition, *, max_articles: int) -> Plan:
    """Who gets which articles: every subscriber of the slot still behind the edition.

    Read only, and safe to run again after a part of it was recorded: those already
    recorded have moved to ``to_position`` and are no longer behind.
    """
    to_position = edition.to_position
    members: dict[tuple[str, tuple[str, ...]], dict[int, list[int]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for subscriber_id, language, tags, since in _behind(session, slot_of(edition), to_position):
        members[(language, tuple(sorted(tags)))][since].append(subscriber_id)
    audiences = {
        key: selection.Audience(key[0], key[1], min(by_since)) for key, by_since in members.items()
    }
    selection.choose(session, list(audiences.values()), upto=to_position, limit=max_articles)
    segments: dict[tuple[str, tuple[int, ...]], Segment] = {}
    passed_over: list[Recipient] = []
    for key in sorted(members):
        audience = audiences[key]
        for since, ids in sorted(members[key].items()):
            article_ids = audience.articles_since(since)
            if not article_ids:
                passed_over.extend((subscriber_id, since) for subscriber_id in ids)
                continue
            segment = segments.setdefault(
                (audience.language, article_ids), Segment(audience.language, article_ids)
            )
            segment.recipients.extend((subscriber_id, since) for subscriber_id in ids)
    for segment in segments.values():
        segment.recipients.sort()
    return Plan(to_position, list(segments.values()), sorted(passed_over))


def _behind(
    session: Session, slot: Slot, to_position: int
) -> Iterator[tuple[int, str, list[str], int]]:
    """(id, language, tags, digest_position) of each subscriber of the slot still behind."""
    query = (
        select(Subscriber.id, Subscriber.language, Subscriber.tags, Subscriber.digest_position)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.frequency == slot.frequency)
        .where(Subscriber.digest_position < to_position)
    )
    if slot.time_zone is not None:
        query = query.where(Subscriber.time_zone == slot.time_zone)
    for row in session.execute(query.execution_options(yield_per=_CHUNK)):
        yield row[0], row[1], row[2], row[3]


def record_deliveries(
    session: Session,
    edition_id: int,
    chunk: Sequence[tuple[int | None, Recipient]],
    *,
    batch_size: int,
    now: datetime,
    lease: timedelta,
) -> int:
    """One short transaction of the plan: a queued delivery per recipient of ``chunk``
    ((segment id, recipient); segment None: passed over), and their positions moved on.

    A recipient counts only if its position is still the one the plan read: run twice,
    or after another worker took over, nothing is recorded twice; moved meanwhile by
    another edition, it is left to the next. Returns how many deliveries it queued.
    """
    edition = session.get(Edition, edition_id, with_for_update=True)
    assert edition is not None
    planned = {subscriber_id: since for _, (subscriber_id, since) in chunk}
    # Core statements, two per chunk: the ORM's per-row work cost more than the rows.
    # FOR UPDATE (PostgreSQL): nobody moves them between this read and the update.
    current = session.execute(
        select(_subscribers.c.id, _subscribers.c.digest_position)
        .where(_among(session, _subscribers.c.id, list(planned)))
        .with_for_update()
    ).all()
    moved = {subscriber_id for subscriber_id, position in current
             if planned[subscriber_id] == position}  # fmt: skip
    if moved:
        session.execute(
            update(_subscribers)
            .where(_among(session, _subscribers.c.id, sorted(moved)))
            .values(digest_position=edition.to_position)
        )
    rows = [
        {
            "edition_id": edition_id,
            "segment_id": segment_id,
            "subscriber_id": subscriber_id,
            "batch": (edition.recipients + index) // batch_size,
            "status": EmailStatus.QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for index, (segment_id, subscriber_id) in enumerate(
            (segment_id, subscriber_id)
            for segment_id, (subscriber_id, _) in chunk
            if segment_id is not None and subscriber_id in moved
        )
    ]
    if rows:
        session.execute(insert(_deliveries), rows)
    edition.recipients += len(rows)
    edition.batches = -(-edition.recipients // batch_size)
    edition.plan_lease_until = now + lease
    return len(rows)


def _among(session: Session, column: ColumnElement[int], ids: list[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``= ANY(array)``, one parameter: a query with
    thousands of parameters cost psycopg more to parse than the server to run."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def finish_plan(session: Session, edition_id: int, now: datetime) -> int:
    """Every recipient has its row: the edition is planned. Returns its number of batches."""
    edition = session.get(Edition, edition_id)
    assert edition is not None
    if edition.plan_done_at is None:
        edition.plan_done_at = now
        edition.plan_lease_until = None
        if edition.recipients == 0:
            edition.finished_at = now
    return edition.batches


def renew_plan_lease(session: Session, edition_id: int, now: datetime, lease: timedelta) -> None:
    session.execute(
        update(Edition).where(Edition.id == edition_id).values(plan_lease_until=now + lease)
    )


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
    open_ids = list(
        session.scalars(
            select(Edition.id)
            .where(Edition.finished_at.is_(None))
            .where(Edition.plan_done_at.is_not(None))  # still planning: more rows to come
        )
    )
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
