"""A batch's claim: which queued deliveries one task may send, and for how long.

A claim is a lease with a token. The sender renews it while it works, so a slow batch is
never handed to a second worker, and each renewal also drops what is no longer ours to
send: rows another worker took over after we stalled, and subscribers who left meanwhile.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection as Database
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from config import Settings
from email_templates.render import RenderedEmail
from newsroom.links import PersonalLinks, list_id, personal_links
from newsroom.models import (
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from worker import digest
from worker.dkimsign import signer_from_settings
from worker.envelope import MessageTemplate
from worker.mailer import writes_files


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    segment_id: int
    attempts: int
    subscriber_id: int
    email: str
    failures: int
    links: PersonalLinks


@dataclass
class Claim:
    edition_id: int
    batch: int
    token: str
    recipients: list[Recipient]
    templates: dict[int, MessageTemplate]


def claim(
    session: Session, edition_id: int, batch: int, settings: Settings, now: datetime
) -> Claim:
    """Lease the batch's due rows and load what their messages need."""
    token = secrets.token_hex(8)
    claimed = session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.edition_id == edition_id, EmailDelivery.batch == batch)
        .where(EmailDelivery.status == EmailStatus.QUEUED)
        .where(EmailDelivery.next_attempt_at <= now)
        .where(or_(EmailDelivery.leased_until.is_(None), EmailDelivery.leased_until < now))
        .values(
            leased_until=now + timedelta(seconds=settings.digest_lease_seconds),
            lease_token=token,
            attempts=EmailDelivery.attempts + 1,
        )
        .returning(
            EmailDelivery.id,
            EmailDelivery.segment_id,
            EmailDelivery.subscriber_id,
            EmailDelivery.attempts,
        )
    ).all()
    result = Claim(edition_id, batch, token, [], {})
    if not claimed:
        return result
    subscribers = {
        subscriber.id: subscriber
        for subscriber in session.scalars(
            select(Subscriber).where(Subscriber.id.in_([row[2] for row in claimed]))
        )
    }
    result.templates = _templates(session, {row[1] for row in claimed}, settings)
    for delivery_id, segment_id, subscriber_id, attempts in sorted(claimed):
        subscriber = subscribers[subscriber_id]
        if subscriber.status is not SubscriberStatus.ACTIVE:
            _fail(session, delivery_id, f"subscriber is {subscriber.status} now")
        elif segment_id not in result.templates:
            _fail(session, delivery_id, "every article of this edition was retracted")
        else:
            result.recipients.append(
                Recipient(
                    delivery_id,
                    segment_id,
                    attempts,
                    subscriber_id,
                    subscriber.email,
                    subscriber.failures,
                    personal_links(subscriber, settings),
                )
            )
    return result


def next_due(session: Session, edition_id: int, batch: int) -> datetime | None:
    """When the batch's next queued row that nobody holds is due: its next bell's time.

    Asked after every run of a batch, whatever that run found: a bell that came a moment
    early (an ETA is no promise to the millisecond), or a run that sent only the first of
    several retries, would otherwise end the batch's chain of bells, and leave its rows to
    the sweeper's slow round.
    """
    now = utcnow()
    due: datetime | None = session.scalar(
        select(func.min(EmailDelivery.next_attempt_at))
        .where(EmailDelivery.edition_id == edition_id, EmailDelivery.batch == batch)
        .where(EmailDelivery.status == EmailStatus.QUEUED)
        .where(or_(EmailDelivery.leased_until.is_(None), EmailDelivery.leased_until < now))
    )
    # SQLite hands back a naive value from an aggregate; it was stored as UTC.
    return due.replace(tzinfo=UTC) if due is not None and due.tzinfo is None else due


def _templates(
    session: Session, segment_ids: set[int], settings: Settings
) -> dict[int, MessageTemplate]:
    """One message template per segment that still has articles to send."""
    signer = signer_from_settings(settings, settings.mail_domain)
    eight_bit = writes_files(settings)
    templates = {}
    for segment in session.scalars(
        select(EditionSegment).where(EditionSegment.id.in_(segment_ids))
    ):
        # A retraction after planning (a legal takedown) must reach the email too.
        if not digest.refresh_segment(session, segment, settings):
            continue
        templates[segment.id] = MessageTemplate(
            RenderedEmail(segment.subject, segment.html, segment.text),
            sender=settings.sender,
            list_id=list_id(segment.language, settings),
            date=segment.created_at,
            signer=signer,
            eight_bit=eight_bit,
        )
    return templates


def _fail(session: Session, delivery_id: int, reason: str) -> None:
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == delivery_id)
        .values(status=EmailStatus.FAILED, leased_until=None, last_error=reason)
    )


class Lease:
    """Renews a claim every third of its length; says which deliveries are still ours."""

    def __init__(self, database: Database, claim: Claim, settings: Settings) -> None:
        self.database = database
        self.claim = claim
        self.length = timedelta(seconds=settings.digest_lease_seconds)
        self.every = settings.digest_lease_seconds / 3
        self.renewed = time.monotonic()
        self.ours = {recipient.delivery_id for recipient in claim.recipients}

    def holds(self, delivery_id: int) -> bool:
        if time.monotonic() - self.renewed >= self.every:
            self.renew()
        return delivery_id in self.ours

    def renew(self) -> None:
        claim = self.claim
        mine = (
            (EmailDelivery.edition_id == claim.edition_id)
            & (EmailDelivery.batch == claim.batch)
            & (EmailDelivery.lease_token == claim.token)
            & (EmailDelivery.status == EmailStatus.QUEUED)
        )
        left = select(Subscriber.id).where(Subscriber.status != SubscriberStatus.ACTIVE)
        self.database.execute(
            update(EmailDelivery)
            .where(mine, EmailDelivery.subscriber_id.in_(left))
            .values(
                status=EmailStatus.FAILED,
                leased_until=None,
                last_error="the subscriber left while the batch was sending",
            )
        )
        renewed = self.database.execute(
            update(EmailDelivery)
            .where(mine)
            .values(leased_until=utcnow() + self.length)
            .returning(EmailDelivery.id)
        ).scalars()
        self.ours = set(renewed)
        self.database.commit()
        self.renewed = time.monotonic()
