"""Digests: editions planned from the database, sent in batches to a real SMTP server.

Each side effect is checked to happen once: planning twice, a batch run twice, a worker
that died mid-batch, an SMTP server that was away.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from config import get_settings
from newsroom import articles, editions, outbox, subscribers
from newsroom.db import session_scope
from newsroom.models import (
    Edition,
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    Frequency,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsroom.schemas import ArticleIn
from tests.mailsupport import GRACE, parsed, parts, plan, publish, send_all, subscribe
from tests.smtpsink import SmtpSink
from tests.support import article, wait_for
from worker import deliver, digest
from worker.mailer import Connection, FolderTransport, transport_from_url


def test_a_digest_reaches_each_subscriber_once_with_their_own_links(mail: SmtpSink) -> None:
    subscribe("asa.oberg@example.se")
    subscribe("matti.virtanen@example.fi", language="fi")
    publish()
    publish(title="Umeå och Tammerfors delar vinterväghållning", tags=["Umeå"])
    publish(title="Tampere avaa kirjaston e-kokoelman", language="fi", tags=["Tampere"])

    send_all(plan())

    received = {item.rcpt_tos[0]: parsed(item.data) for item in mail.wait_for(2)}
    swedish = received["asa.oberg@example.se"]
    # The lead story (the newest with an image) leads the subject, the rest are counted.
    assert swedish["Subject"] == "Umeå och Tammerfors delar vinterväghållning – och 1 annan nyhet"
    assert swedish["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = swedish["List-Unsubscribe"]
    assert "<https://nyheter.example/unsubscribe/" in unsubscribe
    assert "<mailto:unsubscribe@nyheter.example?subject=unsubscribe%20" in unsubscribe
    text, html = parts(swedish)
    assert "Umeå och Tammerfors delar vinterväghållning" in text
    assert "Personliga möten stärker det nordiska samarbetet" in html
    assert "Tampere avaa" not in text, "articles in another language stay out"
    assert "asa.oberg@example.se" in text
    assert "Etikettmoln" in html and "Läs mer" in html
    url = unsubscribe.split("<")[1].split(">")[0]
    assert url in text and url.replace("&", "&amp;") in html
    finnish = received["matti.virtanen@example.fi"]
    assert "Tampere avaa kirjaston e-kokoelman" in parts(finnish)[0]
    assert finnish["Message-ID"] != swedish["Message-ID"]
    assert mail.connections == 1, "one SMTP connection for the batch"


def test_tags_filter_and_nothing_new_means_no_email(mail: SmtpSink) -> None:
    subscribe("kaisa@example.se", tags=[])
    publish(tags=["Borlänge"])
    publish(title="Umeå bygger ut cykelvägarna", tags=["Umeå"])
    subscribe("umea-fan@example.se", tags=["umea"])
    subscribe("borlange-fan@example.se", tags=["borlange"])
    publish(title="Umeå öppnar nytt bibliotek", tags=["Umeå"])

    send_all(plan())

    received = {item.rcpt_tos[0]: item for item in mail.wait_for(2)}
    assert set(received) == {"kaisa@example.se", "umea-fan@example.se"}
    text = parts(parsed(received["umea-fan@example.se"].data))[0]
    new_for_them = text.split("Senaste nyheter")[0]
    assert "Umeå öppnar nytt bibliotek" in new_for_them
    assert "cykelvägarna" not in new_for_them, "published before they subscribed"

    mail.recorder.clear()
    assert plan() == [], "nothing new: no edition batches"
    assert mail.messages == []


def test_planning_twice_plans_once_and_a_batch_run_twice_sends_once(mail: SmtpSink) -> None:
    for number in range(25):
        subscribe(f"lasare{number}@example.se")
    publish()
    slot = editions.manual_slot(Frequency.IMMEDIATE, utcnow())
    batches = digest.plan_edition(slot, get_settings(), utcnow())
    assert digest.plan_edition(slot, get_settings(), utcnow()) == []
    assert len(batches) == 3

    send_all(batches)
    send_all(batches)

    assert len(mail.wait_for(25)) == 25
    assert sorted(item.rcpt_tos[0] for item in mail.messages) == sorted(
        f"lasare{number}@example.se" for number in range(25)
    )
    with session_scope() as session:
        assert editions.finish(session, utcnow()) != []


def test_an_article_never_reaches_a_subscriber_twice(mail: SmtpSink) -> None:
    subscribe("elin@example.se")
    publish()
    send_all(plan(Frequency.IMMEDIATE))
    with session_scope() as session:  # Elin now wants a daily digest instead
        session.execute(update(Subscriber).values(frequency=Frequency.DAILY))
    send_all(plan(Frequency.DAILY))
    assert len(mail.wait_for(1)) == 1
    publish(title="Helsingfors testar nattbussar", tags=["Helsingfors"])
    send_all(plan(Frequency.DAILY))
    second = mail.wait_for(2)[1]
    text = parts(parsed(second.data))[0]
    assert "Helsingfors testar nattbussar" in text
    assert "Personliga möten stärker" not in text.split("Senaste nyheter")[0]


def test_a_worker_killed_mid_batch_resumes_without_doubles(mail: SmtpSink) -> None:
    for number in range(10):
        subscribe(f"person{number}@example.se")
    publish()
    [(edition_id, batch)] = plan()
    # What a killed worker leaves: four sent and recorded, the rest leased to a dead worker.
    with session_scope() as session:
        ids = list(session.scalars(select(EmailDelivery.id).order_by(EmailDelivery.id)))
        session.execute(
            update(EmailDelivery)
            .where(EmailDelivery.id.in_(ids[:4]))
            .values(status=EmailStatus.SENT, sent_at=utcnow())
        )
        session.execute(
            update(EmailDelivery)
            .where(EmailDelivery.id.in_(ids[4:]))
            .values(leased_until=utcnow() + timedelta(minutes=5), attempts=1)
        )
    deliver.send_batch(edition_id, batch, get_settings())
    assert mail.messages == [], "leased to another worker: not sent again at once"

    with session_scope() as session:  # the lease runs out: the sweeper rings once
        session.execute(update(EmailDelivery).values(leased_until=utcnow() - timedelta(1)))
    with session_scope() as session:
        assert editions.stalled_batches(session, utcnow(), timedelta(0)) == [(edition_id, batch)]
        grace = timedelta(seconds=1)
        assert editions.stalled_batches(session, utcnow(), grace) == [], "not again at once"
    deliver.send_batch(edition_id, batch, get_settings())
    assert sorted(item.rcpt_tos[0] for item in mail.wait_for(6)) == [
        f"person{number}@example.se" for number in range(4, 10)
    ]


def test_smtp_answers_decide_retry_failure_and_suppression(mail: SmtpSink) -> None:
    subscribe("tillfallig@example.se")
    subscribe("finns.inte@example.se")
    subscribe("ok@example.se")
    publish()
    mail.reply("tillfallig@example.se", "451 4.3.0 Försök igen senare")
    mail.reply("finns.inte@example.se", "550 5.1.1 No such user")
    [(edition_id, batch)] = plan()
    with session_scope() as session:  # two bounces came back by mail before this edition
        session.execute(
            update(Subscriber).where(Subscriber.email == "ok@example.se").values(failures=2)
        )

    outcome = deliver.send_batch(edition_id, batch, get_settings())

    assert (outcome.sent, outcome.retry, outcome.failed) == (1, 1, 1)
    with session_scope() as session:
        # Accepted is not delivered: a third bounce, arriving later, must still count.
        assert session.scalar(
            select(Subscriber.failures).where(Subscriber.email == "ok@example.se")
        ) == 2
    with session_scope() as session:
        rows = dict(
            session.execute(
                select(Subscriber.email, EmailDelivery.status).join(
                    Subscriber, Subscriber.id == EmailDelivery.subscriber_id
                )
            ).all()
        )
        failures = session.scalar(
            select(Subscriber.failures).where(Subscriber.email == "finns.inte@example.se")
        )
    assert rows == {
        "tillfallig@example.se": EmailStatus.QUEUED,
        "finns.inte@example.se": EmailStatus.FAILED,
        "ok@example.se": EmailStatus.SENT,
    }
    assert failures == 1
    with session_scope() as session:  # the times the desk's dashboard counts by
        times = session.execute(
            select(EmailDelivery.status, EmailDelivery.sent_at, EmailDelivery.failed_at)
        ).all()
    for status, sent_at, failed_at in times:
        assert (sent_at is not None) == (status is EmailStatus.SENT)
        assert (failed_at is not None) == (status is EmailStatus.FAILED)
        assert utcnow() - (sent_at or failed_at or utcnow()) < timedelta(minutes=5)
    mail.reply("tillfallig@example.se", None)
    with session_scope() as session:
        session.execute(update(EmailDelivery).values(next_attempt_at=utcnow()))
    deliver.send_batch(edition_id, batch, get_settings())
    assert [item.rcpt_tos[0] for item in mail.messages][-1] == "tillfallig@example.se"


def test_an_smtp_server_that_was_away_gets_everything_when_back(mail: SmtpSink) -> None:
    for number in range(5):
        subscribe(f"vantar{number}@example.se")
    publish()
    [(edition_id, batch)] = plan()
    mail.stop()
    outcome = deliver.send_batch(edition_id, batch, get_settings())
    assert (outcome.sent, outcome.retry) == (0, 5)
    first_ids = _message_ids()
    mail.start()
    with session_scope() as session:
        session.execute(update(EmailDelivery).values(next_attempt_at=utcnow()))
    deliver.send_batch(edition_id, batch, get_settings())
    assert len(mail.wait_for(5)) == 5
    assert first_ids == _message_ids()


def test_a_bell_that_comes_early_still_rings_the_next_one(mail: SmtpSink) -> None:
    """Retries fall due a few milliseconds apart, and an ETA may fire a moment early: a
    run that finds nothing due, or sends only the first, still says when the rest are
    due, so the batch's chain of bells never ends while a row waits."""
    for number in range(3):
        subscribe(f"tidig{number}@example.se")
    publish()
    [(edition_id, batch)] = plan()
    mail.stop()
    assert deliver.send_batch(edition_id, batch, get_settings()).retry == 3
    with session_scope() as session:
        due = sorted(session.scalars(select(EmailDelivery.next_attempt_at)))
    assert due[0] < due[-1], "each retry is due from its own failure"
    mail.start()

    early = deliver.send_batch(edition_id, batch, get_settings())  # before any is due
    assert (early.sent, early.retry, early.retry_at) == (0, 0, due[0])
    with session_scope() as session:  # the first falls due; the others a moment later
        first = session.scalars(select(EmailDelivery).order_by(EmailDelivery.id)).first()
        assert first is not None
        first.next_attempt_at = utcnow()
    partly = deliver.send_batch(edition_id, batch, get_settings())
    assert (partly.sent, partly.retry_at) == (1, due[1])
    with session_scope() as session:
        session.execute(update(EmailDelivery).values(next_attempt_at=utcnow()))
    done = deliver.send_batch(edition_id, batch, get_settings())
    assert (done.sent, done.retry_at) == (2, None), "nothing left: the chain ends"


