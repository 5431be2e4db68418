"""Thin tasks: open a session, call one plain function with ids, ring the next bell."""

from __future__ import annotations

from datetime import timedelta

from config import get_settings
from feeds.store import CHANGES_CHANNEL
from newsroom import articles, editions, outbox, partners, retention, testsends
from newsroom.db import session_scope
from newsroom.models import utcnow
from worker import (
    bell,
    bouncebox,
    deliver,
    digest,
    events,
    http,
    notices,
    push,
    tallies,
    testsend,
    websub,
)
from worker.app import PRUNE_INTERVAL_SECONDS, app


@app.task(name=bell.DISPATCH_EVENT, acks_late=True)
def dispatch_event(event_id: int) -> None:
    if events.start(event_id, get_settings(), _announce):
        bell.ring_finish_event(event_id)


@app.task(name=bell.FINISH_EVENT, acks_late=True)
def finish_event(event_id: int) -> None:
    events.finish(event_id, get_settings(), _announce)


@app.task(name="budkavle.sweep_outbox", acks_late=True)
def sweep_outbox() -> int:
    """Ring again for every event that is due: lost tasks, flushed queues, killed workers;
    never more than the queue has room for, so a backlog drains instead of feeding itself."""
    room = bell.room_in_queue()
    event_ids: list[int] = []
    if room:
        with session_scope() as session:
            event_ids = outbox.due(session, utcnow(), limit=room)
        bell.ring_events(event_ids)
    tallies.swept("outbox")
    return len(event_ids)


@app.task(name="budkavle.prune_outbox", acks_late=True)
def prune_outbox() -> int:
    """Slim or delete outbox events past the retention, and the delivery log past its
    own; within one beat period, so runs do not pile up (the next goes on from there)."""
    pruned = retention.prune(get_settings(), utcnow(), budget_seconds=PRUNE_INTERVAL_SECONDS / 2)
    return pruned.changed


@app.task(name="budkavle.publish_scheduled", acks_late=True)
def publish_scheduled() -> int:
    settings = get_settings()
    with session_scope() as session:
        published = articles.publish_due(
            session, utcnow(), timedelta(seconds=settings.outbox_grace_seconds)
        )
        event_ids = [event.id for event in published]
    bell.ring_events(event_ids)
    tallies.swept("scheduled")
    return len(event_ids)


def _announce(paths: list[str]) -> None:
    bell.announce_feeds(CHANGES_CHANNEL, paths)


@app.task(name=bell.PUSH_TO_PARTNER, acks_late=True)
def push_to_partner(delivery_id: int) -> None:
    """One delivery (bells rung before batches were, still in a queue)."""
    bell.ring_pushes(push.push(delivery_id))


@app.task(name=bell.PUSH_BATCH, acks_late=True)
def push_batch(*delivery_ids: int) -> None:
    # Done waiting after PATIENCE: a hanging partner's push is recorded when it ends.
    bell.ring_pushes(push.push_batch(delivery_ids, patience=push.PATIENCE))


@app.task(name="budkavle.sweep_partners", acks_late=True)
def sweep_partners() -> int:
    """Ring again for every delivery that is due: retries, lost bells, expired leases."""
    with session_scope() as session:
        delivery_ids = partners.due_deliveries(session, utcnow())
    bell.ring_pushes(delivery_ids)
    tallies.swept("partners")
    return len(delivery_ids)


@app.task(name=bell.VERIFY_WEBSUB_INTENT, acks_late=True)
def verify_websub_intent(intent_id: int) -> None:
    websub.verify_intent(intent_id, get_settings(), http.client())


@app.task(name=bell.PUSH_WEBSUB, acks_late=True)
def push_websub(subscription_id: int) -> None:
    websub.push(subscription_id, get_settings(), http.client())


@app.task(name="budkavle.sweep_websub", acks_late=True)
def sweep_websub() -> int:
    """Expire leases; ring again for intents and pushes whose bell was lost or is due."""
    intent_ids, subscription_ids = websub.sweep(utcnow())
    bell.ring_websub_intents(intent_ids)
    bell.ring_websub_pushes(subscription_ids)
    tallies.swept("websub")
    return len(intent_ids) + len(subscription_ids)


@app.task(name=bell.SEND_NOTICE, acks_late=True)
def send_notice(subscriber_id: int) -> None:
    notices.send(subscriber_id, get_settings())


@app.task(name=bell.PLAN_DIGESTS, acks_late=True)
def plan_digests() -> int:
    batches = digest.plan_due(get_settings(), utcnow())
    bell.ring_digest_batches(batches)
    return len(batches)


@app.task(name=bell.SEND_DIGEST_BATCH, acks_late=True)
def send_digest_batch(edition_id: int, batch: int) -> int:
    outcome = deliver.send_batch(edition_id, batch, get_settings())
    if outcome.retry_at is not None:
        delay = max(0.0, (outcome.retry_at - utcnow()).total_seconds())
        bell.ring_digest_batches([(edition_id, batch)], delay)
    return outcome.sent


@app.task(name=bell.SEND_TEST_EDITION, acks_late=True)
def send_test_edition(test_send_id: int) -> None:
    testsend.send(test_send_id, get_settings())


@app.task(name="budkavle.sweep_digests", acks_late=True)
def sweep_digests() -> int:
    """Plan due editions; ring again for batches nobody sends, notices still owed and
    editors' test sends whose bell was lost."""
    settings = get_settings()
    now = utcnow()
    batches = digest.plan_due(settings, now)
    with session_scope() as session:
        grace = timedelta(seconds=settings.digest_lease_seconds)
        batches += editions.stalled_batches(session, now, grace)
        editions.finish(session, now)
        tests = testsends.due(session, now, timedelta(seconds=settings.outbox_grace_seconds))
    bell.ring_digest_batches(dict.fromkeys(batches))
    bell.ring_test_sends(tests)
    subscriber_ids = notices.sweep(now)
    bell.ring_notices(subscriber_ids)
    tallies.swept("digests")
    return len(batches) + len(subscriber_ids) + len(tests)


@app.task(name="budkavle.read_bounce_mailbox", acks_late=True)
def read_bounce_mailbox() -> int:
    """Apply what came back to the bounce mailbox since the last beat."""
    settings = get_settings()
    if not settings.bounce_imap_url:
        return 0
    mailbox = bouncebox.mailbox_from_url(settings.bounce_imap_url, settings.smtp_timeout_seconds)
    swept = bouncebox.sweep(mailbox, settings)
    return swept.applied
