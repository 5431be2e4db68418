"""Outbox retention: old events are slimmed or deleted, so storage follows what is still
owed instead of growing with history.

Every event carries a whole article snapshot (newsroom/outbox.py); at 50,000 articles the
outbox was 243 MB of an 813 MB database. Who reads an event, and for how long:

- the worker, until the event is handled (the sweeper rings it again until then): an
  unhandled event is never touched, however old;
- a partner push, while a delivery of the event is pending (retries over about three
  days, or a disabled partner's queue): the event is kept whole;
- the pull API (``partners.changes``) and a replay of a delivery: the last
  BUDKAVLE_OUTBOX_RETENTION_DAYS of changes, as the README promises. A cursor from before
  the horizon (the ``OutboxHorizon`` row) gets a 410 that says what to do; so does the
  replay of a delivery whose event was slimmed;
- the partner delivery log (``partners.log``): a finished delivery is kept
  BUDKAVLE_PARTNER_LOG_RETENTION_DAYS, and its event with it, slimmed to ids;
- digests: not the old ones. An article is new by ``Article.first_position`` (kept on
  the article across unpublish and republish), and ``editions._immediate_slot`` reads
  only publications after the immediate subscribers' cursors, minutes old.

The rule, for each handled event created before the retention, walking positions upward
from the horizon (never to the newest position: ``outbox.last_position`` reads it):

====================================================  ==========================
a pending partner delivery refers to it               kept whole
a delivery in the log refers to it                    slimmed: ``payload = {}``
anything else                                         deleted
====================================================  ==========================

and the horizon moves past it in the same transaction, so the pull API never sees a
pruned event without also seeing the horizon that tells it so. Then the log: finished
deliveries older than their retention are deleted with their attempts, and the events
below the horizon they held go by the same rule (deleted).

Each step is a batch of ``BATCH`` rows in its own short transaction, under the lock a
replay takes too (so a replay never sends an event that is being slimmed). On SQLite the
one write lock is thus held for milliseconds at a time (bench/retention.py measures it)
and the pruner pauses between batches, so publishes queue behind one batch at most.
Running it twice, or in two workers at once, prunes nothing twice: each batch starts from
the horizon and the rows as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from config import Settings
from newsroom import outbox
from newsroom.db import lock, session_scope
from newsroom.errors import DomainError
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventKind,
    OutboxEvent,
    OutboxHorizon,
    PartnerDelivery,
)

BATCH = 300
# Between two batches: SQLite's busy handler polls, and a writer that let go of the lock
# and took it back at once would starve everyone else who waits.
PAUSE_SECONDS = 0.02
LOCK = "outbox:prune"
SLIM: dict[str, Any] = {}


class EventGone(DomainError):
    status = 410


@dataclass
class Pruned:
    """What one run did, and the longest it held a transaction (for the benchmark)."""

    deleted: int = 0
    slimmed: int = 0
    kept: int = 0
    log_deleted: int = 0
    batches: int = 0
    longest_seconds: float = 0.0
    horizon: int = 1

    @property
    def changed(self) -> int:
        return self.deleted + self.slimmed + self.log_deleted


def oldest_served(session: Session) -> int:
    """The oldest position the pull API still serves whole: a cursor at ``oldest - 1`` or
    later misses nothing."""
    position = session.scalar(select(OutboxHorizon.position).where(OutboxHorizon.id == 1))
    return position or 1


def prune(
    settings: Settings,
    now: datetime,
    *,
    batch: int = BATCH,
    budget_seconds: float | None = None,
    pause_seconds: float = PAUSE_SECONDS,
) -> Pruned:
    """Move the horizon to the retention, then expire the delivery log; batch by batch,
    until done or ``budget_seconds`` have passed (the next run goes on from there)."""
    cutoff = now - timedelta(days=settings.outbox_retention_days)
    log_cutoff = now - timedelta(days=settings.partner_log_retention_days)
    pruned = Pruned()
    started = time.monotonic()
    steps: list[Callable[[Session], bool]] = [
        lambda session: _advance(session, cutoff, now, batch, pruned),
        lambda session: _expire_log(session, log_cutoff, batch, pruned),
    ]
    for step in steps:
        while True:
            with _transaction(pruned) as session:
                more = step(session)
            if not more:
                break
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                return pruned
            time.sleep(pause_seconds)
    return pruned


@contextmanager
def _transaction(pruned: Pruned) -> Iterator[Session]:
    with session_scope() as session:
        session.connection()  # BEGIN; on SQLite BEGIN IMMEDIATE: the write lock from here
        lock(session, LOCK)
        started = time.perf_counter()
        yield session
    # After the commit: the whole time the batch held its locks.
    pruned.batches += 1
    pruned.longest_seconds = max(pruned.longest_seconds, time.perf_counter() - started)


def _horizon(session: Session) -> OutboxHorizon:
    row = session.get(OutboxHorizon, 1)
    if row is None:  # the migration makes it; a database emptied by hand has none
        row = OutboxHorizon(id=1, position=1)
        session.add(row)
        session.flush()
    return row


def _advance(session: Session, cutoff: datetime, now: datetime, batch: int, pruned: Pruned) -> bool:
    """One batch of events past the horizon; True if there may be more."""
    horizon = _horizon(session)
    newest = outbox.last_position(session)
    # Paged by position, the order the pull API serves (the unique index on it).
    rows = session.execute(
        select(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.position,
               OutboxEvent.created_at, OutboxEvent.handled_at)
        .where(OutboxEvent.position >= horizon.position, OutboxEvent.position < newest)
        .order_by(OutboxEvent.position)
        .limit(batch)
    ).all()  # fmt: skip
    # Up to the first event that is unhandled or recent: the horizon never passes it.
    expired = list(takewhile(lambda r: r.handled_at is not None and r.created_at < cutoff, rows))
    pruned.horizon = horizon.position
    if not expired:
        return False
    _apply(session, [(row.id, row.kind) for row in expired], pruned)
    last = expired[-1].position
    assert last is not None
    horizon.position = pruned.horizon = last + 1
    horizon.moved_at = now
    return len(expired) == batch


def _expire_log(session: Session, cutoff: datetime, batch: int, pruned: Pruned) -> bool:
    """One batch of finished deliveries past the log's retention, and the events below
    the horizon that only they held; True if there may be more."""
    rows = session.execute(
        select(PartnerDelivery.id, PartnerDelivery.event_id)
        .where(PartnerDelivery.created_at < cutoff)
        .where(PartnerDelivery.status != DeliveryStatus.PENDING)  # still owed: never
        .order_by(PartnerDelivery.created_at)
        .limit(batch)
    ).all()
    if not rows:
        return False
    delivery_ids = [row.id for row in rows]
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(delivery_ids)))
    session.execute(delete(PartnerDelivery).where(PartnerDelivery.id.in_(delivery_ids)))
    pruned.log_deleted += len(rows)
    # Events at or after the horizon are left to _advance, when their time comes.
    events = session.execute(
        select(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.payload).where(
            OutboxEvent.id.in_({row.event_id for row in rows}),
            OutboxEvent.position < _horizon(session).position,
        )
    ).all()
    _apply(session, [(e.id, e.kind) for e in events], pruned,
           slim_already={e.id for e in events if e.payload == SLIM})  # fmt: skip
    return len(rows) == batch


def _apply(
    session: Session,
    events: list[tuple[int, EventKind]],
    pruned: Pruned,
    slim_already: Collection[int] = (),
) -> None:
    """The module's rule, for events below (or just passed by) the horizon."""
    ids = [event_id for event_id, _ in events]
    pending = set(
        session.scalars(
            select(PartnerDelivery.event_id)
            .where(PartnerDelivery.event_id.in_(ids))
            .where(PartnerDelivery.status == DeliveryStatus.PENDING)
        )
    )
    in_log = set(
        session.scalars(
            select(OutboxEvent.id).where(
                OutboxEvent.id.in_(ids),
                exists().where(PartnerDelivery.event_id == OutboxEvent.id),
            )
        )
    )
    gone = [i for i, _ in events if i not in in_log]
    slim = [i for i, _ in events if i not in pending and i not in gone and i not in slim_already]
    if gone:
        session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(gone)))
    if slim:
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(slim)).values(payload=SLIM))
    pruned.deleted += len(gone)
    pruned.slimmed += len(slim)
    pruned.kept += len(pending)


def check_replayable(session: Session, delivery: PartnerDelivery, settings: Settings) -> None:
    """A delivery whose event was slimmed cannot be sent again: say so, and what to do.

    Takes the pruner's lock first, so the event cannot be slimmed between this check and
    the replay's commit (after which the delivery is pending, and the pruner keeps it).
    """
    lock(session, LOCK)
    event = session.get(OutboxEvent, delivery.event_id)
    if event is None or event.payload == SLIM:
        days = settings.outbox_retention_days
        raise EventGone(
            "delivery",
            f"delivery {delivery.id} cannot be replayed: its event is older than the "
            f"{days} days of changes kept (BUDKAVLE_OUTBOX_RETENTION_DAYS) and only its ids "
            "remain; the partner re-syncs from its feed (/api/partner/feed.json), or gets "
            "the article again with its next update",
        )