def _message_ids() -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(EmailDelivery.id).order_by(EmailDelivery.id)))


def test_unsubscribed_after_planning_gets_nothing(mail: SmtpSink) -> None:
    leaving = subscribe("lamnar@example.se")
    subscribe("stannar@example.se")
    publish()
    [(edition_id, batch)] = plan()
    with session_scope() as session:
        subscriber = session.get(Subscriber, leaving)
        assert subscriber is not None
        subscribers.unsubscribe(session, subscriber, now=utcnow())
    deliver.send_batch(edition_id, batch, get_settings())
    assert [item.rcpt_tos[0] for item in mail.wait_for(1)] == ["stannar@example.se"]


def test_the_folder_transport_keeps_one_eml_per_message(mail: SmtpSink, tmp_path: Path) -> None:
    subscribe("mapp@example.se")
    publish()
    [(edition_id, batch)] = plan()
    deliver.send_batch(edition_id, batch, get_settings(), FolderTransport(tmp_path))
    [saved] = list(tmp_path.glob("*.eml"))
    assert parsed(saved.read_bytes())["To"] == "mapp@example.se"


@pytest.mark.parametrize(
    ("zone", "now", "due"),
    [
        ("Europe/Stockholm", datetime(2026, 11, 26, 5, 59, tzinfo=UTC), False),  # 06:59
        ("Europe/Stockholm", datetime(2026, 11, 26, 6, 0, tzinfo=UTC), True),  # 07:00
        ("Europe/Helsinki", datetime(2026, 11, 26, 5, 0, tzinfo=UTC), True),  # 07:00
        ("Atlantic/Reykjavik", datetime(2026, 11, 26, 6, 30, tzinfo=UTC), False),  # 06:30
    ],
)
def test_daily_editions_go_at_the_local_hour(
    mail: SmtpSink, zone: str, now: datetime, due: bool
) -> None:
    subscribe("tidszon@example.se", frequency="daily", time_zone=zone)
    with session_scope() as session:
        slots = editions.due_slots(session, now, window=timedelta(0), hour=7, weekday=0)
    assert [slot.key for slot in slots] == ([f"daily:{zone}:2026-11-26"] if due else [])


