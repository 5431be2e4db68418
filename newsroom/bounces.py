"""Apply what a returned mail says: bounces count, complaints and mailto unsubscribes act.

A report is applied once: its key (the report's Message-ID, or a hash of its bytes) is
stored in the same transaction as the changes, so feeding the same mailbox twice, or the
same file to `budkavle bounces` again, counts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config import Settings
from newsroom import subscribers
from newsroom.models import ProcessedReport, Subscriber, SubscriberStatus, utcnow
from newsroom.reports import Kind, Recipient, Report, read
from newsroom.tokens import BadToken, Purpose

# RFC 3463 §3.2: 5.1.1 "bad destination mailbox address" (the mailbox does not exist) and
# RFC 7505 §4.2: 5.1.10 "recipient address has null MX" (the domain takes no mail at all).
# Neither heals; mailing them again only hurts our standing with the receiving providers,
# so they suppress at the first report instead of after the threshold.
USER_UNKNOWN = frozenset({"5.1.1", "5.1.10"})
_MAILABLE = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)


@dataclass(frozen=True)
class Change:
    address: str
    event: str                   # "failed 5.1.1", "delayed 4.2.2", "abuse", "unsubscribe"
    before: str | None           # status before; None: not a subscriber of ours
    after: str | None
    failures: int | None
    note: str


@dataclass(frozen=True)
class Applied:
    kind: Kind
    key: str
    duplicate: bool
    changes: tuple[Change, ...]


def apply_raw(session: Session, raw: bytes, settings: Settings) -> Applied:
    """Read and apply one raw mail; ReportError (nothing changed) if it is not a mail."""
    return apply(session, read(raw), settings)


def apply(session: Session, report: Report, settings: Settings) -> Applied:
    if report.kind is Kind.OTHER:
        return Applied(report.kind, report.key, False, ())
    if not _claim(session, report.key):
        return Applied(report.kind, report.key, True, ())
    if report.kind is Kind.UNSUBSCRIBE:
        changes: tuple[Change, ...] = (_unsubscribe(session, report.token or "", settings),)
    elif report.kind is Kind.COMPLAINT:
        changes = tuple(_complaint(session, recipient) for recipient in report.recipients)
    else:
        changes = tuple(_bounce(session, recipient, settings) for recipient in report.recipients)
    session.flush()
    return Applied(report.kind, report.key, False, changes)


def _claim(session: Session, key: str) -> bool:
    """Record the report as processed; False if it already was (by us, or a racing twin)."""
    if session.get(ProcessedReport, key) is not None:
        return False
    try:
        # A savepoint: when a concurrent request stored the key first, only this insert
        # is undone, and the caller's transaction goes on to report a duplicate.
        with session.begin_nested():
            session.add(ProcessedReport(message_key=key, processed_at=utcnow()))
    except IntegrityError:
        return False
    return True


def _bounce(session: Session, recipient: Recipient, settings: Settings) -> Change:
    event = f"{recipient.action} {recipient.status}".strip()
    subscriber = subscribers.by_email(session, recipient.address)
    if subscriber is None:
        return Change(recipient.address, event, None, None, None, "not a subscriber")
    before = str(subscriber.status)
    if not recipient.permanent:
        # 4.x.x and "delayed": the MTA is still trying (RFC 3464 §2.3.3); nothing to do.
        return Change(recipient.address, event, before, before, subscriber.failures,
                      "transient: nothing changed")  # fmt: skip
    subscriber.failures += 1
    note = f"failure {subscriber.failures} of {settings.suppress_after_failures}"
    if subscriber.status in _MAILABLE and (
        recipient.status in USER_UNKNOWN
        or subscriber.failures >= settings.suppress_after_failures
    ):
        _suppress(subscriber, SubscriberStatus.BOUNCED)
        note = "suppressed: " + ("no such mailbox" if recipient.status in USER_UNKNOWN else note)
    return Change(recipient.address, event, before, str(subscriber.status),
                  subscriber.failures, note)  # fmt: skip


def _complaint(session: Session, recipient: Recipient) -> Change:
    subscriber = subscribers.by_email(session, recipient.address)
    if subscriber is None:
        return Change(recipient.address, recipient.action, None, None, None, "not a subscriber")
    before = str(subscriber.status)
    if not recipient.permanent:
        return Change(recipient.address, recipient.action, before, before, subscriber.failures,
                      "not a complaint: nothing changed")  # fmt: skip
    # Marked as spam: even an unsubscribed address is closed to the public form now, so
    # only an operator can ever write to it again (see subscribers.subscribe).
    _suppress(subscriber, SubscriberStatus.COMPLAINED)
    return Change(recipient.address, recipient.action, before, str(subscriber.status),
                  subscriber.failures, "suppressed: complaint")  # fmt: skip


def _unsubscribe(session: Session, token: str, settings: Settings) -> Change:
    try:
        subscriber = subscribers.from_token(session, Purpose.UNSUBSCRIBE, token, settings)
    except BadToken:
        # Anyone can send mail to the unsubscribe address; only our own token acts.
        return Change("", "unsubscribe", None, None, None, "token is not one we sent")
    before = str(subscriber.status)
    subscribers.unsubscribe(session, subscriber, now=utcnow())
    return Change(subscriber.email, "unsubscribe", before, str(subscriber.status),
                  subscriber.failures, "unsubscribed by mail")  # fmt: skip


def _suppress(subscriber: Subscriber, status: SubscriberStatus) -> None:
    subscriber.status = status
    subscriber.updated_at = utcnow()
