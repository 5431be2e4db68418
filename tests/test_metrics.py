"""/metrics after real sends, refusals, bounces and pushes: the numbers an operator alerts on.

Real parts: the web app scraped over loopback, an SMTP server (aiosmtpd) that accepts,
defers and refuses, partners on loopback answering 500 and 410, Redis for the totals.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from newsroom.db import session_scope
from newsroom.models import (
    Edition,
    EmailDelivery,
    EmailStatus,
    Partner,
    PartnerDelivery,
    utcnow,
)
from tests import mailsamples
from tests.mailsupport import plan, publish, send_all, subscribe
from tests.partnerpeers import Partners
from tests.smtpsink import SmtpSink
from tests.support import ADMIN, Server
from tests.test_health import scrape
from tests.test_partners import _wait_for_delivery, loopback_allowed, peers, register
from tests.test_partners import publish as publish_over_api
from worker import push, tasks

__all__ = ["loopback_allowed", "peers"]  # fixtures, used by name

OK = "astrid.nilsson@umea.example"
GONE = "okand.mottagare@lulea.example"
FULL = "paivi.korhonen@oulu.example"


def metric(server: Server, name: str, **labels: str) -> float:
    return scrape(server)[(name, tuple(sorted(labels.items())))]


def test_emails_sent_failed_deferred_and_the_oldest_age(server: Server, mail: SmtpSink) -> None:
    for address in (OK, GONE, FULL):
        subscribe(address)
    publish()
    mail.reply(GONE, "550 5.1.1 No such mailbox")
    mail.reply(FULL, "452 4.2.2 Mailbox full")
    batches = plan()
    send_all(batches)

    counts = scrape(server)
    assert counts[("budkavle_emails_sent_total", (("kind", "digest"),))] == 1
    assert counts[("budkavle_emails_failed_total", (("kind", "digest"),))] == 1
    assert counts[("budkavle_emails_deferred_total", (("kind", "digest"),))] == 1
    assert counts[("budkavle_emails_sent_total", (("kind", "notice"),))] == 0
    assert counts[("budkavle_emails_queued", ())] == 1

    # The deferred one waits on: planned two minutes ago, retried just now. Its age counts
    # from when it was planned; a retry (a new next_attempt_at) does not start it again.
    with session_scope() as session:
        session.execute(
            update(EmailDelivery)
            .where(EmailDelivery.status == EmailStatus.QUEUED)
            .values(next_attempt_at=utcnow())
        )
        session.execute(update(Edition).values(planned_at=utcnow() - timedelta(seconds=120)))
    before = metric(server, "budkavle_emails_oldest_queued_seconds")
    send_all(batches)  # deferred again: next_attempt_at moves into the future
    with session_scope() as session:
        retry = session.scalars(
            select(EmailDelivery).where(EmailDelivery.status == EmailStatus.QUEUED)
        ).one()
        assert retry.next_attempt_at > utcnow()
    after = metric(server, "budkavle_emails_oldest_queued_seconds")
    assert 120 <= before <= after < 180
    assert metric(server, "budkavle_emails_deferred_total", kind="digest") == 2


def test_bounces_and_complaints_count_once(server: Server) -> None:
    from tests.test_bounces import add, delivered

    bounced, complained = add(GONE), add(OK)
    bounce = mailsamples.user_unknown(GONE, delivered(bounced))
    complaint = mailsamples.complaint(OK, delivered(complained))
    delayed = mailsamples.mailbox_full(GONE, delivered(bounced))
    for raw in (bounce, complaint, delayed, bounce):  # the same bounce again counts once
        answer = server.client.post("/api/bounces", content=raw, headers=ADMIN)
        assert answer.status_code == 200, answer.text
    assert metric(server, "budkavle_emails_bounced_total") == 1
    assert metric(server, "budkavle_emails_complained_total") == 1


def test_partner_deliveries_by_state_and_disabled(db: str, server: Server, peers: Partners) -> None:
    failing = register(server, "Tammerfors stad", peers.endpoint("tampere", 500))
    closing = register(server, "Tromsø kommune", peers.endpoint("tromso", 410))
    publish_over_api(server)
    first = _wait_for_delivery(int(failing["id"]))
    with session_scope() as session:
        ids = session.scalars(select(PartnerDelivery.id).order_by(PartnerDelivery.id)).all()
    assert scrape(server)[("budkavle_partner_deliveries", (("state", "due"),))] == 2
    for delivery_id in ids:
        push.push(delivery_id)

    counts = scrape(server)
    assert counts[("budkavle_partner_pushes_total", (("outcome", "retry"),))] == 1
    assert counts[("budkavle_partner_pushes_total", (("outcome", "gone"),))] == 1
    assert counts[("budkavle_partner_pushes_total", (("outcome", "delivered"),))] == 0
    assert counts[("budkavle_partners_disabled_total", ())] == 1
    assert counts[("budkavle_partners", (("state", "disabled"),))] == 1
    assert counts[("budkavle_partners", (("state", "active"),))] == 1
    # Both still pending; none due: one waits for its retry, one for a disabled partner.
    assert counts[("budkavle_partner_deliveries", (("state", "pending"),))] == 2
    assert counts[("budkavle_partner_deliveries", (("state", "due"),))] == 0
    assert counts[("budkavle_partner_deliveries_oldest_due_seconds", ())] == 0

    with session_scope() as session:  # the retry came due a minute ago, nobody rang
        session.execute(
            update(PartnerDelivery)
            .where(PartnerDelivery.id == first)
            .values(next_attempt_at=utcnow() - timedelta(seconds=60))
        )
        assert session.get(Partner, int(closing["id"])) is not None
    counts = scrape(server)
    assert counts[("budkavle_partner_deliveries", (("state", "due"),))] == 1
    assert 60 <= counts[("budkavle_partner_deliveries_oldest_due_seconds", ())] < 120


def test_sweeper_lag(server: Server) -> None:
    assert ("budkavle_sweeper_lag_seconds", (("sweep", "partners"),)) not in scrape(server)
    assert tasks.sweep_partners() == 0
    assert 0 <= metric(server, "budkavle_sweeper_lag_seconds", sweep="partners") < 5