def test_immediate_editions_wait_for_the_window(mail: SmtpSink) -> None:
    subscribe("snabb@example.se")
    publish()
    with session_scope() as session:
        window = timedelta(minutes=5)
        assert editions.due_slots(session, utcnow(), window=window, hour=7, weekday=0) == []
        later = utcnow() + window
        [slot] = editions.due_slots(session, later, window=window, hour=7, weekday=0)
    assert slot.frequency is Frequency.IMMEDIATE
    assert digest.plan_due(get_settings(), utcnow() + timedelta(minutes=5)) != []
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Edition)) == 1
        assert session.scalar(select(func.count()).select_from(EditionSegment)) == 1
        status = session.scalar(select(Subscriber.status))
    assert status is SubscriberStatus.ACTIVE


class SlowTransport:
    """The real sink behind a connection that takes its time, like a slow SMTP server."""

    def __init__(self, url: str, delay: float) -> None:
        self.inner = transport_from_url(url, data_dir=Path("."))
        self.delay = delay

    def connect(self) -> Connection:
        inner = self.inner.connect()
        delay = self.delay

        class Slow:
            def send(self, sender: str, recipient: str, message: bytes) -> None:
                time.sleep(delay)
                inner.send(sender, recipient, message)

            def close(self) -> None:
                inner.close()

            def __enter__(self) -> Slow:
                return self

            def __exit__(self, *exc: object) -> None:
                inner.close()

        return Slow()


