"""The WebSub hub against real subscribers on loopback, with a real Celery worker.

The cases follow the hub tests of the W3C conformance suite (websub.rocks, 100-106):
basic subscription, secret and signature, extra parameters ignored, re-subscription,
unsubscription, and the content types of the distributed body; then what a production
hub meets: refusals, 410, expiry, retries, lost bells. Bad input: test_websub_requests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta

import feedparser
import httpx
import pytest
from sqlalchemy import select, update

from config import get_settings
from feeds import store
from newsroom.db import session_scope
from newsroom.models import WebSubPush, WebSubSubscription, utcnow
from tests.hubpeers import (
    HUB,
    WRONG,
    Received,
    Subscriber,
    allow_loopback,
    hub_request,
    intent_statuses,
    topic,
)
from tests.support import ADMIN, Server, article, wait_for

DEFAULT_LEASE = 10 * 24 * 3600
MAX_LEASE = 30 * 24 * 3600


@pytest.fixture
def loopback() -> Iterator[None]:
    with allow_loopback():
        yield


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber.running() as running:
        yield running


@pytest.fixture
def hub(loopback: None, celery_worker: None, server: Server) -> Server:
    return server


def subscriptions() -> list[WebSubSubscription]:
    with session_scope() as session:
        return list(session.scalars(select(WebSubSubscription).order_by(WebSubSubscription.id)))


def subscription_of(callback: str) -> WebSubSubscription | None:
    return next((s for s in subscriptions() if s.callback == callback), None)


def subscribe(
    server: Server, callback: str, path: str = "all.atom", extra: dict[str, str] | None = None
) -> WebSubSubscription:
    response = hub_request(server, callback, path=path, extra=extra)
    assert response.status_code == 202, response.text
    found = wait_for(lambda: subscription_of(callback), what=f"{callback} verified")
    assert found is not None
    return found


def publish(server: Server, **overrides: object) -> None:
    created = server.client.post("/api/articles", json=article(**overrides), headers=ADMIN)
    assert created.status_code == 201, created.text


def stored(path: str) -> store.StoredFeed:
    with session_scope() as session:
        document = store.get(session, path)
    assert document is not None, path
    return document


def links(received: Received) -> dict[str, str]:
    parsed = httpx.Response(200, headers={"link": received.headers["link"]}).links
    return {str(rel): value["url"] for rel, value in parsed.items()}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# websub.rocks 100-106 ---------------------------------------------------------------------


def test_basic_subscription(hub: Server, subscriber: Subscriber) -> None:
    callback = subscriber.callback("inbox", "klient=ekot&spr%C3%A5k=sv")
    response = hub_request(hub, callback)
    assert response.status_code == 202, response.text

    verification = wait_for(subscriber.verifications, what="intent verification")[0]
    # §5.3: hub.* appended to the callback's own query string, which is kept as it was.
    assert verification.query.startswith("klient=ekot&spr%C3%A5k=sv&")
    params = verification.params
    assert params["klient"] == "ekot" and params["språk"] == "sv"
    assert (params["hub.mode"], params["hub.topic"]) == ("subscribe", topic())
    assert params["hub.lease_seconds"] == str(DEFAULT_LEASE)
    assert len(params["hub.challenge"]) >= 32
    subscription = wait_for(lambda: subscription_of(callback), what="the subscription")
    assert subscription is not None
    assert (subscription.topic, subscription.secret) == ("all.atom", None)
    lease = subscription.expires_at - subscription.verified_at
    assert lease == timedelta(seconds=DEFAULT_LEASE)
    assert subscriber.deliveries() == [], "nothing is pushed before the topic changes"

    publish(hub)
    delivery = wait_for(subscriber.deliveries, what="the new feed pushed")[0]
    # §7: the topic's full new body, with its Content-Type and the hub and self links.
    assert delivery.body == stored("all.atom").body
    assert delivery.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert links(delivery) == {"hub": HUB, "self": topic()}
    assert "x-hub-signature" not in delivery.headers
    entries = feedparser.parse(delivery.body).entries
    assert [entry.title for entry in entries] == [article()["title"]]
    # The feed itself names the same hub, in its Link header (§4).
    served = hub.client.get("/feeds/all.atom")
    assert served.links["hub"]["url"] == HUB


def test_subscription_with_secret(hub: Server, subscriber: Subscriber) -> None:
    secret = "hemlig-nyckel-för-borlänge-kommun"
    subscribe(hub, subscriber.callback(), extra={"hub.secret": secret})
    publish(hub)
    delivery = wait_for(subscriber.deliveries, what="the signed push")[0]
    # §7.1: method=signature, HMAC over the exact body keyed with hub.secret.
    assert delivery.headers["x-hub-signature"] == signature(secret, delivery.body)
    assert delivery.body == stored("all.atom").body


def test_extra_parameters_are_ignored(hub: Server, subscriber: Subscriber) -> None:
    extra = {"hub.verify": "sync", "hub.extension": "ja", "utm_source": "nyhetsbrev"}
    response = hub_request(hub, subscriber.callback(), extra=extra)
    assert response.status_code == 202, response.text
    wait_for(lambda: subscription_of(subscriber.callback()), what="verified")
    params = subscriber.verifications()[0].params
    assert not {"hub.verify", "hub.extension", "utm_source"} & params.keys()


def test_resubscription_replaces_the_old_state(hub: Server, subscriber: Subscriber) -> None:
    callback = subscriber.callback()
    first = subscribe(hub, callback, extra={"hub.secret": "gammal", "hub.lease_seconds": "3600"})
    response = hub_request(
        hub, callback, extra={"hub.secret": "ny-nyckel", "hub.lease_seconds": "7200"}
    )
    assert response.status_code == 202
    wait_for(lambda: getattr(subscription_of(callback), "secret", None) == "ny-nyckel",
             what="the new secret")  # fmt: skip
    assert subscriber.verifications()[1].params["hub.lease_seconds"] == "7200"
    [renewed] = subscriptions()
    assert (renewed.id, renewed.lease_seconds) == (first.id, 7200)
    assert renewed.expires_at > first.expires_at

    publish(hub)
    delivery = wait_for(subscriber.deliveries, what="the push")[0]
    assert delivery.headers["x-hub-signature"] == signature("ny-nyckel", delivery.body)


def test_a_failed_resubscription_keeps_the_old_state(hub: Server, subscriber: Subscriber) -> None:
    callback = subscriber.callback()
    first = subscribe(hub, callback, extra={"hub.secret": "gammal"})
    subscriber.verify_answers.append(404)  # §5.3: the subscriber does not agree
    assert hub_request(hub, callback, extra={"hub.secret": "ny"}).status_code == 202
    wait_for(lambda: intent_statuses()[-1] == ("subscribe", "denied"), what="denied")
    [kept] = subscriptions()
    assert (kept.id, kept.secret, kept.expires_at) == (first.id, "gammal", first.expires_at)


def test_unsubscribe(hub: Server, subscriber: Subscriber) -> None:
    leaving, witness = subscriber.callback("leaving"), subscriber.callback("witness")
    subscribe(hub, leaving)
    subscribe(hub, witness)
    assert hub_request(hub, leaving, mode="unsubscribe").status_code == 202
    wait_for(lambda: subscription_of(leaving) is None, what="unsubscribed")
    params = subscriber.verifications("leaving")[-1].params
    assert (params["hub.mode"], params["hub.topic"]) == ("unsubscribe", topic())
    assert "hub.lease_seconds" not in params, "§5.3: a lease only for subscribe"

    publish(hub)
    wait_for(lambda: subscriber.deliveries("witness"), what="the witness's push")
    assert subscriber.deliveries("leaving") == []


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("all.rss", "application/rss+xml; charset=utf-8"),
        ("all.json", "application/feed+json; charset=utf-8"),
        ("tags/borlange.atom", "application/atom+xml; charset=utf-8"),
    ],
    ids=["rss", "json-feed", "atom-tag-feed"],
)
def test_content_type_of_the_distributed_body(
    hub: Server, subscriber: Subscriber, path: str, content_type: str
) -> None:
    # A tag feed with no document yet may be subscribed to; it is pushed once it has one.
    subscribe(hub, subscriber.callback(), path=path)
    publish(hub)
    delivery = wait_for(subscriber.deliveries, what="the push")[0]
    assert delivery.headers["content-type"] == content_type
    assert delivery.body == stored(path).body
    assert links(delivery) == {"hub": HUB, "self": topic(path)}


# Verification refused -----------------------------------------------------------------------


@pytest.mark.parametrize("answer", [WRONG, 404, 403], ids=["wrong-body", "404", "403"])
def test_no_subscription_without_the_challenge(
    hub: Server, subscriber: Subscriber, answer: str | int
) -> None:
    subscriber.verify_answers.append(answer)
    assert hub_request(hub, subscriber.callback()).status_code == 202
    wait_for(lambda: intent_statuses() == [("subscribe", "denied")], what="denied")
    assert subscriptions() == []
    assert len(subscriber.verifications()) == 1, "a definite answer is not asked again"


# Distribution: 410, expiry, retries --------------------------------------------------------


def test_410_from_the_callback_drops_the_subscription(
    hub: Server, subscriber: Subscriber
) -> None:
    subscribe(hub, subscriber.callback())
    subscriber.push_answers.append(410)
    publish(hub)
    wait_for(lambda: subscriptions() == [], what="the subscription dropped")
    assert len(subscriber.deliveries()) == 1
    with session_scope() as session:
        assert session.scalars(select(WebSubPush)).all() == []


def test_leases_are_clamped_and_expire(hub: Server, subscriber: Subscriber) -> None:
    short, long = subscriber.callback("short"), subscriber.callback("long")
    subscribe(hub, short, extra={"hub.lease_seconds": "5"})
    subscribe(hub, long, extra={"hub.lease_seconds": "99999999"})
    assert subscriber.verifications("short")[0].params["hub.lease_seconds"] == "60"
    assert subscriber.verifications("long")[0].params["hub.lease_seconds"] == str(MAX_LEASE)

    with session_scope() as session:  # the short lease has run out
        session.execute(
            update(WebSubSubscription)
            .where(WebSubSubscription.callback == short)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    publish(hub)
    wait_for(lambda: subscriber.deliveries("long"), what="the live subscription's push")
    assert subscriber.deliveries("short") == []

    from worker.tasks import sweep_websub

    sweep_websub()
    assert [s.callback for s in subscriptions()] == [long]


def test_a_failing_callback_gets_the_body_on_a_later_attempt(
    hub: Server, subscriber: Subscriber
) -> None:
    from worker import bell, tallies, websub

    subscribe(hub, subscriber.callback())
    subscriber.push_answers.extend([500, 503])
    publish(hub)
    later = utcnow()
    for attempt in (1, 2):
        wait_for_attempts(attempt)
        assert websub.sweep(utcnow())[1] == [], "not due before its backoff"
        later += timedelta(hours=1)  # beat would ring it then: be there sooner
        bell.ring_websub_pushes(websub.sweep(later)[1])
    wait_for(lambda: len(subscriber.deliveries()) == 3, what="the third attempt")
    wait_for(lambda: getattr(push_row(), "last_status", None) == 200, what="delivered")
    row = push_row()
    assert row is not None
    assert (row.delivered_etag, row.attempts) == (row.etag, 0)
    bodies = [delivery.body for delivery in subscriber.deliveries()]
    assert bodies == [stored("all.atom").body] * 3
    # Counted for /metrics (worker/tallies.py), just after each row was written.
    expected = {"websub_pushes:failed": 2, "websub_pushes:delivered": 1}
    wait_for(lambda: tallies.totals() == expected, what="the pushes counted")


def push_row() -> WebSubPush | None:
    with session_scope() as session:
        return session.scalars(select(WebSubPush)).one_or_none()


def wait_for_attempts(count: int) -> None:
    wait_for(lambda: getattr(push_row(), "attempts", None) == count, what=f"failure {count}")


# Nothing lost, nothing doubled -------------------------------------------------------------


def test_a_lost_verification_bell_is_rung_again_by_the_sweeper(
    loopback: None, server: Server, subscriber: Subscriber
) -> None:
    import redis
    from celery.contrib.testing.worker import start_worker

    from worker.app import PUSH_QUEUE, app
    from worker.tasks import sweep_websub

    assert hub_request(server, subscriber.callback()).status_code == 202
    redis.Redis.from_url(get_settings().redis_client_url).flushdb()  # the bell is lost
    queues = ["celery", PUSH_QUEUE]
    with start_worker(app, pool="solo", queues=queues, perform_ping_check=False,
                      shutdown_timeout=10):  # fmt: skip
        assert subscriber.verifications() == []
        # Beat runs this every few seconds; the intent is due after the grace period.
        wait_for(lambda: sweep_websub() == 1, timeout=10, interval=0.2, what="intent due")
        wait_for(lambda: subscription_of(subscriber.callback()), what="verified")
    assert len(subscriber.verifications()) == 1


def test_verification_and_push_run_twice_happen_once(
    loopback: None, db: str, subscriber: Subscriber
) -> None:
    from newsroom import websub as hub_state
    from worker import events, http, websub

    settings = get_settings()
    callback = subscriber.callback()
    with session_scope() as session:
        intent_id = hub_state.record_intent(
            session, hub_state.Mode.SUBSCRIBE, "all.atom", callback, "hemlis", 3600,
            utcnow(), timedelta(seconds=1),
        )  # fmt: skip
    websub.verify_intent(intent_id, settings, http.client())
    websub.verify_intent(intent_id, settings, http.client())
    assert len(subscriber.verifications()) == 1
    [subscription] = subscriptions()

    event_id = _publish_without_worker()
    events.handle(event_id, settings, lambda _: None)  # plans the push in its transaction
    websub.push(subscription.id, settings, http.client())
    websub.push(subscription.id, settings, http.client())
    [delivery] = subscriber.deliveries()
    assert delivery.headers["x-hub-signature"] == signature("hemlis", delivery.body)
    assert delivery.body == stored("all.atom").body


def _publish_without_worker() -> int:
    from newsroom import articles
    from newsroom.schemas import ArticleIn

    with session_scope() as session:
        _, event = articles.create(
            session, ArticleIn.model_validate(article()), utcnow(), timedelta(seconds=1)
        )
        assert event is not None
        return event.id


def test_a_newer_request_supersedes_one_still_pending(
    loopback: None, db: str, subscriber: Subscriber
) -> None:
    """§5.1.1: the latest request for a (topic, callback) pair is the one that counts, so an
    older intent verified late cannot undo it."""
    from newsroom import websub as hub_state
    from worker import http, websub

    def record(mode: hub_state.Mode) -> int:
        with session_scope() as session:
            return hub_state.record_intent(
                session, mode, "all.atom", subscriber.callback(), None, 3600, utcnow(),
                timedelta(seconds=1),
            )  # fmt: skip

    older = record(hub_state.Mode.SUBSCRIBE)
    newer = record(hub_state.Mode.UNSUBSCRIBE)
    websub.verify_intent(older, get_settings(), http.client())
    assert subscriber.verifications() == [], "a superseded intent is not verified"
    websub.verify_intent(newer, get_settings(), http.client())
    assert intent_statuses() == [("subscribe", "superseded"), ("unsubscribe", "verified")]
    assert subscriptions() == []
