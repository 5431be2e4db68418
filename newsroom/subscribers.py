"""Subscribers: subscribe with double opt-in, confirm, change preferences, leave, be erased.

Every answer a stranger can see is the same whether or not an address is known, so the
form leaks nothing; what differs is only which email (if any) goes to that address, and
one address gets at most one such email per quiet period, so the form cannot flood it.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from newsroom import outbox, tokens
from newsroom.errors import DomainError
from newsroom.models import Edition, EmailDelivery, Frequency, Subscriber, SubscriberStatus
from newsroom.subscription import SubscriptionIn, check_tags, normalize_email
from newsroom.tokens import BadToken, Purpose


class Mail(enum.StrEnum):
    """Which email a subscribe request sends, if any."""

    CONFIRM = "confirm"                      # click to confirm (double opt-in)
    ALREADY_SUBSCRIBED = "already"           # you are subscribed; here are your preferences
    NONE = "none"                            # sent one lately, or the address must not be mailed


MAILABLE = (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE)
SUPPRESSED = (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED, SubscriberStatus.SUPPRESSED)
# The public form does not reopen these: only an operator does.
OPERATOR_ONLY = (SubscriberStatus.COMPLAINED, SubscriberStatus.SUPPRESSED)


@dataclass(frozen=True)
class Outcome:
    subscriber_id: int
    mail: Mail


def by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def subscribe(
    session: Session,
    data: SubscriptionIn,
    *,
    ip: str | None,
    form_version: str,
    now: datetime,
    settings: Settings,
) -> Outcome:
    """A request from the public form: a new or returning reader asks for digests."""
    # Every rule is checked before the address is looked up, so the answer to a bad
    # form cannot tell whether the address is known.
    tags = check_tags(session, data.tags)
    subscriber = by_email(session, data.email)
    if subscriber is None:
        subscriber = Subscriber(
            email=data.email, status=SubscriberStatus.PENDING, notice_requested_at=now
        )
    elif subscriber.status in OPERATOR_ONLY:
        # They marked us as spam, or an operator stopped mail to them: only an operator
        # may write to them again (unsuppress).
        return Outcome(subscriber.id, Mail.NONE)
    elif subscriber.status is SubscriberStatus.ACTIVE:
        # A stranger may type someone else's address: change nothing, tell the owner.
        mail = _throttled(subscriber, Mail.ALREADY_SUBSCRIBED, now, settings)
        return Outcome(subscriber.id, mail)
    elif _throttled(subscriber, Mail.CONFIRM, now, settings) is Mail.NONE:
        # A confirmation went out moments ago: this request changes nothing, so repeating
        # the form cannot rewrite someone's row or their earlier proof of consent.
        return Outcome(subscriber.id, Mail.NONE)
    else:  # pending, unsubscribed or bounced: a fresh opt-in, proven by the new link
        subscriber.status = SubscriberStatus.PENDING
    _apply(subscriber, data, tags, now)
    subscriber.consent_at = now
    subscriber.consent_ip = ip
    subscriber.consent_form = form_version
    session.add(subscriber)  # only now: the tag check above may flush the session
    session.flush()
    return Outcome(subscriber.id, Mail.CONFIRM)


def _throttled(subscriber: Subscriber, mail: Mail, now: datetime, settings: Settings) -> Mail:
    quiet = timedelta(seconds=settings.confirm_resend_seconds)
    if subscriber.notice_requested_at is not None and now - subscriber.notice_requested_at < quiet:
        return Mail.NONE
    subscriber.notice_requested_at = now
    return mail


def confirm(session: Session, token: str, *, now: datetime, settings: Settings) -> Subscriber:
    subscriber = from_token(
        session, Purpose.CONFIRM, token, settings, max_age=settings.confirm_max_age_seconds
    )
    if subscriber.status is SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = now
        subscriber.failures = 0  # a confirmed address demonstrably receives mail
        subscriber.updated_at = now
        # Digests start with what is published from now on, not with the archive.
        subscriber.digest_position = outbox.last_position(session)
        # The welcome email is owed (worker/notices.py tells it by these being equal):
        # it shows the newest articles of their choice, so nobody waits for a digest.
        subscriber.notice_requested_at = now
    elif subscriber.status is not SubscriberStatus.ACTIVE:
        raise BadToken("token", "is no longer valid; subscribe again for a new link")
    return subscriber


def unsubscribe(session: Session, subscriber: Subscriber, *, now: datetime) -> None:
    """Idempotent: a second click, or a mail client's retried POST, changes nothing more."""
    if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = now
        subscriber.updated_at = now


