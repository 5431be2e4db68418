"""The editions page and its test sends, with the real web app, a real Celery worker and an
SMTP sink: a test reaches the one address asked for, once, marked as a test, and changes
nothing a subscriber, an edition or /metrics could tell."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from config import get_settings
from email_templates import content
from newsroom import testsends
from newsroom.db import session_scope
from newsroom.deskmodels import AuditEntry, Role, TestSend, TestSendStatus
from newsroom.models import Edition, EditionSegment, EmailDelivery, Frequency, Subscriber, utcnow
from tests.desksupport import Desk, add_user
from tests.mailsupport import parsed, parts, publish, subscribe
from tests.smtpsink import SmtpSink
from tests.support import Server, wait_for
from worker import bell, tallies, testsend

ADDRESS = "granskare@example.org"
TITLES = ("Borlänge bygger ny bro över Dalälven", "Tammerfors delar med sig av snöröjningen")
FORM = {"email": ADDRESS, "language": "sv", "frequency": "daily"}


@dataclass
class Newsroom:
    editor: Desk
    subscribers: list[int]


@pytest.fixture
def newsroom(mail: SmtpSink, server: Server) -> Iterator[Newsroom]:
    add_user("redaktor@example.se", Role.EDITOR, "Erik Redaktör")
    readers = [
        subscribe("anna.berg@example.se", frequency="daily"),
        subscribe("mikko@example.fi", frequency="daily", language="fi"),
        subscribe("ola@example.no", frequency="weekly"),
    ]
    for title in TITLES:  # news since they subscribed: their next edition's
        publish(title=title)
    editor = Desk(server, "sv")
    assert editor.sign_in("redaktor@example.se").status_code == 303
    yield Newsroom(editor, readers)


def snapshot() -> dict[str, Any]:
    """Everything a test send must leave as it was: each subscriber's position and state,
    the editions and deliveries, and the email counters of /metrics."""
    with session_scope() as session:
        readers = [
            (s.id, s.digest_position, s.status, s.failures, s.updated_at, s.notice_sent_at)
            for s in session.scalars(select(Subscriber).order_by(Subscriber.id))
        ]
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Edition, EditionSegment, EmailDelivery)
        }
    return {"subscribers": readers, "rows": counts, "totals": tallies.totals()}


def stored(status: TestSendStatus | None = None) -> list[TestSend]:
    with session_scope() as session:
        query = select(TestSend).order_by(TestSend.id)
        if status is not None:
            query = query.where(TestSend.status == status)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def audit_entries(action: str) -> list[AuditEntry]:
    with session_scope() as session:
        found = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        session.expunge_all()
        return found


def test_a_test_reaches_one_address_once_marked_and_changes_nothing_else(
    newsroom: Newsroom, mail: SmtpSink, celery_worker: None, server: Server
) -> None:
    before = snapshot()
    page = newsroom.editor.get("/desk/editions?language=sv&frequency=daily")
    assert page.status_code == 200
    assert f"{TITLES[1]} – och 1 annan nyhet" in page.text  # the subject, as it will be sent
    answer = newsroom.editor.post("/desk/editions/test", FORM)
    assert answer.status_code == 303
    assert re.search(r"[?&]sent=\d+#tests$", answer.headers["location"])

    [received] = mail.wait_for(1, timeout=20)
    assert received.rcpt_tos == (ADDRESS,)
    message = parsed(received.data)
    assert message["To"] == ADDRESS
    subject = f"[Test] {TITLES[1]} – och 1 annan nyhet"
    # Compared without spaces: CPython's folding drops the one between two RFC 2047
    # encoded words ("snöröjningen –"), in every email the envelope builds.
    assert message["Subject"].replace(" ", "") == subject.replace(" ", "")
    assert message["X-Budkavle-Test"] == "1"
    [row] = wait_for(lambda: stored(TestSendStatus.SENT), timeout=10, what="the row sent")
    assert message["Message-ID"] == f"<test.{row.key}@{get_settings().mail_domain}>"
    assert row.subject == subject and row.sent_at is not None
    assert "+" not in received.mail_from, "no VERP token: a bounce counts against nobody"
    text, html = parts(message)
    for title in TITLES:
        assert title in text and title in html

    # Its unsubscribe links lead nowhere: no subscriber is named by them.
    unsubscribe = message["List-Unsubscribe"].split(",")[0].strip(" <>")
    path = urlsplit(unsubscribe).path
    assert server.client.get(path).status_code == 404
    assert server.client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404

    shown = newsroom.editor.get("/desk/editions?language=sv&frequency=daily").text
    assert "skickat" in shown and ADDRESS in shown
    assert snapshot() == before
    [entry] = audit_entries("edition.test_send")
    assert (entry.actor, entry.target) == ("redaktor@example.se", ADDRESS)
    assert entry.details == {"test_send": row.id, "language": "sv", "frequency": "daily"}


def test_a_test_to_a_subscribers_own_address_cannot_unsubscribe_them(
    newsroom: Newsroom, mail: SmtpSink, celery_worker: None, server: Server
) -> None:
    before = snapshot()
    own = {**FORM, "email": "Anna.Berg@Example.se"}
    assert newsroom.editor.post("/desk/editions/test", own).status_code == 303
    [received] = mail.wait_for(1, timeout=20)
    message = parsed(received.data)
    _, html = parts(message)
    links = re.findall(r'href="([^"]*/(?:unsubscribe|preferences)/[^"]*)"', html)
    assert links, "the footer's links are there, as in the real email"
    for link in {*links, message["List-Unsubscribe"].split(",")[0].strip(" <>")}:
        path = urlsplit(link).path
        assert server.client.get(path).status_code == 404, link
        assert server.client.post(path).status_code == 404, link
    assert snapshot() == before


def test_a_test_rung_twice_is_sent_once(
    newsroom: Newsroom, mail: SmtpSink, celery_worker: None
) -> None:
    with session_scope() as session:
        row = testsends.request(session, None, ADDRESS, "sv", Frequency.DAILY, utcnow())
        test_id = row.id
    bell.ring_test_sends([test_id, test_id])
    mail.wait_for(1, timeout=20)
    wait_for(lambda: stored(TestSendStatus.SENT), timeout=10, what="the row sent")
    testsend.send(test_id, get_settings())  # a third time, by hand
    bell.ring_test_sends([test_id])
    time.sleep(1.5)  # the fourth bell's task has run, and found the row sent
    assert len(mail.messages) == 1


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("", id="empty"),
        pytest.param("inte en adress", id="no at sign"),
        pytest.param("a@b@example.se", id="two at signs"),
        pytest.param("åsa@exempel.se", id="non-ascii local part"),
        pytest.param("x" * 250 + "@example.se", id="too long"),
        pytest.param("a@example.se\r\nBcc: alla@example.se", id="header injection"),
        pytest.param('"><script>alert(1)</script>@example.se', id="hostile html"),
    ],
)
def test_a_bad_address_is_refused_clearly_and_stores_nothing(
    newsroom: Newsroom, mail: SmtpSink, typed: str
) -> None:
    answer = newsroom.editor.post("/desk/editions/test", {**FORM, "email": typed})
    assert answer.status_code == 422
    assert "E-postadress: skriv en adress" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert "<script>alert(1)" not in answer.text
    assert stored() == [] and audit_entries("edition.test_send") == []


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({**FORM, "language": "xx"}, id="unknown language"),
        pytest.param({**FORM, "frequency": "hourly"}, id="unknown frequency"),
    ],
)
def test_an_edition_that_does_not_exist_is_refused(
    newsroom: Newsroom, form: dict[str, str]
) -> None:
    answer = newsroom.editor.post("/desk/editions/test", form)
    assert answer.status_code == 404 and "Det finns inget sådant utskick" in answer.text
    assert newsroom.editor.get("/desk/editions?language=xx").status_code == 404
    assert stored() == []


def test_nothing_new_means_nothing_to_test(newsroom: Newsroom) -> None:
    # Icelandic: no article, and nobody subscribed.
    page = newsroom.editor.get("/desk/editions?language=is&frequency=daily")
    assert page.status_code == 200 and "inget mejl skulle skickas" in page.text
    assert "<iframe" not in page.text
    answer = newsroom.editor.post("/desk/editions/test", {**FORM, "language": "is"})
    assert answer.status_code == 409 and "inget att testa" in answer.text
    assert stored() == []


def test_a_form_without_the_csrf_token_is_refused(newsroom: Newsroom, mail: SmtpSink) -> None:
    editor = newsroom.editor
    for token in ("", "fel"):
        answer = editor.post("/desk/editions/test", {**FORM, "csrf": token})
        assert answer.status_code == 403 and "kom inte från redaktionen" in answer.text
    assert editor.post("/desk/editions/test", FORM, csrf=False).status_code == 403
    assert stored() == [] and audit_entries("edition.test_send") == []
    assert mail.messages == []


def test_a_refusing_server_shows_as_failed_with_its_answer(
    newsroom: Newsroom, mail: SmtpSink, celery_worker: None
) -> None:
    mail.reply(ADDRESS, "550 5.1.1 no such user here")
    assert newsroom.editor.post("/desk/editions/test", FORM).status_code == 303
    [row] = wait_for(lambda: stored(TestSendStatus.FAILED), timeout=20, what="a failure")
    assert row.error is not None and "550" in row.error
    page = newsroom.editor.get("/desk/editions?language=sv&frequency=daily").text
    assert "misslyckades" in page and "no such user here" in page


def test_the_preview_is_the_email_under_its_own_policy(newsroom: Newsroom, server: Server) -> None:
    page = newsroom.editor.get("/desk/editions?language=sv&frequency=daily")
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    frame = re.search(r'<iframe class="edition" src="([^"]+)" sandbox=""', page.text)
    assert frame is not None
    assert '<pre class="edition-text"' in page.text and TITLES[0] in page.text
    preview = newsroom.editor.get(frame.group(1).replace("&amp;", "&"))
    assert preview.status_code == 200
    policy = preview.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "frame-ancestors 'self'" in policy
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert preview.headers["cache-control"] == "no-store"
    assert TITLES[0] in preview.text and "__BK_" not in preview.text
    assert Desk(server).get(frame.group(1)).status_code == 303


def test_test_sends_are_rate_limited_per_user(
    mail: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    monkeypatch.setenv("BUDKAVLE_DESK_TEST_SEND_RATE_PER_MINUTE", "1")
    monkeypatch.setenv("BUDKAVLE_DESK_TEST_SEND_BURST", "2")
    get_settings.cache_clear()
    add_user("redaktor@example.se", Role.EDITOR)
    add_user("chef@example.se", Role.OPERATOR)
    publish(title=TITLES[0])
    with Server.running(create_app()) as server:
        editor, operator = Desk(server), Desk(server)
        editor.sign_in("redaktor@example.se")
        operator.sign_in("chef@example.se")
        answers = [editor.post("/desk/editions/test", FORM).status_code for _ in range(3)]
        assert answers == [303, 303, 429]
        refused = editor.post("/desk/editions/test", FORM)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Too many test sends" in refused.text
        # Another user has a bucket of their own.
        assert operator.post("/desk/editions/test", FORM).status_code == 303
    assert len(stored()) == 3


def test_a_lost_bell_or_a_dead_worker_is_swept_and_sent_once(
    mail: SmtpSink, celery_worker: None
) -> None:
    from worker.tasks import sweep_digests

    for title in TITLES:  # and no subscriber, whose digest the sweep would send too
        publish(title=title)
    now = utcnow()
    with session_scope() as session:
        lost = testsends.request(session, None, ADDRESS, "sv", Frequency.DAILY,
                                 now - timedelta(seconds=5))  # fmt: skip
        # A worker claimed this one and died before it sent: its lease ran out.
        died = testsends.request(session, None, "andra@example.org", "sv", Frequency.DAILY,
                                 now - timedelta(seconds=90))  # fmt: skip
        died.leased_until = now - timedelta(seconds=1)
        # Still held by a live worker: not rung.
        held = testsends.request(session, None, "tredje@example.org", "sv", Frequency.DAILY,
                                 now - timedelta(seconds=5))  # fmt: skip
        held.leased_until = now + timedelta(minutes=5)
        # Too old to be worth sending: left alone.
        testsends.request(session, None, "gammal@example.org", "sv", Frequency.DAILY,
                          now - testsends.OWED_FOR - timedelta(minutes=1))  # fmt: skip
        ids = {lost.id, died.id}
    sweep_digests()
    received = mail.wait_for(2, timeout=20)
    assert sorted(r.rcpt_tos[0] for r in received) == ["andra@example.org", ADDRESS]
    sent = wait_for(lambda: len(stored(TestSendStatus.SENT)) == 2 and stored(TestSendStatus.SENT))
    assert {row.id for row in sent} == ids
    sweep_digests()  # nothing is due any more
    time.sleep(1.5)
    assert len(mail.messages) == 2


def test_the_overview_counts_every_edition_as_one_edition_alone_would(
    newsroom: Newsroom,
) -> None:
    # every_upcoming counts all audiences in one grouped query; upcoming, one at a time.
    publish(title="Ålesund och Umeå jämför vinterväghållning")
    subscribe("sent@example.se", frequency="weekly", language="sv")
    settings = get_settings()
    with session_scope() as session:
        together = content.every_upcoming(session, settings.subscribe_language_codes, settings)
        alone = [
            content.upcoming(session, language, frequency, settings)
            for language in settings.subscribe_language_codes
            for frequency in Frequency
        ]
    assert together == alone
    counted = {(e.language, e.frequency): e.subscribers for e in together if e.subscribers}
    assert counted == {("sv", Frequency.DAILY): 1, ("fi", Frequency.DAILY): 1,
                       ("sv", Frequency.WEEKLY): 2}  # fmt: skip
