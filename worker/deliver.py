"""Sending one batch of a digest: claim its rows, send over one connection, record each.

A delivery is recorded as sent in its own commit right after the server accepts it, so a
worker killed mid-batch leaves at most the one message in flight unrecorded; it goes again
with the same Message-ID (DESIGN.md: "nothing doubled"). The claim is a lease, so a second
bell for the same batch finds nothing to do while the first is sending.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection as Database
from sqlalchemy import Table, bindparam, or_, select, update

from config import Settings
from email_templates.render import RenderedEmail
from newsroom import outbox
from newsroom.db import get_engine, session_scope
from newsroom.links import PersonalLinks, list_id, personal_links
from newsroom.models import (
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from worker.dkimsign import signer_from_settings
from worker.envelope import MessageTemplate, message_id
from worker.mailer import Connection, SendError, Transport, transport_from_settings

log = logging.getLogger(__name__)


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
class Outcome:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    retry_at: datetime | None = None


def send_batch(
    edition_id: int, batch: int, settings: Settings, transport: Transport | None = None
) -> Outcome:
    now = utcnow()
    recipients, templates = _claim(edition_id, batch, settings, now)
    outcome = Outcome()
    if not recipients:
        return outcome
    transport = transport or transport_from_settings(settings)
    secret = settings.resolved_secret_key().encode()
    with transport.connect() as connection, _results_connection() as database:
        for recipient in recipients:
            _send_one(recipient, templates, connection, database, settings, secret, outcome)
    return outcome


@contextmanager
def _results_connection() -> Iterator[Database]:
    """The connection that records each result, one commit per message.

    On PostgreSQL these commits do not wait for the WAL flush (synchronous_commit off,
    for this connection only). A killed worker loses none of them: they are in the
    server. Only a crash of PostgreSQL itself could forget the last fraction of a second
    of marks, and those messages would go again with the same Message-ID.
    """
    with get_engine().connect() as database:
        postgres = database.dialect.name == "postgresql"
        if postgres:
            database.exec_driver_sql("SET synchronous_commit TO off")
            database.commit()
        try:
            yield database
        finally:
            if postgres and not database.invalidated:
                database.rollback()
                database.exec_driver_sql("RESET synchronous_commit")
                database.commit()


def _send_one(
    recipient: Recipient,
    templates: dict[int, MessageTemplate],
    connection: Connection,
    database: Database,
    settings: Settings,
    secret: bytes,
    outcome: Outcome,
) -> None:
    template = templates[recipient.segment_id]
    links = recipient.links
    message = template.personalize(
        to=recipient.email,
        message_id=message_id(recipient.delivery_id, settings.mail_domain, secret),
        unsubscribe_url=links.unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto,
        preferences_url=links.preferences_url,
    )
    try:
        connection.send(template.sender_address, recipient.email, message)
    except SendError as error:
        now = utcnow()
        if error.permanent:
            _record_failure(database, recipient, str(error), settings, now)
            outcome.failed += 1
        else:
            # SMTP 4xx, timeouts, a server away: later, with the same Message-ID.
            retry_at = now + outbox.backoff(recipient.attempts - 1)
            database.execute(
                _RETRY,
                {"delivery": recipient.delivery_id, "when": retry_at, "error": str(error)[:2000]},
            )
            database.commit()
            outcome.retry += 1
            outcome.retry_at = min(filter(None, (outcome.retry_at, retry_at)))
        return
    database.execute(_SENT, {"delivery": recipient.delivery_id, "when": utcnow()})
    database.commit()
    if recipient.failures:
        _reset_failures(database, recipient.subscriber_id)
    outcome.sent += 1


# Built once, with bound parameters: per message, the ORM's statement building and cache
# key work cost more than the UPDATE itself (bench/RESULTS.md, "Digests").
_deliveries = cast(Table, EmailDelivery.__table__)
_SENT = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("delivery"))
    .values(status=EmailStatus.SENT, sent_at=bindparam("when"), leased_until=None, last_error=None)
)
_RETRY = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("delivery"))
    .values(next_attempt_at=bindparam("when"), leased_until=None, last_error=bindparam("error"))
)


def _claim(
    edition_id: int, batch: int, settings: Settings, now: datetime
) -> tuple[list[Recipient], dict[int, MessageTemplate]]:
    """Lease the batch's due rows; load what their messages need."""
    lease = now + timedelta(seconds=settings.digest_lease_seconds)
    with session_scope() as session:
        claimed = session.execute(
            update(EmailDelivery)
            .where(EmailDelivery.edition_id == edition_id, EmailDelivery.batch == batch)
            .where(EmailDelivery.status == EmailStatus.QUEUED)
            .where(EmailDelivery.next_attempt_at <= now)
            .where(or_(EmailDelivery.leased_until.is_(None), EmailDelivery.leased_until < now))
            .values(leased_until=lease, attempts=EmailDelivery.attempts + 1)
            .returning(
                EmailDelivery.id,
                EmailDelivery.segment_id,
                EmailDelivery.subscriber_id,
                EmailDelivery.attempts,
            )
        ).all()
        if not claimed:
            return [], {}
        by_id = {
            subscriber.id: subscriber
            for subscriber in session.scalars(
                select(Subscriber).where(Subscriber.id.in_([row[2] for row in claimed]))
            )
        }
        recipients = []
        for delivery_id, segment_id, subscriber_id, attempts in sorted(claimed):
            subscriber = by_id[subscriber_id]
            if subscriber.status is not SubscriberStatus.ACTIVE:
                # Left or suppressed since the edition was planned: never send.
                session.execute(
                    update(EmailDelivery)
                    .where(EmailDelivery.id == delivery_id)
                    .values(
                        status=EmailStatus.FAILED,
                        leased_until=None,
                        last_error=f"subscriber is {subscriber.status} now",
                    )
                )
                continue
            recipients.append(
                Recipient(
                    delivery_id=delivery_id,
                    segment_id=segment_id,
                    attempts=attempts,
                    subscriber_id=subscriber_id,
                    email=subscriber.email,
                    failures=subscriber.failures,
                    links=personal_links(subscriber, settings),
                )
            )
        segments = session.scalars(
            select(EditionSegment).where(
                EditionSegment.id.in_({recipient.segment_id for recipient in recipients})
            )
        ).all()
        signer = signer_from_settings(settings, settings.mail_domain)
        templates = {
            segment.id: MessageTemplate(
                RenderedEmail(segment.subject, segment.html, segment.text),
                sender=settings.sender,
                list_id=list_id(segment.language, settings),
                date=segment.created_at,
                signer=signer,
            )
            for segment in segments
        }
    return recipients, templates


def _record_failure(
    database: Database, recipient: Recipient, error: str, settings: Settings, now: datetime
) -> None:
    """A 5xx: this delivery failed for good, and enough in a row suppress the address."""
    database.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == recipient.delivery_id)
        .values(status=EmailStatus.FAILED, leased_until=None, last_error=error[:2000])
    )
    failures = recipient.failures + 1
    values: dict[str, object] = {"failures": Subscriber.failures + 1, "updated_at": now}
    if failures >= settings.suppress_after_failures:
        values["status"] = SubscriberStatus.BOUNCED
        log.info("subscriber %s suppressed after %s failures", recipient.subscriber_id, failures)
    database.execute(
        update(Subscriber).where(Subscriber.id == recipient.subscriber_id).values(**values)
    )
    database.commit()


def _reset_failures(database: Database, subscriber_id: int) -> None:
    database.execute(update(Subscriber).where(Subscriber.id == subscriber_id).values(failures=0))
    database.commit()