def update_preferences(
    session: Session, subscriber: Subscriber, data: SubscriptionIn, *, now: datetime
) -> None:
    if data.email != subscriber.email:
        raise DomainError("email", "cannot be changed here; subscribe the new address instead")
    _apply(subscriber, data, check_tags(session, data.tags), now)
    # The reader used a link from our mail: the address receives it, whatever bounced before.
    subscriber.failures = 0


def import_active(
    session: Session, data: SubscriptionIn, *, now: datetime, consent_form: str
) -> tuple[Subscriber, bool]:
    """An operator adds someone who already consented elsewhere; (subscriber, created).

    Never brings back an address that left or was suppressed: that choice was theirs.
    """
    subscriber = by_email(session, data.email)
    if subscriber is not None:
        if subscriber.status is SubscriberStatus.ACTIVE:
            _apply(subscriber, data, check_tags(session, data.tags), now)
        return subscriber, False
    subscriber = Subscriber(
        email=data.email,
        status=SubscriberStatus.ACTIVE,
        consent_at=now,
        consent_form=consent_form,
        confirmed_at=now,
        digest_position=outbox.last_position(session),
    )
    _apply(subscriber, data, check_tags(session, data.tags), now)
    session.add(subscriber)
    session.flush()
    return subscriber, True


def from_token(
    session: Session,
    purpose: Purpose,
    token: str,
    settings: Settings,
    *,
    max_age: int | None = None,
) -> Subscriber:
    subscriber_id, digest = tokens.read(
        settings.resolved_secret_key(), purpose, token, max_age=max_age
    )
    subscriber = session.get(Subscriber, subscriber_id)
    # An erased subscriber, or an id now used by another address: the link is dead.
    if subscriber is None or tokens.address_digest(subscriber.email) != digest:
        raise BadToken("token", "is not a link we sent")
    return subscriber


def token_for(subscriber: Subscriber, purpose: Purpose, settings: Settings) -> str:
    return tokens.make(settings.resolved_secret_key(), purpose, subscriber.id, subscriber.email)


