"""Thin tasks: open a session, call one plain function with ids, ring the next bell."""

from __future__ import annotations

from datetime import timedelta

from config import get_settings
from feeds.store import CHANGES_CHANNEL
from newsroom import articles, outbox
from newsroom.db import session_scope
from newsroom.models import utcnow
from worker import bell, events
from worker.app import app


@app.task(name=bell.DISPATCH_EVENT, acks_late=True)
def dispatch_event(event_id: int) -> None:
    events.handle(event_id, get_settings(), _announce)


@app.task(name="budkavle.sweep_outbox", acks_late=True)
def sweep_outbox() -> int:
    """Ring again for every event that is due: lost tasks, flushed queues, killed workers."""
    with session_scope() as session:
        event_ids = outbox.due(session, utcnow())
    bell.ring_events(event_ids)
    return len(event_ids)


@app.task(name="budkavle.publish_scheduled", acks_late=True)
def publish_scheduled() -> int:
    settings = get_settings()
    with session_scope() as session:
        published = articles.publish_due(
            session, utcnow(), timedelta(seconds=settings.outbox_grace_seconds)
        )
        event_ids = [event.id for event in published]
    bell.ring_events(event_ids)
    return len(event_ids)


def _announce(paths: list[str]) -> None:
    bell.announce_feeds(CHANGES_CHANNEL, paths)
