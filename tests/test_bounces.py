"""Returned mail applied to subscribers: DSN bounces (RFC 3464), ARF complaints (RFC 5965),
mailto unsubscribes (RFC 8058 §3); each report counts once; garbage changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from config import get_settings
from newsroom import bounces, reports, subscribers
from newsroom.db import session_scope
from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
from newsroom.reports import Kind, ReportError
from newsroom.subscription import SubscriptionIn
from newsroom.tokens import Purpose
from tests import mailsamples

ASA = "asa.lindqvist@borlange.example"
MATTI = "matti.virtanen@tampere.example"


def add(email: str, status: SubscriberStatus = SubscriberStatus.ACTIVE) -> int:
    with session_scope() as session:
        subscriber, _ = subscribers.import_active(
            session, SubscriptionIn(email=email, language="sv", frequency=Frequency.DAILY),
            now=utcnow(), consent_form="test",
        )  # fmt: skip
        subscriber.status = status
        return subscriber.id


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
        pytest.param(mailsamples.user_unknown(ASA), Kind.DSN, ASA, "failed", "5.1.1", True,
                     id="postfix-5.1.1-user-unknown"),
        pytest.param(mailsamples.mailbox_full(ASA), Kind.DSN, ASA, "delayed", "4.2.2", False,
                     id="postfix-4.2.2-mailbox-full-delayed"),
        pytest.param(mailsamples.policy(ASA), Kind.DSN, ASA, "failed", "5.7.1", True,
                     id="5.7.1-policy"),
        pytest.param(mailsamples.complaint(ASA), Kind.COMPLAINT, ASA, "abuse", "", True,
                     id="arf-abuse-original-to"),
        pytest.param(mailsamples.complaint(ASA, rcpt_to=True), Kind.COMPLAINT, ASA, "abuse", "",
                     True, id="arf-abuse-original-rcpt-to"),
    ],
)  # fmt: skip
def test_reports_are_read(
    raw: bytes, kind: Kind, address: str, action: str, status: str, permanent: bool
) -> None:
    report = reports.read(raw)
    assert report.kind is kind
    assert report.recipients == (reports.Recipient(address, action, status, permanent),)
    assert report.key.startswith("<") and report.key.endswith(">")


def test_a_report_without_message_id_is_keyed_by_its_bytes() -> None:
    first = reports.read(mailsamples.user_unknown(ASA, message_id=None))
    other = reports.read(mailsamples.user_unknown(MATTI, message_id=None))
    assert first.key.startswith("sha256:") and first.key != other.key
    assert reports.read(mailsamples.user_unknown(ASA, message_id=None)).key == first.key


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
    reports: Callable[[str], list[bytes]]
    before: SubscriberStatus
    after: str
    failures: int


def _numbered(sample: Callable[..., bytes], count: int) -> Callable[[str], list[bytes]]:
    # Distinct reports (each its own Message-ID), as separate sends would bounce.
    return lambda address: [
        sample(address, message_id=f"<bounce-{n}@mx1.kommun.example>") for n in range(count)
    ]


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
        pytest.param(Case(lambda a: [mailsamples.complaint(a)], SubscriberStatus.ACTIVE,
                          "complained", 0), id="complaint-suppresses"),
        pytest.param(Case(lambda a: [mailsamples.complaint(a)], SubscriberStatus.UNSUBSCRIBED,
                          "complained", 0), id="complaint-closes-even-an-unsubscribed"),
        pytest.param(Case(_numbered(mailsamples.user_unknown, 1),
                          SubscriberStatus.UNSUBSCRIBED, "unsubscribed", 1),
                     id="bounce-keeps-an-unsubscribed-unsubscribed"),
        pytest.param(Case(lambda a: [mailsamples.out_of_office(a)], SubscriberStatus.ACTIVE,
                          "active", 0), id="out-of-office-is-no-report"),
    ],
)  # fmt: skip
def test_reports_change_the_subscriber(db: str, case: Case) -> None:
    add(ASA, case.before)
    add(MATTI)
    for raw in case.reports(ASA):
        feed(raw)
    assert state(ASA) == (case.after, case.failures)
    assert state(MATTI) == ("active", 0)  # the bystander


def test_the_same_report_twice_counts_once(db: str) -> None:
    add(ASA)
    for sample in (mailsamples.policy(ASA), mailsamples.policy(ASA, message_id=None)):
        first, second = feed(sample), feed(sample)
        assert not first.duplicate and second.duplicate and second.changes == ()
    assert state(ASA) == ("active", 2)  # two distinct reports, each counted once


def test_unknown_addresses_change_nothing(db: str) -> None:
    add(ASA)
    applied = feed(mailsamples.user_unknown("okand@kommun.example"))
    assert [(c.address, c.before, c.note) for c in applied.changes] == [
        ("okand@kommun.example", None, "not a subscriber")
    ]
    with session_scope() as session:
        assert session.scalars(select(Subscriber.email)).all() == [ASA]


def test_an_unsubscribe_mail_with_our_token_unsubscribes(db: str) -> None:
    subscriber_id = add(ASA)
    with session_scope() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        token = subscribers.token_for(subscriber, Purpose.UNSUBSCRIBE, get_settings())
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = feed(mailsamples.unsubscribe_mail(ASA, forged))
    assert refused.changes[0].note == "token is not one we sent"
    assert state(ASA) == ("active", 0)
    applied = feed(mailsamples.unsubscribe_mail(ASA, token))
    assert applied.kind is Kind.UNSUBSCRIBE
    assert [(c.address, c.before, c.after) for c in applied.changes] == [
        (ASA, "active", "unsubscribed")
    ]
    assert state(ASA) == ("unsubscribed", 0)
