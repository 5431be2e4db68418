"""Returned mail applied to subscribers: DSN bounces (RFC 3464), ARF complaints (RFC 5965),
mailto unsubscribes (RFC 8058 §3); each report counts once; garbage changes nothing; a
report not about mail we sent (by its Message-ID) changes nothing either."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from config import get_settings
from newsroom import bounces, reports, subscribers
from newsroom.db import session_scope
from newsroom.models import (
    Edition,
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    Frequency,
    ProcessedReport,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsroom.reports import Kind, ReportError
from newsroom.subscription import SubscriptionIn
from newsroom.tokens import Purpose
from tests import mailsamples

ASA = "asa.lindqvist@borlange.example"
MATTI = "matti.virtanen@tampere.example"
SENT = "<1042.abcdefghijklmnopqrstuvwx@nyheter.example>"  # read only, never verified here


def add(email: str, status: SubscriberStatus = SubscriberStatus.ACTIVE) -> int:
    with session_scope() as session:
        subscriber, _ = subscribers.import_active(
            session, SubscriptionIn(email=email, language="sv", frequency=Frequency.DAILY),
            now=utcnow(), consent_form="test",
        )  # fmt: skip
        subscriber.status = status
        return subscriber.id


def delivered(subscriber_id: int) -> str:
    """The Message-ID of a digest sent to the subscriber: a new edition, a delivery row."""
    with session_scope() as session:
        number = len(session.scalars(select(Edition.id)).all()) + 1
        edition = Edition(key=f"daily:Europe/Stockholm:2026-11-{number:02}",
                          frequency=Frequency.DAILY, to_position=number)  # fmt: skip
        session.add(edition)
        session.flush()
        segment = EditionSegment(edition_id=edition.id, language="sv",
                                 subject="Senaste nyheter från Borlänge",
                                 html="<p>Nytt ångfartyg på Runn</p>",
                                 text="Nytt ångfartyg på Runn")  # fmt: skip
        session.add(segment)
        session.flush()
        delivery = EmailDelivery(edition_id=edition.id, segment_id=segment.id,
                                 subscriber_id=subscriber_id, batch=0,
                                 status=EmailStatus.SENT, sent_at=utcnow())  # fmt: skip
        session.add(delivery)
        session.flush()
        return mailsamples.digest_id(delivery.id)


def state(email: str) -> tuple[str, int]:
    with session_scope() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        return str(row.status), row.failures


def feed(raw: bytes) -> bounces.Applied:
    with session_scope() as session:
        return bounces.apply_raw(session, raw, get_settings())


# Reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "address", "action", "status", "permanent"),
    [
        pytest.param(mailsamples.user_unknown(ASA, SENT), Kind.DSN, ASA, "failed", "5.1.1",
                     True, id="postfix-5.1.1-user-unknown"),
        pytest.param(mailsamples.mailbox_full(ASA, SENT), Kind.DSN, ASA, "delayed", "4.2.2",
                     False, id="postfix-4.2.2-mailbox-full-delayed"),
        pytest.param(mailsamples.policy(ASA, SENT), Kind.DSN, ASA, "failed", "5.7.1", True,
                     id="5.7.1-policy"),
        pytest.param(mailsamples.complaint(ASA, SENT), Kind.COMPLAINT, ASA, "abuse", "", True,
                     id="arf-abuse-original-to"),
        pytest.param(mailsamples.complaint(ASA, SENT, rcpt_to=True), Kind.COMPLAINT, ASA,
                     "abuse", "", True, id="arf-abuse-original-rcpt-to"),
    ],
)  # fmt: skip
def test_reports_are_read(
    raw: bytes, kind: Kind, address: str, action: str, status: str, permanent: bool
) -> None:
    report = reports.read(raw)
    assert report.kind is kind
    assert report.recipients == (reports.Recipient(address, action, status, permanent),)
    assert report.key.startswith("<") and report.key.endswith(">")
    assert report.originals == (SENT,)


@pytest.mark.parametrize(
    ("raw", "originals", "address"),
    [
        pytest.param(mailsamples.user_unknown(ASA, None, in_reply_to=SENT), (SENT,), ASA,
                     id="dsn-without-headers-part-in-reply-to"),
        pytest.param(mailsamples.user_unknown(ASA, None), (), ASA, id="dsn-without-original"),
        pytest.param(mailsamples.complaint(ASA, None), (), "", id="arf-redacted-no-original"),
        pytest.param(mailsamples.complaint(ASA, None, rcpt_to=True), (), ASA,
                     id="arf-no-original-rcpt-to"),
    ],
)  # fmt: skip
def test_the_original_message_id_is_read_from_the_report(
    raw: bytes, originals: tuple[str, ...], address: str
) -> None:
    report = reports.read(raw)
    assert report.originals == originals
    assert [recipient.address for recipient in report.recipients] == [address]


def test_a_report_without_message_id_is_keyed_by_its_bytes() -> None:
    first = reports.read(mailsamples.user_unknown(ASA, SENT, message_id=None))
    other = reports.read(mailsamples.user_unknown(MATTI, SENT, message_id=None))
    assert first.key.startswith("sha256:") and first.key != other.key
    assert reports.read(mailsamples.user_unknown(ASA, SENT, message_id=None)).key == first.key


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        pytest.param(mailsamples.GARBAGE, "UTF-8", id="binary-garbage"),
        pytest.param("Sehr geehrte Damen und Herren, Grüße".encode("latin-1"), "UTF-8",
                     id="latin-1-text"),
        pytest.param(mailsamples.NO_HEADERS, "raw mail", id="text-without-headers"),
        pytest.param(b"", "raw mail", id="empty"),
    ],
)  # fmt: skip
def test_garbage_is_refused_and_changes_nothing(db: str, raw: bytes, says: str) -> None:
    add(ASA)
    with pytest.raises(ReportError) as refused:
        feed(raw)
    assert refused.value.field == "body" and says in refused.value.message
    assert state(ASA) == ("active", 0)


# Applying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    reports: Callable[[str, int], list[bytes]]  # (address, subscriber id) -> raw reports
    before: SubscriberStatus
    after: str
    failures: int


def _numbered(sample: Callable[..., bytes], count: int) -> Callable[[str, int], list[bytes]]:
    # Distinct reports (each its own Message-ID) about distinct digests, as separate sends
    # would bounce.
    return lambda address, subscriber_id: [
        sample(address, delivered(subscriber_id), message_id=f"<bounce-{n}@mx1.kommun.example>")
        for n in range(count)
    ]


def _complained(address: str, subscriber_id: int) -> list[bytes]:
    return [mailsamples.complaint(address, delivered(subscriber_id))]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case(_numbered(mailsamples.user_unknown, 1), SubscriberStatus.ACTIVE,
                          "bounced", 1), id="user-unknown-suppresses-at-once"),
        pytest.param(Case(_numbered(mailsamples.policy, 2), SubscriberStatus.ACTIVE,
                          "active", 2), id="policy-below-threshold-counts"),
        pytest.param(Case(_numbered(mailsamples.policy, 3), SubscriberStatus.ACTIVE,
                          "bounced", 3), id="policy-at-threshold-suppresses"),
        pytest.param(Case(_numbered(mailsamples.mailbox_full, 5), SubscriberStatus.ACTIVE,
                          "active", 0), id="delayed-changes-nothing"),
        pytest.param(Case(_complained, SubscriberStatus.ACTIVE, "complained", 0),
                     id="complaint-suppresses"),
        pytest.param(Case(_complained, SubscriberStatus.UNSUBSCRIBED, "complained", 0),
                     id="complaint-closes-even-an-unsubscribed"),
        pytest.param(Case(lambda a, i: [mailsamples.complaint(a, delivered(i), rcpt_to=True)],
                          SubscriberStatus.ACTIVE, "complained", 0),
                     id="complaint-naming-original-rcpt-to"),
        pytest.param(Case(lambda a, i: [mailsamples.complaint("", delivered(i))],
                          SubscriberStatus.ACTIVE, "complained", 0),
                     id="complaint-with-the-address-redacted"),
        pytest.param(Case(lambda a, i: [mailsamples.user_unknown(a, mailsamples.notice_id(i))],
                          SubscriberStatus.PENDING, "bounced", 1),
                     id="bounced-confirm-email-suppresses-a-pending"),
        pytest.param(Case(lambda a, i: [mailsamples.user_unknown(a, None,
                                                                 in_reply_to=delivered(i))],
                          SubscriberStatus.ACTIVE, "bounced", 1),
                     id="original-named-by-in-reply-to"),
        pytest.param(Case(_numbered(mailsamples.user_unknown, 1),
                          SubscriberStatus.UNSUBSCRIBED, "unsubscribed", 1),
                     id="bounce-keeps-an-unsubscribed-unsubscribed"),
        pytest.param(Case(lambda a, i: [mailsamples.out_of_office(a)], SubscriberStatus.ACTIVE,
                          "active", 0), id="out-of-office-is-no-report"),
    ],
)  # fmt: skip
def test_reports_change_the_subscriber(db: str, case: Case) -> None:
    subscriber_id = add(ASA, case.before)
    add(MATTI)
    for raw in case.reports(ASA, subscriber_id):
        applied = feed(raw)
        assert not applied.unverified
    assert state(ASA) == (case.after, case.failures)
    assert state(MATTI) == ("active", 0)  # the bystander


def test_a_report_keeps_what_it_counted_for_the_dashboard(db: str) -> None:
    asa, matti = add(ASA), add(MATTI)
    feed(mailsamples.user_unknown(ASA, delivered(asa)))
    feed(mailsamples.mailbox_full(MATTI, delivered(matti), message_id="<delay@mx>"))
    feed(mailsamples.complaint(MATTI, delivered(matti)))
    with session_scope() as session:
        kept = session.execute(
            select(ProcessedReport.bounces, ProcessedReport.complaints)
        ).all()
    # The hard bounce counts, the delay does not, the complaint counts as one.
    assert sorted(map(tuple, kept)) == [(0, 0), (0, 1), (1, 0)]


def test_the_same_report_twice_counts_once(db: str) -> None:
    subscriber_id = add(ASA)
    original = delivered(subscriber_id)
    for sample in (mailsamples.policy(ASA, original),
                   mailsamples.policy(ASA, original, message_id=None)):  # fmt: skip
        first, second = feed(sample), feed(sample)
        assert not first.duplicate and second.duplicate and second.changes == ()
    assert state(ASA) == ("active", 2)  # two distinct reports, each counted once


def test_a_report_about_an_erased_subscribers_mail_changes_nothing(db: str) -> None:
    asa = add(ASA)
    original = delivered(asa)
    with session_scope() as session:
        subscriber = session.get(Subscriber, asa)
        assert subscriber is not None
        subscribers.erase(session, subscriber)
    add(MATTI)
    applied = feed(mailsamples.user_unknown(ASA, original))
    assert not applied.unverified
    assert [(c.address, c.before, c.note) for c in applied.changes] == [
        (ASA, None, "not a subscriber")
    ]
    with session_scope() as session:
        assert session.scalars(select(Subscriber.email)).all() == [MATTI]


# Forged reports: anyone can mail the bounce address ------------------------------------


@pytest.mark.parametrize(
    ("forge", "note"),
    [
        pytest.param(lambda asa, matti: mailsamples.user_unknown(ASA, mailsamples.FORGED_ID),
                     bounces.NOT_OURS, id="dsn-with-a-made-up-message-id"),
        pytest.param(lambda asa, matti: mailsamples.user_unknown(ASA, "<CAF=kq1@mail.example>"),
                     bounces.NOT_OURS, id="dsn-with-a-foreign-message-id"),
        pytest.param(lambda asa, matti: mailsamples.user_unknown(ASA, None),
                     bounces.NOT_OURS, id="dsn-without-the-original"),
        pytest.param(lambda asa, matti: mailsamples.user_unknown(ASA, delivered(matti)),
                     bounces.OTHER_ADDRESS, id="dsn-with-mattis-digest-naming-asa"),
        pytest.param(lambda asa, matti: mailsamples.user_unknown(
                         ASA, mailsamples.notice_id(matti)),
                     bounces.OTHER_ADDRESS, id="dsn-with-mattis-notice-naming-asa"),
        pytest.param(lambda asa, matti: mailsamples.complaint(ASA, None),
                     bounces.NOT_OURS, id="arf-without-the-original"),
        pytest.param(lambda asa, matti: mailsamples.complaint(ASA, None, rcpt_to=True),
                     bounces.NOT_OURS, id="arf-without-the-original-naming-asa"),
        pytest.param(lambda asa, matti: mailsamples.complaint(ASA, mailsamples.FORGED_ID),
                     bounces.NOT_OURS, id="arf-with-a-made-up-message-id"),
        pytest.param(lambda asa, matti: mailsamples.complaint(ASA, delivered(matti)),
                     bounces.OTHER_ADDRESS, id="arf-with-mattis-digest-naming-asa"),
    ],
)  # fmt: skip
def test_a_forged_report_changes_nothing_and_says_unverified(
    db: str, forge: Callable[[int, int], bytes], note: str
) -> None:
    asa, matti = add(ASA), add(MATTI)
    delivered(asa)  # Åsa has had mail from us: only its Message-ID is missing
    raw = forge(asa, matti)
    for _ in range(2):  # not recorded, so the second is no "duplicate" either
        applied = feed(raw)
        assert applied.unverified and not applied.duplicate
        assert [(c.before, c.after, c.note) for c in applied.changes] == [(None, None, note)]
    assert state(ASA) == ("active", 0) and state(MATTI) == ("active", 0)
    with session_scope() as session:
        assert session.scalars(select(ProcessedReport)).all() == []


def test_a_forgery_does_not_take_the_key_of_the_genuine_report(db: str) -> None:
    asa = add(ASA)
    # The same reporter Message-ID (predictable: time and queue id), forged first.
    forged = feed(mailsamples.user_unknown(ASA, mailsamples.FORGED_ID))
    genuine = feed(mailsamples.user_unknown(ASA, delivered(asa)))
    assert forged.key == genuine.key and forged.unverified
    assert not genuine.duplicate and not genuine.unverified
    assert state(ASA) == ("bounced", 1)


def test_a_message_id_of_ours_under_another_secret_is_unverified(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = mailsamples.user_unknown(ASA, delivered(add(ASA)))
    monkeypatch.setenv("BUDKAVLE_SECRET_KEY", "another-secret-key")
    get_settings.cache_clear()
    try:
        assert feed(raw).unverified
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert state(ASA) == ("active", 0)
    assert not feed(raw).unverified  # once the key is right again, the report applies
    assert state(ASA) == ("bounced", 1)


def test_an_unsubscribe_mail_with_our_token_unsubscribes(db: str) -> None:
    subscriber_id = add(ASA)
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        token = subscribers.token_for(subscriber, Purpose.UNSUBSCRIBE, get_settings())
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = feed(mailsamples.unsubscribe_mail(ASA, forged))
    assert refused.unverified and refused.changes[0].note == bounces.NOT_OUR_LINK
    assert state(ASA) == ("active", 0)
    applied = feed(mailsamples.unsubscribe_mail(ASA, token))
    assert applied.kind is Kind.UNSUBSCRIBE
    assert [(c.address, c.before, c.after) for c in applied.changes] == [
        (ASA, "active", "unsubscribed")
    ]
    assert state(ASA) == ("unsubscribed", 0)
