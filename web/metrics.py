"""What /metrics reads at scrape time, shared by every process: gauges from the database,
counters from the totals the workers keep in Redis (worker/tallies.py says why there).

Every database query here is an index range over work still open (queued emails, pending
deliveries, unhandled events) or a small table (partners); none counts history, so a
scrape costs the same in year two as on day one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from newsroom import outbox
from newsroom.db import session_scope
from newsroom.models import (
    Article,
    DeliveryStatus,
    Edition,
    EmailDelivery,
    EmailStatus,
    Partner,
    PartnerDelivery,
    PartnerState,
    Subscriber,
    utcnow,
)
from worker import tallies

log = logging.getLogger(__name__)

# name, help, the tally fields "what:label" it sums, and its label's name (if any). Every
# series is shown from the start, at zero, so rate() sees its first increase.
COUNTERS = (
    ("budkavle_emails_sent", "Emails the SMTP server (or the outbox folder) accepted",
     "emails_sent", "kind", ("digest", "notice")),
    ("budkavle_emails_failed", "Emails refused for good (5xx, or 4xx for two days)",
     "emails_failed", "kind", ("digest", "notice")),
    ("budkavle_emails_deferred", "Send attempts that failed for now (4xx, timeout): retried",
     "emails_deferred", "kind", ("digest", "notice")),
    ("budkavle_emails_bounced", "Hard bounces received about emails we sent",
     "emails_bounced", "", ()),
    ("budkavle_emails_complained", "Spam complaints received about emails we sent",
     "emails_complained", "", ()),
    ("budkavle_partner_pushes", "Push attempts to partners, by what came of them",
     "partner_pushes", "outcome", ("delivered", "retry", "failed", "gone")),
    ("budkavle_partners_disabled", "Partners disabled (410 Gone, or failing for days)",
     "partners_disabled", "", ()),
    ("budkavle_websub_pushes", "WebSub content distributions, by what came of them",
     "websub_pushes", "outcome", ("delivered", "failed", "gone")),
)  # fmt: skip
SWEEPS = ("outbox", "scheduled", "partners", "websub", "digests")


class StateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        try:
            with session_scope() as session:
                gauges = list(_database_gauges(session, utcnow()))
        except Exception as exc:  # a scrape during a database outage still answers
            log.warning("metrics: database unavailable: %s", exc)
            gauges = []
        yield from gauges
        try:
            totals, swept = tallies.totals(), tallies.sweeps()
        except Exception as exc:  # Redis away: no counters rather than zeros (a false reset)
            log.warning("metrics: Redis unavailable: %s", exc)
            return
        yield from _counters(totals)
        lag = GaugeMetricFamily(
            "budkavle_sweeper_lag_seconds",
            "Seconds since each sweeper last finished a run (alert well above the interval)",
            labels=["sweep"],
        )
        now = time.time()
        for sweep in SWEEPS:
            if sweep in swept:
                lag.add_metric([sweep], max(0.0, now - swept[sweep]))
        yield lag


def _counters(totals: dict[str, int]) -> Iterator[Metric]:
    for name, help_text, field, label, values in COUNTERS:
        counter = CounterMetricFamily(name, help_text, labels=[label] if label else None)
        if label:
            for value in values:
                counter.add_metric([value], totals.get(f"{field}:{value}", 0))
        else:
            counter.add_metric([], totals.get(field, 0))
        yield counter


def _database_gauges(session: Session, now: datetime) -> Iterator[Metric]:
    pending, age = outbox.pending_stats(session, now)
    yield GaugeMetricFamily(
        "budkavle_outbox_pending_events", "Outbox events not yet handled", value=pending
    )
    yield GaugeMetricFamily(
        "budkavle_outbox_oldest_pending_seconds", "Age of the oldest unhandled outbox event",
        value=age,
    )  # fmt: skip
    articles = select(Article.status, func.count()).group_by(Article.status)
    yield _by("budkavle_articles", "Articles by status", "status", session.execute(articles))
    readers = select(Subscriber.status, func.count()).group_by(Subscriber.status)
    yield _by("budkavle_subscribers", "Subscribers by status", "status", session.execute(readers))
    yield from _email_gauges(session, now)
    yield from _partner_gauges(session, now)


def _email_gauges(session: Session, now: datetime) -> Iterator[Metric]:
    # The queued rows only (an index range on status), never every email ever sent. The
    # oldest is the one of the earliest edition (ids grow with planned_at): its age since
    # it was planned, which a retry does not reset, unlike next_attempt_at.
    queued, first_edition = session.execute(
        select(func.count(), func.min(EmailDelivery.edition_id)).where(
            EmailDelivery.status == EmailStatus.QUEUED
        )
    ).one()
    edition = session.get(Edition, first_edition) if first_edition else None
    planned = edition.planned_at if edition is not None else None
    yield GaugeMetricFamily(
        "budkavle_emails_queued", "Digest emails planned and not yet sent", value=queued
    )
    yield GaugeMetricFamily(
        "budkavle_emails_oldest_queued_seconds",
        "How long the oldest digest email still queued has waited since it was planned",
        value=_age(now, planned),
    )


def _partner_gauges(session: Session, now: datetime) -> Iterator[Metric]:
    # Pending and failed rows: index ranges of ix_partner_deliveries_due (status, ...).
    active = Partner.state == PartnerState.ACTIVE
    due = (PartnerDelivery.next_attempt_at <= now) & active
    pending, due_count, oldest_due = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((due, 1), else_=0)), 0),
            func.min(case((due, PartnerDelivery.next_attempt_at), else_=None)),
        )
        .join(Partner, Partner.id == PartnerDelivery.partner_id)
        .where(PartnerDelivery.status == DeliveryStatus.PENDING)
    ).one()
    failed = session.scalar(
        select(func.count()).where(PartnerDelivery.status == DeliveryStatus.FAILED)
    )
    deliveries = GaugeMetricFamily(
        "budkavle_partner_deliveries",
        "Partner deliveries not delivered: pending (due: pending and its time has come, for "
        "an active partner) and failed (retries ran out; `budkavle partners replay`)",
        labels=["state"],
    )
    for state, count in (("pending", pending), ("due", due_count), ("failed", failed or 0)):
        deliveries.add_metric([state], count)
    yield deliveries
    yield GaugeMetricFamily(
        "budkavle_partner_deliveries_oldest_due_seconds",
        "How long the longest-waiting due partner delivery has been due",
        value=_age(now, oldest_due),
    )
    states = dict.fromkeys((str(state) for state in PartnerState), 0)
    by_state = select(Partner.state, func.count()).group_by(Partner.state)
    for state, count in session.execute(by_state):
        states[str(state)] = count
    yield _by("budkavle_partners", "Partners by state (disabled: pushes stopped)", "state",
              states.items())  # fmt: skip


def _by(name: str, help_text: str, label: str, rows: Iterable[Any]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, help_text, labels=[label])
    for value, count in rows:
        gauge.add_metric([str(value)], count)
    return gauge


def _age(now: datetime, then: datetime | str | None) -> float:
    if then is None:
        return 0.0
    if isinstance(then, str):  # SQLite gives an aggregate of a CASE back as text
        then = datetime.fromisoformat(then)
    then = then if then.tzinfo else then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())
