"""Desk test data: a partner municipality whose pushes have been failing; subscribers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from newsroom import articles, partners
from newsroom.db import session_scope
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    Edition,
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    Frequency,
    PartnerDelivery,
    PartnerState,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsroom.partners import PartnerIn
from newsroom.schemas import ArticleIn
from tests.support import article


def failing_partner(name: str = "Borlänge kommun", disabled: bool = False) -> tuple[int, int]:
    """A partner with one delivery that gave up after three 503s: (partner id, delivery id)."""
    now = utcnow()
    with session_scope() as session:
        partner, _, _ = partners.register(session, PartnerIn(name=name))
        # Set here, not through register(): its check resolves the host, and tests have no DNS.
        partner.webhook_url = "https://borlange.example/budkavle"
        partner.failing_since = now - timedelta(hours=26)
        if disabled:
            partners.disable(partner, "failing for three days", now)
        data = ArticleIn.model_validate(article())
        _, event = articles.create_or_update(session, data, now, timedelta(seconds=1))
        assert event is not None
        partners.plan_deliveries(session, event, now)
        delivery = session.scalars(
            select(PartnerDelivery).where(PartnerDelivery.partner_id == partner.id)
        ).one()
        delivery.status = DeliveryStatus.FAILED
        delivery.attempts = 3
        delivery.last_status = 503
        delivery.last_error = "Service Unavailable"
        for hours in (26, 20, 2):
            session.add(DeliveryAttempt(delivery_id=delivery.id, status_code=503,
                                        attempted_at=now - timedelta(hours=hours),
                                        error="Service Unavailable", duration_ms=120))  # fmt: skip
        return partner.id, delivery.id


def partner_state(partner_id: int) -> PartnerState:
    with session_scope() as session:
        return partners.find(session, partner_id).state


def delivery_status(delivery_id: int) -> DeliveryStatus:
    with session_scope() as session:
        found = session.get(PartnerDelivery, delivery_id)
        assert found is not None
        return found.status


def subscriber(
    email: str,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    *,
    language: str = "sv",
    frequency: Frequency = Frequency.DAILY,
    failures: int = 0,
    ip: str | None = "198.51.100.7",
) -> int:
    """A subscriber who signed up on the form a week ago and confirmed a minute later."""
    signed_up = utcnow() - timedelta(days=7)
    with session_scope() as session:
        row = Subscriber(
            email=email, status=status, language=language, frequency=frequency,
            tags=["borlange"], time_zone="Europe/Stockholm", consent_at=signed_up,
            consent_ip=ip, consent_form="subscribe-form:v3", failures=failures,
            confirmed_at=signed_up + timedelta(minutes=1), created_at=signed_up,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def emails_to(subscriber_id: int, *results: tuple[EmailStatus, str | None]) -> None:
    """One daily edition per result, each with one delivery to the subscriber."""
    with session_scope() as session:
        for day, (status, error) in enumerate(results, start=1):
            edition = Edition(key=f"daily:Europe/Stockholm:2026-11-{day:02d}",
                              frequency=Frequency.DAILY, to_position=day)  # fmt: skip
            session.add(edition)
            session.flush()
            segment = EditionSegment(edition_id=edition.id, language="sv",
                                     subject="Budkavle: nytt från Borlänge", html="<p>Hej</p>",
                                     text="Hej")  # fmt: skip
            session.add(segment)
            session.flush()
            session.add(EmailDelivery(
                edition_id=edition.id, segment_id=segment.id, subscriber_id=subscriber_id,
                batch=0, status=status, attempts=1, last_error=error,
                sent_at=utcnow() if status is EmailStatus.SENT else None,
            ))  # fmt: skip
