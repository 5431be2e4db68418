"""How each partner is doing, for the desk: last success, failures in a row, what waits.

Read from the delivery rows and their attempts, grouped per partner in a few queries
whatever the number of partners, never one query per partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
)


@dataclass(frozen=True)
class PartnerHealth:
    partner: Partner
    last_success: datetime | None
    failures_in_a_row: int  # attempts since the run of failures began (failing_since)
    next_attempt: datetime | None
    pending: int
    failed: int

    @property
    def needs_attention(self) -> bool:
        return (
            self.partner.state is PartnerState.DISABLED
            or self.partner.failing_since is not None
            or self.failed > 0
        )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back a naive value from an aggregate; it was stored as UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def health(session: Session, partner_id: int | None = None) -> list[PartnerHealth]:
    """Every partner (or one), by name, with the figures an operator looks for first."""
    query = select(Partner).order_by(Partner.name)
    if partner_id is not None:
        query = query.where(Partner.id == partner_id)
    found = session.scalars(query).all()
    ids = [partner.id for partner in found]
    if not ids:
        return []
    by = PartnerDelivery.partner_id
    # Each figure from an index, never by aggregating the whole log (90 days of every
    # partner's deliveries): the last success per partner from (partner_id, delivered_at),
    # the rest from the deliveries still owed or given up, which ix_partner_deliveries_due
    # finds among the delivered many.
    last = (
        select(func.max(PartnerDelivery.delivered_at))
        .where(by == Partner.id)
        .correlate(Partner)
        .scalar_subquery()
    )
    successes: dict[int, datetime | None] = {
        partner_id: success
        for partner_id, success in session.execute(
            select(Partner.id, last).where(Partner.id.in_(ids))
        )
    }
    unfinished = PartnerDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED])
    rows = session.execute(
        select(
            by,
            func.min(PartnerDelivery.next_attempt_at).filter(
                PartnerDelivery.status == DeliveryStatus.PENDING
            ),
            func.count().filter(PartnerDelivery.status == DeliveryStatus.PENDING),
            func.count().filter(PartnerDelivery.status == DeliveryStatus.FAILED),
        )
        .where(by.in_(ids), unfinished)
        .group_by(by)
    ).all()
    figures = {row[0]: row[1:] for row in rows}
    # Attempts since the run of failures began: only an unfinished delivery has any, as a
    # delivery that succeeded meanwhile ended the run (push.py clears failing_since).
    in_a_row: dict[int, int] = {
        partner_id: count
        for partner_id, count in session.execute(
            select(by, func.count())
            .join(DeliveryAttempt, DeliveryAttempt.delivery_id == PartnerDelivery.id)
            .join(Partner, Partner.id == by)
            .where(
                by.in_(ids),
                unfinished,
                Partner.failing_since.is_not(None),
                DeliveryAttempt.attempted_at >= Partner.failing_since,
            )
            .group_by(by)
        )
    }
    result = []
    for partner in found:
        upcoming, pending, failed = figures.get(partner.id, (None, 0, 0))
        success = successes.get(partner.id)
        result.append(
            PartnerHealth(
                partner=partner,
                last_success=_aware(success),
                failures_in_a_row=in_a_row.get(partner.id, 0),
                next_attempt=_aware(upcoming),
                pending=pending,
                failed=failed,
            )
        )
    return result


def outbox_lag_seconds(session: Session, now: datetime) -> float:
    """How long the oldest unhandled publish event has waited; 0 when none waits."""
    oldest = _aware(
        session.scalar(
            select(func.min(OutboxEvent.created_at)).where(OutboxEvent.handled_at.is_(None))
        )
    )
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