def export(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything kept about one subscriber (GDPR art. 15 and 20), in JSON types."""
    deliveries = session.execute(
        select(Edition.key, EmailDelivery.status, EmailDelivery.sent_at)
        .join(Edition, Edition.id == EmailDelivery.edition_id)
        .where(EmailDelivery.subscriber_id == subscriber.id)
        .order_by(EmailDelivery.id)
    ).all()
    return {
        "email": subscriber.email,
        "status": str(subscriber.status),
        "language": subscriber.language,
        "frequency": str(subscriber.frequency),
        "tags": list(subscriber.tags),
        "time_zone": subscriber.time_zone,
        "consent": {
            "at": _iso(subscriber.consent_at),
            "ip": subscriber.consent_ip,
            "form": subscriber.consent_form,
        },
        "confirmed_at": _iso(subscriber.confirmed_at),
        "unsubscribed_at": _iso(subscriber.unsubscribed_at),
        "created_at": _iso(subscriber.created_at),
        "emails": [
            {"edition": key, "status": str(status), "sent_at": _iso(sent_at)}
            for key, status, sent_at in deliveries
        ],
    }


class WrongStatus(DomainError):
    """The action does not apply to the subscriber's status now: nothing changed."""

    status = 409


class Change(Protocol):
    """suppress or unsuppress: the operator's changes of a subscriber's status."""

    def __call__(self, session: Session, subscriber: Subscriber, *, now: datetime) -> None: ...


def suppress(session: Session, subscriber: Subscriber, *, now: datetime) -> None:
    """An operator stops all mail to a mailable address (pending or active), at once:
    deliveries already queued fail when their batch claims them (worker/claims.py)."""
    if subscriber.status not in MAILABLE:
        raise WrongStatus("status", f"is {subscriber.status}; only a pending or active "
                          "subscriber can be suppressed")  # fmt: skip
    subscriber.status = SubscriberStatus.SUPPRESSED
    subscriber.updated_at = now


def unsuppress(session: Session, subscriber: Subscriber, *, now: datetime) -> None:
    """An operator lifts a suppression (bounced, complained or suppressed by hand).

    Back to active only with proof of consent, a confirmation; never confirmed, it is
    pending again, and the reader's confirm link still works. Digests start from what is
    published from now on, as after confirming: the backlog of the suppressed time is
    not mailed in one go. The failure count starts again."""
    if subscriber.status not in SUPPRESSED:
        raise WrongStatus("status", f"is {subscriber.status}; only a bounced, complained or "
                          "suppressed subscriber can be unsuppressed")  # fmt: skip
    if subscriber.confirmed_at is None:
        subscriber.status = SubscriberStatus.PENDING
    else:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.digest_position = outbox.last_position(session)
    subscriber.failures = 0
    subscriber.updated_at = now


def recent_emails(
    session: Session, subscriber: Subscriber, limit: int = 20
) -> Sequence[tuple[str, EmailDelivery]]:
    """The newest digest deliveries to one subscriber, (edition key, delivery), newest
    first; by ix on email_deliveries.subscriber_id, so it costs the same at any size."""
    rows = session.execute(
        select(Edition.key, EmailDelivery)
        .join(Edition, Edition.id == EmailDelivery.edition_id)
        .where(EmailDelivery.subscriber_id == subscriber.id)
        .order_by(EmailDelivery.id.desc())
        .limit(limit)
    ).all()
    return [(key, delivery) for key, delivery in rows]


def erase(session: Session, subscriber: Subscriber) -> None:
    """Forget the subscriber and every delivery to them (GDPR art. 17)."""
    session.delete(subscriber)
    session.flush()


def _apply(subscriber: Subscriber, data: SubscriptionIn, tags: list[str], now: datetime) -> None:
    """``tags`` are ``data.tags`` as check_tags returned them: known, sorted, unique."""
    subscriber.language = data.language
    subscriber.frequency = data.frequency
    subscriber.tags = tags
    subscriber.time_zone = data.time_zone
    subscriber.updated_at = now


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def listing(
    session: Session,
    *,
    status: SubscriberStatus | None = None,
    language: str | None = None,
    frequency: Frequency | None = None,
    search: str = "",
    after: int = 0,
    limit: int = 50,
) -> Sequence[Subscriber]:
    """Subscribers in id order, for operators: ``after`` the last id of the page before.

    Paged by id, not by offset: a page costs the same deep into a large list, and rows
    added or erased meanwhile neither repeat nor skip anyone."""
    query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(limit)
    if status is not None:
        query = query.where(Subscriber.status == status)
    if language:
        query = query.where(Subscriber.language == language.strip().lower())
    if frequency is not None:
        query = query.where(Subscriber.frequency == frequency)
    if search.strip():
        query = query.where(Subscriber.email.contains(stored_form(search), autoescape=True))
    return session.scalars(query).all()


def stored_form(text: str) -> str:
    """What an operator types, spelt as addresses are stored: a whole address as
    normalize_email spells it; a part lowercased, a domain in it in ASCII (IDNA), so
    "Bjärka-Säby.se" finds lena@xn--bjrka-sby-w2af.se."""
    with contextlib.suppress(ValueError):
        return normalize_email(text)
    local, at, domain = text.strip().lower().rpartition("@")
    # Python's codec is IDNA 2003; for å ä ö it spells domains as IDNA 2008 does. A part
    # of a name it cannot spell (".se", a label too long) is searched as typed.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return local + at + domain