def test_a_batch_slower_than_its_lease_is_never_sent_twice(
    mail: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDKAVLE_DIGEST_LEASE_SECONDS", "2")
    get_settings.cache_clear()
    addresses = [f"langsam{number}@example.se" for number in range(10)]  # one batch
    for address in addresses:
        subscribe(address)
    publish()
    [(edition_id, batch)] = plan()
    slow = SlowTransport(mail.url, delay=0.4)
    first = threading.Thread(
        target=deliver.send_batch, args=(edition_id, batch, get_settings(), slow)
    )
    first.start()
    # Six messages of 0.4 s: past the first lease, a second worker tries, as the sweeper would.
    wait_for(lambda: len(mail.messages) >= 6, timeout=10, what="six messages")
    second = deliver.send_batch(edition_id, batch, get_settings(), slow)
    assert first.is_alive(), "the first worker was still sending when the second came"
    first.join()
    assert second.sent == 0, "the renewed lease kept the batch with its first worker"
    assert sorted(m.rcpt_tos[0] for m in mail.messages) == addresses


def test_unsubscribing_mid_batch_stops_the_email(
    mail: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDKAVLE_DIGEST_LEASE_SECONDS", "1")
    get_settings.cache_clear()
    for number in range(6):
        subscribe(f"batch{number}@example.se")
    publish()
    [(edition_id, batch)] = plan()
    sending = threading.Thread(
        target=deliver.send_batch,
        args=(edition_id, batch, get_settings(), SlowTransport(mail.url, delay=0.3)),
    )
    sending.start()
    time.sleep(0.5)
    with session_scope() as session:
        leaving = subscribers.by_email(session, "batch5@example.se")
        assert leaving is not None
        subscribers.unsubscribe(session, leaving, now=utcnow())
    sending.join()
    assert "batch5@example.se" not in [m.rcpt_tos[0] for m in mail.messages]
    assert len(mail.messages) == 5


def test_an_article_retracted_after_planning_leaves_the_email(mail: SmtpSink) -> None:
    subscribe("rattelse@example.se")
    publish()
    publish(title="Felaktig uppgift om Dalälven", tags=["Dalarna"])
    [(edition_id, batch)] = plan()
    with session_scope() as session:
        articles.retract(session, "felaktig-uppgift-om-dalalven", utcnow(), GRACE)
    deliver.send_batch(edition_id, batch, get_settings())
    [received] = mail.wait_for(1)
    message = parsed(received.data)
    assert "Felaktig uppgift" not in parts(message)[0]
    assert "Felaktig uppgift" not in parts(message)[1]
    assert message["Subject"] == "Personliga möten stärker det nordiska samarbetet"


def test_an_edition_whose_articles_were_all_retracted_sends_nothing(mail: SmtpSink) -> None:
    subscribe("tomt@example.se")
    publish(title="Snart tillbakadragen", tags=["Dalarna"])
    [(edition_id, batch)] = plan()
    with session_scope() as session:
        articles.retract(session, "snart-tillbakadragen", utcnow(), GRACE)
    outcome = deliver.send_batch(edition_id, batch, get_settings())
    assert (outcome.sent, mail.messages) == (0, [])
    with session_scope() as session:
        assert session.scalar(select(EmailDelivery.status)) is EmailStatus.FAILED


def test_an_article_published_again_is_not_news_again(mail: SmtpSink) -> None:
    subscribe("igen@example.se")
    publish(title="Publiceras två gånger", tags=["Dalarna"])
    send_all(plan())
    mail.wait_for(1)
    slug = "publiceras-tva-ganger"
    with session_scope() as session:  # back to draft, then published again
        for status in ("draft", "published"):
            data = ArticleIn.model_validate(article(title="Publiceras två gånger", status=status))
            _, event = articles.update(session, slug, data, utcnow(), GRACE)
            assert event is not None
            outbox.assign_position(session, event.id)
    assert plan() == [], "nothing new for anyone"


def test_an_address_with_a_nordic_domain_is_stored_in_ascii_and_sent(mail: SmtpSink) -> None:
    subscribe("lena@bjärka-säby.se")
    publish()
    send_all(plan())
    [received] = mail.wait_for(1)
    assert received.rcpt_tos[0] == "lena@" + "bjärka-säby.se".encode("idna").decode()


def test_temporary_failures_give_up_after_days(mail: SmtpSink) -> None:
    subscribe("full.brevlada@example.se")
    publish()
    [(edition_id, batch)] = plan()
    mail.reply("full.brevlada@example.se", "452 4.2.2 Mailbox full")
    with session_scope() as session:
        session.execute(update(EmailDelivery).values(attempts=deliver.MAX_ATTEMPTS - 1))
    outcome = deliver.send_batch(edition_id, batch, get_settings())
    assert (outcome.failed, outcome.retry) == (1, 0)
    with session_scope() as session:
        assert session.scalar(select(EmailDelivery.status)) is EmailStatus.FAILED
        assert session.scalar(select(Subscriber.failures)) == 1


def test_switching_to_immediate_gets_the_news_waiting(mail: SmtpSink) -> None:
    subscribe("snabb@example.se")
    publish()
    send_all(plan())  # an immediate edition went out
    subscribe("daglig@example.se", frequency="daily")
    publish(title="Ny artikel för den dagliga", tags=["Dalarna"])
    send_all(plan())  # the immediate edition for this one too
    with session_scope() as session:  # the daily reader switches to immediate
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == "daglig@example.se")
            .values(frequency=Frequency.IMMEDIATE)
        )
        [slot] = editions.due_slots(session, utcnow(), window=timedelta(0), hour=7, weekday=0)
    send_all(digest.plan_edition(slot, get_settings(), utcnow()))
    assert [m.rcpt_tos[0] for m in mail.wait_for(3)][-1] == "daglig@example.se"
