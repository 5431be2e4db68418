"""Handling one outbox event: every consumer converges, then the event is marked done."""

from __future__ import annotations

import logging
from collections.abc import Callable

from config import Settings
from feeds.keys import touched_by
from feeds.refresh import refresh
from newsroom import outbox, partners
from newsroom.db import session_scope
from newsroom.models import EventKind, OutboxEvent, utcnow
from worker import bell, websub

log = logging.getLogger(__name__)


def handle(
    event_id: int, settings: Settings, on_feeds_changed: Callable[[list[str]], None]
) -> None:
    """Safe to run twice, or at once in two workers: each step converges on the database."""
    with session_scope() as session:
        event = session.get(OutboxEvent, event_id)
        if event is None or event.handled_at is not None:
            return
        if outbox.earlier_unhandled(session, event) is not None:
            return  # its turn comes when the earlier one is done (or at the next sweep)
        keys = touched_by(event.payload)
        published = event.kind is EventKind.PUBLISHED
    try:
        # One short transaction per feed, so that one feed's lock is never held while
        # another is built.
        for key in keys:
            with session_scope() as session:
                changed = refresh(session, key, settings)
                # WebSub §7: planned with the new bytes, so they commit together or not.
                subscription_ids = websub.plan_pushes(session, changed, utcnow(), settings)
            on_feeds_changed(list(changed))
            bell.ring_websub_pushes(subscription_ids)
        bell.ring_pushes(_notify_partners(event_id))
        if published:
            # Immediate digests: the burst's window closes this long after its first article.
            bell.ring_plan_digests(delay=settings.digest_window_seconds)
    except Exception as exc:
        log.exception("event %s failed", event_id)
        with session_scope() as session:
            outbox.record_failure(session, event_id, f"{type(exc).__name__}: {exc}", utcnow())
        raise
    with session_scope() as session:
        outbox.mark_handled(session, event_id, utcnow())
        following = outbox.next_unhandled(session, event_id)
    bell.ring_events([following] if following is not None else [])


def _notify_partners(event_id: int) -> list[int]:
    """Place the event in the partners' order, and plan one delivery per matching partner."""
    with session_scope() as session:
        outbox.assign_position(session, event_id)
        event = session.get(OutboxEvent, event_id)
        assert event is not None
        return partners.plan_deliveries(session, event, utcnow())
