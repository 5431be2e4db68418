"""Apply what a returned mail says: bounces count, complaints and mailto unsubscribes act.

Anyone can send a report naming anyone, so a report acts only on the subscriber whose mail
it is about: it was delivered to the VERP address of that mail (newsroom/verp.py), or the
original's Message-ID is one we made (HMAC, newsroom/messageids.py) and the address the
report names, if any, is the one that mail went to. Otherwise it is unverified and changes
nothing; a mailto unsubscribe is verified by its signed token, and a provider's webhook
report by the provider's signature (web/bouncehooks/), which vouches for its addresses.

A report is applied once: its key (the report's Message-ID, or a hash of its bytes) is
stored in the same transaction as the changes, so feeding the same mailbox twice, or the
same file to `budkavle bounces` again, counts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config import Settings
from newsroom import messageids, subscribers, verp
from newsroom.models import EmailDelivery, ProcessedReport, Subscriber, SubscriberStatus, utcnow
from newsroom.reports import Kind, Recipient, Report, read
from newsroom.tokens import BadToken, Purpose

# RFC 3463 §3.2: 5.1.1 "bad destination mailbox address" (the mailbox does not exist) and
# RFC 7505 §4.2: 5.1.10 "recipient address has null MX" (the domain takes no mail at all).
# Neither heals; mailing them again only hurts our standing with the receiving providers,
# so they suppress at the first report instead of after the threshold.
USER_UNKNOWN = frozenset({"5.1.1", "5.1.10"})
_MAILABLE = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
NOT_OURS = "unverified: it quotes no Message-ID of a mail we sent; nothing changed"
OTHER_ADDRESS = "unverified: it names another address than our mail went to; nothing changed"
NOT_OUR_LINK = "unverified: the token is not one we sent; nothing changed"


@dataclass(frozen=True)
class Change:
    address: str
    event: str                   # "failed 5.1.1", "delayed 4.2.2", "abuse", "unsubscribe"
    before: str | None           # status before; None: not a subscriber of ours, or unverified
    after: str | None
    failures: int | None
    note: str


@dataclass(frozen=True)
class Applied:
    kind: Kind
    key: str
    duplicate: bool
    changes: tuple[Change, ...]
    unverified: bool = False     # not traced to mail we sent: nothing changed, nothing recorded


@dataclass(frozen=True)
class _Origin:
    """The subscriber a verified report is about; None: ours, but they were erased since."""

    subscriber: Subscriber | None
    by_verp: bool = False


def apply_raw(session: Session, raw: bytes, settings: Settings) -> Applied:
    """Read and apply one raw mail; ReportError (nothing changed) if it is not a mail."""
    return apply(session, read(raw), settings)


def apply(session: Session, report: Report, settings: Settings) -> Applied:
    if report.kind is Kind.OTHER:
        return Applied(report.kind, report.key, False, ())
    if report.kind is Kind.UNSUBSCRIBE:
        return _unsubscribe(session, report, settings)
    if report.vouched_by:
        return _vouched(session, report, settings)
    secret = settings.resolved_secret_key().encode()
    origin = _verp(session, report.addressed_to, secret) or _origin(
        session, report.originals, secret
    )
    recipients = _recipients(report, origin)
    checked = [(recipient, _check(recipient, origin)) for recipient in recipients]
    if origin is None or (checked and all(note is not None for _, note in checked)):
        # Not recorded as processed: a forgery must not take the key of a genuine report
        # that comes later (a reporter's Message-IDs can be predictable), and changes
        # nothing, so seeing it again cannot count anything twice. It also lets a genuine
        # report be fed again once what stopped it (e.g. a changed secret key) is fixed.
        changes = tuple(_unverified(recipient, note or NOT_OURS) for recipient, note in checked)
        return Applied(report.kind, report.key, False, changes, unverified=True)
    if not _claim(session, report.key):
        return Applied(report.kind, report.key, True, ())
    act = _complaint if report.kind is Kind.COMPLAINT else _bounce
    changes = tuple(
        _unverified(recipient, note) if note is not None
        else act(origin.subscriber, recipient, settings)
        for recipient, note in checked
    )  # fmt: skip
    _count(session, report, changes)
    return Applied(report.kind, report.key, False, changes)


def _origin(session: Session, originals: tuple[str, ...], secret: bytes) -> _Origin | None:
    """Whose mail the report is about, from the first of its Message-IDs that we made."""
    for value in originals:
        delivery_id = messageids.delivery_of(value, secret)
        if delivery_id is not None:
            delivery = session.get(EmailDelivery, delivery_id)
            if delivery is None:  # erased with its subscriber (GDPR art. 17)
                return _Origin(None)
            return _Origin(session.get(Subscriber, delivery.subscriber_id))
        subscriber_id = messageids.subscriber_of_notice(value, secret)
        if subscriber_id is not None:
            return _Origin(session.get(Subscriber, subscriber_id))
    return None


def _verp(session: Session, addressed_to: tuple[str, ...], secret: bytes) -> _Origin | None:
    """Whose mail the report is about, from the VERP address it was delivered to."""
    found = verp.find(addressed_to, secret)
    if found is None:
        return None
    if found.of is verp.Of.NOTICE:
        return _Origin(session.get(Subscriber, found.id), by_verp=True)
    delivery = session.get(EmailDelivery, found.id)
    if delivery is None:  # erased with its subscriber (GDPR art. 17)
        return _Origin(None, by_verp=True)
    return _Origin(session.get(Subscriber, delivery.subscriber_id), by_verp=True)


def _recipients(report: Report, origin: _Origin | None) -> tuple[Recipient, ...]:
    if origin is None:
        return report.recipients
    address = origin.subscriber.email if origin.subscriber is not None else ""
    if not report.recipients:
        # A bounce naming nobody (prose from MAILER-DAEMON, an empty delivery-status): our
        # mail to this subscriber came back and it does not say why. A permanent failure
        # of unknown cause (RFC 3463 X.0.0): it counts towards SUPPRESS_AFTER_FAILURES.
        return (Recipient(address, "failed", "", permanent=True),)
    if origin.by_verp:
        # The VERP address says whose mail this was; the report's own address may be where
        # a forward led, or an internal name. Either way one report counts once, for them.
        first = next((r for r in report.recipients if r.permanent), report.recipients[0])
        return (replace(first, address=address),)
    return report.recipients


def _check(recipient: Recipient, origin: _Origin | None) -> str | None:
    """Why the report may not act on this recipient; None when it may."""
    if origin is None:
        return NOT_OURS
    subscriber = origin.subscriber
    # A Message-ID of A's mail naming B: A forwarded a digest, or someone who saw one is
    # trying it on B. Either way it is no evidence about B, nor (naming B) about A.
    if recipient.address and subscriber is not None and recipient.address != subscriber.email:
        return OTHER_ADDRESS
    return None


def _unverified(recipient: Recipient, note: str) -> Change:
    event = f"{recipient.action} {recipient.status}".strip()
    return Change(recipient.address, event, None, None, None, note)


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


def _count(session: Session, report: Report, changes: tuple[Change, ...]) -> None:
    """Keep on the report's row what it counted against our mail, for the desk's bounce
    and complaint rates: the hard bounces (a delay changes nothing) and the complaints
    that suppressed a subscriber. The same rule as the /metrics counters (worker/tallies)."""
    row = session.get(ProcessedReport, report.key)
    assert row is not None  # claimed in this transaction
    if report.kind is Kind.COMPLAINT:
        row.complaints = sum(change.after == "complained" for change in changes)
    else:
        row.bounces = sum(
            change.after is not None and not change.note.startswith("transient")
            for change in changes
        )
    session.flush()


def _bounce(subscriber: Subscriber | None, recipient: Recipient, settings: Settings) -> Change:
    event = f"{recipient.action} {recipient.status}".strip()
    if subscriber is None:
        return Change(recipient.address, event, None, None, None, "not a subscriber")
    before = str(subscriber.status)
    if not recipient.permanent:
        # 4.x.x and "delayed": the MTA is still trying (RFC 3464 §2.3.3); nothing to do.
        return Change(subscriber.email, event, before, before, subscriber.failures,
                      "transient: nothing changed")  # fmt: skip
    subscriber.failures += 1
    note = f"failure {subscriber.failures} of {settings.suppress_after_failures}"
    if subscriber.status in _MAILABLE and (
        recipient.status in USER_UNKNOWN
        or subscriber.failures >= settings.suppress_after_failures
    ):
        _suppress(subscriber, SubscriberStatus.BOUNCED)
        note = "suppressed: " + ("no such mailbox" if recipient.status in USER_UNKNOWN else note)
    return Change(subscriber.email, event, before, str(subscriber.status),
                  subscriber.failures, note)  # fmt: skip


def _complaint(subscriber: Subscriber | None, recipient: Recipient, settings: Settings) -> Change:
    if subscriber is None:
        return Change(recipient.address, recipient.action, None, None, None, "not a subscriber")
    before = str(subscriber.status)
    if not recipient.permanent:
        return Change(subscriber.email, recipient.action, before, before, subscriber.failures,
                      "not a complaint: nothing changed")  # fmt: skip
    # Marked as spam: even an unsubscribed address is closed to the public form now, so
    # only an operator can ever write to it again (see subscribers.subscribe).
    _suppress(subscriber, SubscriberStatus.COMPLAINED)
    return Change(subscriber.email, recipient.action, before, str(subscriber.status),
                  subscriber.failures, "suppressed: complaint")  # fmt: skip


def _vouched(session: Session, report: Report, settings: Settings) -> Applied:
    """A provider's signed report: each recipient's address names the subscriber."""
    if not _claim(session, report.key):
        return Applied(report.kind, report.key, True, ())
    act = _complaint if report.kind is Kind.COMPLAINT else _bounce
    changes = tuple(
        act(session.scalars(select(Subscriber).where(Subscriber.email == r.address)).first(),
            r, settings)
        for r in report.recipients
    )  # fmt: skip
    _count(session, report, changes)
    return Applied(report.kind, report.key, False, changes)


def _unsubscribe(session: Session, report: Report, settings: Settings) -> Applied:
    try:
        subscriber = subscribers.from_token(
            session, Purpose.UNSUBSCRIBE, report.token or "", settings
        )
    except BadToken:
        # Anyone can send mail to the unsubscribe address; only our own token acts. Not
        # recorded as processed, for the same reasons as an unverified bounce (see apply).
        change = Change("", "unsubscribe", None, None, None, NOT_OUR_LINK)
        return Applied(report.kind, report.key, False, (change,), unverified=True)
    if not _claim(session, report.key):
        return Applied(report.kind, report.key, True, ())
    before = str(subscriber.status)
    subscribers.unsubscribe(session, subscriber, now=utcnow())
    change = Change(subscriber.email, "unsubscribe", before, str(subscriber.status),
                    subscriber.failures, "unsubscribed by mail")  # fmt: skip
    session.flush()
    return Applied(report.kind, report.key, False, (change,))


def _suppress(subscriber: Subscriber, status: SubscriberStatus) -> None:
    subscriber.status = status
    subscriber.updated_at = utcnow()
