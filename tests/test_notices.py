"""The confirm and "already subscribed" emails: owed by the row, sent once, to a real SMTP
server; a retry keeps its Message-ID, and a sweep finds what a lost bell left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from config import get_settings
from newsroom import links
from newsroom.db import session_scope
from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
from tests.mailsupport import parsed, parts
from tests.smtpsink import SmtpSink
from worker import notices, tallies
from worker.mailer import SendError


def owed(email: str, status: SubscriberStatus, *, ago: timedelta = timedelta(0)) -> int:
    with session_scope() as session:
        subscriber = Subscriber(
            email=email, status=status, language="fi", frequency=Frequency.DAILY, tags=[],
            time_zone="Europe/Helsinki", consent_form="test", notice_requested_at=utcnow() - ago,
        )  # fmt: skip
        session.add(subscriber)
        session.flush()
        return subscriber.id


def row(subscriber_id: int) -> Subscriber:
    with session_scope() as session:
        found = session.get(Subscriber, subscriber_id)
        assert found is not None
        return found


@pytest.mark.parametrize(
    ("status", "subject", "link"),
    [
        (SubscriberStatus.PENDING, "Budkavle: vahvista tilauksesi", links.confirm_url),
        (SubscriberStatus.ACTIVE, "Budkavle: olet jo tilaaja", links.preferences_url),
    ],
    ids=["confirm", "already-subscribed"],
)
def test_the_notice_goes_once_with_working_links(
    mail: SmtpSink, status: SubscriberStatus, subject: str, link: object
) -> None:
    subscriber_id = owed("matti.virtanen@example.fi", status)
    notices.send(subscriber_id, get_settings())
    notices.send(subscriber_id, get_settings())  # a second bell
    [received] = mail.messages
    message = parsed(received.data)
    assert message["To"] == "matti.virtanen@example.fi"
    assert message["Subject"] == subject
    subscriber = row(subscriber_id)
    assert callable(link)
    text, _ = parts(message)
    assert link(subscriber, get_settings()) in text
    # Over SMTP both parts are quoted-printable: readable, and 7-bit for any relay.
    assert [part["Content-Transfer-Encoding"] for part in message.iter_parts()] == [
        "quoted-printable", "quoted-printable",
    ]  # fmt: skip
    assert tallies.totals() == {"emails_sent:notice": 1}, "counted once, for /metrics"
    unsubscribe = links.unsubscribe_url(subscriber, get_settings())
    assert message["List-Unsubscribe"].startswith(f"<{unsubscribe}>")
    assert message["Message-ID"] == notices.message_id(
        subscriber_id, subscriber.notice_requested_at or utcnow(), "nyheter.example",
        get_settings().resolved_secret_key(),
    )  # fmt: skip
    assert subscriber.notice_sent_at == subscriber.notice_requested_at


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED])
def test_nobody_who_left_gets_a_notice(mail: SmtpSink, status: SubscriberStatus) -> None:
    subscriber_id = owed("asa.oberg@example.se", status)
    notices.send(subscriber_id, get_settings())
    assert mail.messages == []
    assert row(subscriber_id).notice_sent_at == row(subscriber_id).notice_requested_at


def test_a_temporary_failure_is_retried_with_the_same_message_id(mail: SmtpSink) -> None:
    subscriber_id = owed("asa.oberg@example.se", SubscriberStatus.PENDING, ago=timedelta(minutes=1))
    mail.reply("asa.oberg@example.se", "451 4.3.0 try again later")
    with pytest.raises(SendError) as failure:
        notices.send(subscriber_id, get_settings())
    assert not failure.value.permanent
    assert row(subscriber_id).notice_sent_at is None
    assert notices.sweep(utcnow()) == [subscriber_id]

    mail.reply("asa.oberg@example.se", None)
    notices.send(subscriber_id, get_settings())  # the lease still holds: spaced out
    assert mail.messages == []
    redis.Redis.from_url(get_settings().redis_client_url).delete(notices.lease_key(subscriber_id))
    notices.send(subscriber_id, get_settings())
    [received] = mail.messages
    subscriber = row(subscriber_id)
    assert parsed(received.data)["Message-ID"] == notices.message_id(
        subscriber_id, subscriber.notice_requested_at or utcnow(), "nyheter.example",
        get_settings().resolved_secret_key(),
    )  # fmt: skip
    assert notices.sweep(utcnow()) == []


def test_a_permanent_failure_is_not_retried(mail: SmtpSink) -> None:
    subscriber_id = owed("finns.inte@example.se", SubscriberStatus.PENDING)
    mail.reply("finns.inte@example.se", "550 5.1.1 no such user")
    notices.send(subscriber_id, get_settings())
    assert mail.messages == []
    assert row(subscriber_id).notice_sent_at == row(subscriber_id).notice_requested_at
    assert notices.sweep(utcnow() + timedelta(minutes=1)) == []


def test_the_sweep_finds_owed_notices_of_the_last_day_only(db: str) -> None:
    now = utcnow()  # read before the requests: a slow machine cannot age "just now"
    just_now = owed("just.nu@example.se", SubscriberStatus.PENDING)
    lost = owed("borttappad@example.se", SubscriberStatus.PENDING, ago=timedelta(minutes=5))
    owed("for.gammal@example.se", SubscriberStatus.PENDING, ago=timedelta(days=2))
    assert notices.sweep(now) == [lost], "the request's own bell gets its chance first"
    assert set(notices.sweep(now + timedelta(seconds=5))) == {just_now, lost}
