"""The one-off emails a subscriber is owed: "confirm your subscription" (double opt-in),
"you are already subscribed" (to an address that is already active), and the welcome
email right after confirming (what they chose, how to change it or leave, and the newest
articles that match). Which one is owed follows from the row: a confirmation sets
``notice_requested_at`` to ``confirmed_at``, and that is the welcome.

The row says what is owed: ``notice_requested_at`` set by the request, copied into
``notice_sent_at`` once the SMTP server took the message. So a bell rung twice, or a
sweep after a lost one, sends nothing more; a retry keeps the Message-ID, since it is
made from the request it answers. A short Redis lease keeps two workers from sending the
same notice at once, and spaces out retries while the SMTP server is away.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config import Settings, get_settings
from email_templates import content
from email_templates.render import (
    Brand,
    RenderedEmail,
    render_already_subscribed,
    render_confirm,
    render_welcome,
)
from newsroom import links, messageids, verp
from newsroom.db import session_scope
from newsroom.models import Subscriber, SubscriberStatus, utcnow
from worker import tallies
from worker.bell import redis_client
from worker.dkimsign import signer_from_settings
from worker.envelope import MessageTemplate
from worker.mailer import SendError, transport_from_settings, writes_files

log = logging.getLogger(__name__)

# A notice older than this is not worth sending any more: the reader has moved on, and
# a confirm link in it would be close to expiring.
OWED_FOR = timedelta(days=1)
SWEEP_LIMIT = 500


def send(subscriber_id: int, settings: Settings) -> None:
    """Send the notice the subscriber is owed, if any; SendError (temporary) to retry."""
    lease = lease_key(subscriber_id)
    # The lease outlives a slow SMTP conversation (connect, then the message), and is left
    # to expire after a temporary failure: the sweeper's next bell waits for it.
    seconds = int(2 * settings.smtp_timeout_seconds) + 30
    if not redis_client().set(lease, "1", nx=True, ex=seconds):
        return
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            redis_client().delete(lease)
            return  # erased meanwhile
        requested = subscriber.notice_requested_at
        if requested is None or requested == subscriber.notice_sent_at:
            redis_client().delete(lease)
            return  # nothing owed, or already sent: a second bell
        rendered = _render(session, subscriber, settings)
        if rendered is None:  # unsubscribed, bounced or complained since: mail nobody
            subscriber.notice_sent_at = requested
            redis_client().delete(lease)
            return
        message, sender = _message(subscriber, rendered, requested, settings)
        recipient = subscriber.email
    # Sent outside the transaction: SQLite's one write lock must not wait on an SMTP server.
    try:
        with transport_from_settings(settings).connect() as connection:
            connection.send(sender, recipient, message)
    except SendError as error:
        tallies.add({f"emails_{'failed' if error.permanent else 'deferred'}:notice": 1})
        if not error.permanent:
            log.warning(
                "notice to subscriber %s: %s; the sweeper will retry", subscriber_id, error,
                extra={"subscriber_id": subscriber_id},
            )  # fmt: skip
            raise
        # A 5xx for this address: trying again cannot help, and nothing else is owed.
        log.error(
            "notice to subscriber %s refused for good: %s", subscriber_id, error,
            extra={"subscriber_id": subscriber_id},
        )  # fmt: skip
    else:
        tallies.add({"emails_sent:notice": 1})
    _mark_sent(subscriber_id, requested)
    redis_client().delete(lease)


def lease_key(subscriber_id: int) -> str:
    return f"budkavle:notice:{subscriber_id}"


def sweep(now: datetime) -> list[int]:
    """Subscribers whose notice is owed and whose bell was lost (or whose send failed)."""
    grace = timedelta(seconds=get_settings().outbox_grace_seconds)
    with session_scope() as session:
        owed = session.scalars(
            select(Subscriber.id)
            .where(
                Subscriber.notice_requested_at.is_not(None),
                or_(
                    Subscriber.notice_sent_at.is_(None),
                    Subscriber.notice_sent_at != Subscriber.notice_requested_at,
                ),
                Subscriber.notice_requested_at >= now - OWED_FOR,
                # The bell rung by the request itself gets its chance first.
                Subscriber.notice_requested_at <= now - grace,
            )
            .order_by(Subscriber.notice_requested_at)
            .limit(SWEEP_LIMIT)
        )
        return list(owed)


def message_id(subscriber_id: int, requested: datetime, domain: str, secret: str) -> str:
    """See `newsroom.messageids.for_notice`; the secret as settings hold it."""
    return messageids.for_notice(subscriber_id, requested, domain, secret.encode())


def _render(session: Session, subscriber: Subscriber, settings: Settings) -> RenderedEmail | None:
    brand = Brand.from_settings(settings)
    if subscriber.status is SubscriberStatus.PENDING:
        return render_confirm(subscriber.language, brand, links.confirm_url(subscriber, settings))
    if subscriber.status is not SubscriberStatus.ACTIVE:
        return None
    if (
        subscriber.confirmed_at is not None
        and subscriber.confirmed_at == subscriber.notice_requested_at
    ):
        return render_welcome(content.welcome_content(session, subscriber, settings, utcnow()))
    return render_already_subscribed(
        subscriber.language, brand, links.preferences_url(subscriber, settings)
    )


def _message(
    subscriber: Subscriber, rendered: RenderedEmail, requested: datetime, settings: Settings
) -> tuple[bytes, str]:
    domain = settings.mail_domain
    template = MessageTemplate(
        rendered,
        sender=settings.sender,
        list_id=links.list_id(subscriber.language, settings),
        date=requested,
        signer=signer_from_settings(settings, domain),
        eight_bit=writes_files(settings),
    )
    # A confirm email carries the unsubscribe link too: RFC 8058 needs a working one, and
    # "I never asked for this" is best answered by a one-click way out.
    personal = links.personal_links(subscriber, settings)
    message = template.personalize(
        to=subscriber.email,
        message_id=message_id(subscriber.id, requested, domain, settings.resolved_secret_key()),
        unsubscribe_url=personal.unsubscribe_url,
        unsubscribe_mailto=personal.unsubscribe_mailto,
        preferences_url=personal.preferences_url,
    )
    # VERP (newsroom/verp.py): a bounce of this notice names the subscriber by where it goes.
    secret = settings.resolved_secret_key().encode()
    return message, verp.for_notice(subscriber.id, settings.bounce_mailbox, secret)


def _mark_sent(subscriber_id: int, requested: datetime) -> None:
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        # Only what was sent is marked: a newer request made meanwhile stays owed.
        if subscriber is not None and subscriber.notice_requested_at == requested:
            subscriber.notice_sent_at = requested
