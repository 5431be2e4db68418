"""Handling one outbox event: every consumer converges, then the event is marked done."""

from __future__ import annotations

import logging
from collections.abc import Callable

from config import Settings
from feeds.keys import touched_by
from feeds.refresh import refresh
from newsroom import outbox
from newsroom.db import session_scope
from newsroom.models import OutboxEvent, utcnow

log = logging.getLogger(__name__)


def handle(
    event_id: int, settings: Settings, on_feeds_changed: Callable[[list[str]], None]
) -> None:
    """Safe to run twice, or at once in two workers: each step converges on the database."""
    with session_scope() as session:
        event = session.get(OutboxEvent, event_id)
        if event is None or event.handled_at is not None:
            return
        keys = touched_by(event.payload)
    try:
        # One short transaction per feed, so that one feed's lock is never held while
        # another is built.
        for key in keys:
            with session_scope() as session:
                changed = refresh(session, key, settings)
            on_feeds_changed(changed)
    except Exception as exc:
        log.exception("event %s failed", event_id)
        with session_scope() as session:
            outbox.record_failure(session, event_id, f"{type(exc).__name__}: {exc}", utcnow())
        raise
    with session_scope() as session:
        outbox.mark_handled(session, event_id, utcnow())
