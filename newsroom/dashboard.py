"""What the desk's dashboard charts: counts per hour and per day over a recent window, from
the rows the work leaves behind. Aggregates only: no query here returns a reader.

Every query is bounded by time and is a range of an index on that time (migration 0015,
and ix_outbox_pending for handled events), so a dashboard costs the same in year two as
on day one. Counting is done per UTC hour in the database; days in the newsroom's time
zone are summed from those hours here (exact for every zone whose offset is whole hours,
which covers the Nordic ones).

The counts of hours that are over are kept in this process for a few minutes (``_kept``):
counting a month of sends walks one index entry per email, some 60 ms per 100k emails on
PostgreSQL, and an hour that is over does not change, so a reload counts only the hours
since. Rows deleted later (an erased subscriber's emails) leave the kept counts at most
KEEP_FOR out of date.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, cast, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from newsroom import outbox
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EmailDelivery,
    EmailStatus,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
    ProcessedReport,
)

HOURS = 48
DAYS = 30
HOUR = timedelta(hours=1)
# A row's time is set by the worker before its commit: after this long, an hour is over.
SETTLE = timedelta(minutes=5)
KEEP_FOR = 300.0  # seconds


@dataclass(frozen=True)
class EmailHour:
    hour: datetime  # its start, UTC
    sent: int
    failed: int


@dataclass(frozen=True)
class LatencyHour:
    hour: datetime
    events: int
    p50: float | None  # seconds; None: no event reached the feed that hour
    p99: float | None


@dataclass(frozen=True)
class Queues:
    outbox: int  # events not yet handled
    emails: int  # digest emails queued
    partners_due: int  # partner deliveries pending whose time has come (active partners)


@dataclass(frozen=True)
class MailDay:
    day: date  # in the newsroom's time zone
    sent: int
    bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float | None:
        return self.bounces / self.sent if self.sent else None

    @property
    def complaint_rate(self) -> float | None:
        return self.complaints / self.sent if self.sent else None


@dataclass(frozen=True)
class PartnerHour:
    hour: datetime
    attempts: int
    failed: int


def hour_starts(now: datetime, count: int = HOURS) -> list[datetime]:
    """The last ``count`` hours, oldest first, ending with the one ``now`` is in."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - HOUR * back for back in range(count - 1, -1, -1)]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least ``share`` of them reach
    (so the p99 of fewer than a hundred events is the slowest one)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _hour_number(session: Session, column: InstrumentedAttribute[datetime | None]
                 ) -> ColumnElement[int]:  # fmt: skip
    """Hours since the Unix epoch of a stored time, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 3600), Integer)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC; %s reads it as seconds since 1970.
    return cast(cast(func.strftime("%s", column), Integer) / 3600, Integer)


def _per_hour(
    session: Session,
    column: InstrumentedAttribute[datetime | None],
    since: datetime,
    *conditions: ColumnElement[bool],
    counted: InstrumentedAttribute[int] | None = None,
) -> dict[datetime, int]:
    hour = _hour_number(session, column).label("hour")
    total = func.count() if counted is None else func.coalesce(func.sum(counted), 0)
    rows = session.execute(
        select(hour, total).where(column >= since, *conditions).group_by(hour)
    ).all()
    return {datetime.fromtimestamp(int(number) * 3600, UTC): int(n) for number, n in rows}


@dataclass(frozen=True)
class _Kept:
    stored: float  # time.monotonic()
    since: datetime
    until: datetime  # the hours in [since, until) are counted, and over
    counts: dict[datetime, int]


_kept: dict[tuple[str, str], _Kept] = {}
_guard = threading.Lock()


def forget() -> None:
    """Drop the kept counts (tests that change past hours' rows)."""
    with _guard:
        _kept.clear()


def _hourly(
    session: Session,
    name: str,
    column: InstrumentedAttribute[datetime | None],
    since: datetime,
    now: datetime,
    *conditions: ColumnElement[bool],
    counted: InstrumentedAttribute[int] | None = None,
) -> dict[datetime, int]:
    """Counts per hour since ``since``: the hours that are over from memory, if kept."""
    bind = session.get_bind()
    key = (str(bind.engine.url), name)  # a test's two databases each have their own
    over = (now - SETTLE).replace(minute=0, second=0, microsecond=0)
    with _guard:
        kept = _kept.get(key)
    if kept is not None and kept.since <= since and time.monotonic() - kept.stored < KEEP_FOR:
        recent = _per_hour(session, column, kept.until, *conditions, counted=counted)
        return {hour: n for hour, n in kept.counts.items() if hour >= since} | recent
    counts = _per_hour(session, column, since, *conditions, counted=counted)
    settled = {hour: n for hour, n in counts.items() if hour < over}
    with _guard:
        _kept[key] = _Kept(time.monotonic(), since, over, settled)
    return counts


def emails(session: Session, now: datetime) -> list[EmailHour]:
    """Digest emails the server accepted, and those it refused for good, per hour."""
    starts = hour_starts(now)
    sent = _hourly(session, "sent", EmailDelivery.sent_at, starts[0], now)
    failed = _hourly(session, "failed", EmailDelivery.failed_at, starts[0], now)
    return [EmailHour(hour, sent.get(hour, 0), failed.get(hour, 0)) for hour in starts]


def latency(session: Session, now: datetime) -> list[LatencyHour]:
    """How long a change took to reach the "all" feed, per hour it got there.

    From the event's creation (the publish's commit) to ``started_at``, when the worker
    had rebuilt the "all" feed (worker/events.py, step one). Read over the events handled
    since the window began: a range of ix_outbox_pending, and no more rows than the
    newsroom published in two days.
    """
    starts = hour_starts(now)
    rows = session.execute(
        select(OutboxEvent.created_at, OutboxEvent.started_at, OutboxEvent.handled_at).where(
            OutboxEvent.handled_at >= starts[0]
        )
    ).all()
    waits: dict[datetime, list[float]] = {}
    for created, started, handled in rows:
        reached = started or handled
        if reached is None or reached < starts[0]:  # (handled is set: the query asks for it)
            continue
        hour = reached.replace(minute=0, second=0, microsecond=0)
        waits.setdefault(hour, []).append(max(0.0, (reached - created).total_seconds()))
    result = []
    for hour in starts:
        found = waits.get(hour, [])
        if found:
            result.append(
                LatencyHour(hour, len(found), percentile(found, 0.5), percentile(found, 0.99))
            )
        else:
            result.append(LatencyHour(hour, 0, None, None))
    return result


def queues(session: Session, now: datetime) -> Queues:
    """What waits now: index ranges over open work only (as /metrics counts it)."""
    waiting, _ = outbox.pending_stats(session, now)
    queued = session.scalar(
        select(func.count()).where(EmailDelivery.status == EmailStatus.QUEUED)
    )
    due = session.scalar(
        select(func.count())
        .select_from(PartnerDelivery)
        .join(Partner, Partner.id == PartnerDelivery.partner_id)
        .where(
            PartnerDelivery.status == DeliveryStatus.PENDING,
            PartnerDelivery.next_attempt_at <= now,
            Partner.state == PartnerState.ACTIVE,
        )
    )
    return Queues(waiting, queued or 0, due or 0)


def mail_days(session: Session, now: datetime, zone: ZoneInfo) -> list[MailDay]:
    """Per day of the last thirty (in ``zone``): emails sent, hard bounces, complaints."""
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], datetime.min.time(), zone).astimezone(UTC)
    sent = _fold(_hourly(session, "sent", EmailDelivery.sent_at, since, now).items(), zone)
    bounces = _fold(
        _hourly(session, "bounces", ProcessedReport.processed_at, since, now,
                counted=ProcessedReport.bounces).items(), zone,
    )  # fmt: skip
    complaints = _fold(
        _hourly(session, "complaints", ProcessedReport.processed_at, since, now,
                counted=ProcessedReport.complaints).items(), zone,
    )  # fmt: skip
    return [
        MailDay(day, sent.get(day, 0), bounces.get(day, 0), complaints.get(day, 0))
        for day in days
    ]


def _fold(hours: Iterable[tuple[datetime, int]], zone: ZoneInfo) -> dict[date, int]:
    days: dict[date, int] = {}
    for hour, count in hours:
        day = hour.astimezone(zone).date()
        days[day] = days.get(day, 0) + count
    return days


def partner_failures(session: Session, now: datetime) -> list[PartnerHour]:
    """Push attempts per hour, and those that failed (no answer, or not a 2xx)."""
    starts = hour_starts(now)
    column = DeliveryAttempt.attempted_at
    attempts = _hourly(session, "attempts", column, starts[0], now)
    failed = _hourly(
        session, "attempts failed", column, starts[0], now,
        or_(DeliveryAttempt.status_code.is_(None), DeliveryAttempt.status_code < 200,
            DeliveryAttempt.status_code >= 300),
    )  # fmt: skip
    return [PartnerHour(hour, attempts.get(hour, 0), failed.get(hour, 0)) for hour in starts]
