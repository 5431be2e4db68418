"""Sending one batch of a digest: claim its rows, send over one connection, record each.

A delivery is recorded as sent in its own commit right after the server accepts it, so a
worker killed mid-batch leaves at most the one message in flight unrecorded; it goes again
with the same Message-ID (DESIGN.md: "nothing doubled"). The claim is a renewed lease
(worker/claims.py), so a second bell for the same batch finds nothing to do while the
first is sending, however slowly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection as Database
from sqlalchemy import Table, bindparam, update

from config import Settings
from newsroom import outbox, verp
from newsroom.db import get_engine, read_scope, session_scope
from newsroom.models import (
    EmailDelivery,
    EmailStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from worker import claims, tallies
from worker.claims import Recipient
from worker.envelope import MessageTemplate, message_id
from worker.mailer import Connection, SendError, Transport, transport_from_settings

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    retry_at: datetime | None = None


# Temporary failures give up after this many attempts: with the backoff of
# outbox.backoff (10 s doubling, then hourly) that is about two days.
MAX_ATTEMPTS = 48


def send_batch(
    edition_id: int, batch: int, settings: Settings, transport: Transport | None = None
) -> Outcome:
    with session_scope() as session:
        claim = claims.claim(session, edition_id, batch, settings, utcnow())
    outcome = Outcome()
    if claim.recipients:
        transport = transport or transport_from_settings(settings)
        secret = settings.resolved_secret_key().encode()
        try:
            with transport.connect() as connection, _results_connection() as database:
                lease = claims.Lease(database, claim, settings)
                for recipient in claim.recipients:
                    if lease.holds(recipient.delivery_id):
                        template = claim.templates[recipient.segment_id]
                        _send_one(recipient, template, connection, database, settings,
                                  secret, outcome)  # fmt: skip
        finally:  # counted once per batch, not per message: a Redis call costs about a send
            _count(edition_id, batch, outcome)
    with read_scope() as session:
        outcome.retry_at = claims.next_due(session, edition_id, batch)
    return outcome


def _count(edition_id: int, batch: int, outcome: Outcome) -> None:
    tallies.add({"emails_sent:digest": outcome.sent, "emails_failed:digest": outcome.failed,
                 "emails_deferred:digest": outcome.retry})  # fmt: skip
    log.info(
        "edition %s batch %s: %s sent, %s to retry, %s failed",
        edition_id, batch, outcome.sent, outcome.retry, outcome.failed,
        extra={"edition_id": edition_id, "batch": batch},
    )  # fmt: skip


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
    template: MessageTemplate,
    connection: Connection,
    database: Database,
    settings: Settings,
    secret: bytes,
    outcome: Outcome,
) -> None:
    links = recipient.links
    try:
        message = template.personalize(
            to=recipient.email,
            message_id=message_id(recipient.delivery_id, settings.mail_domain, secret),
            unsubscribe_url=links.unsubscribe_url,
            unsubscribe_mailto=links.unsubscribe_mailto,
            preferences_url=links.preferences_url,
        )
    except ValueError as error:  # an address our headers cannot carry: ours to fix, not theirs
        log.error(
            "delivery %s: %s", recipient.delivery_id, error,
            extra={"delivery_id": recipient.delivery_id, "subscriber_id": recipient.subscriber_id},
        )  # fmt: skip
        _record_failure(database, recipient, str(error), settings, utcnow(), counts=False)
        outcome.failed += 1
        return
    # VERP (newsroom/verp.py): a bounce of this email names this delivery by where it goes.
    sender = verp.for_delivery(recipient.delivery_id, settings.bounce_mailbox, secret)
    try:
        connection.send(sender, recipient.email, message)
    except SendError as error:
        now = utcnow()
        if error.permanent or recipient.attempts >= MAX_ATTEMPTS:
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
        return
    # An accepted message does not reset the subscriber's failures: most servers accept
    # first and bounce later (RFC 3464 reports by VERP, the mailbox or a webhook), so a
    # reset here would undo every asynchronous bounce before the next one could count.
    database.execute(_SENT, {"delivery": recipient.delivery_id, "when": utcnow()})
    database.commit()
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
    .values(
        next_attempt_at=bindparam("when"),
        leased_until=None,
        lease_token=None,
        last_error=bindparam("error"),
    )
)


def _record_failure(
    database: Database,
    recipient: Recipient,
    error: str,
    settings: Settings,
    now: datetime,
    *,
    counts: bool = True,
) -> None:
    """A 5xx (or 4xx for days): this delivery failed for good, and enough in a row
    suppress the address."""
    database.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == recipient.delivery_id)
        .values(
            status=EmailStatus.FAILED, failed_at=now, leased_until=None, last_error=error[:2000]
        )
    )
    if not counts:
        database.commit()
        return
    failures = recipient.failures + 1
    values: dict[str, object] = {"failures": Subscriber.failures + 1, "updated_at": now}
    if failures >= settings.suppress_after_failures:
        values["status"] = SubscriberStatus.BOUNCED
        log.info(
            "subscriber %s suppressed after %s failures", recipient.subscriber_id, failures,
            extra={"subscriber_id": recipient.subscriber_id},
        )  # fmt: skip
    database.execute(
        update(Subscriber).where(Subscriber.id == recipient.subscriber_id).values(**values)
    )
    database.commit()
