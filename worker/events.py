"""Handling one outbox event: every consumer converges, then the event is marked done.

In two steps, run by two tasks: first the "all" feed, the one most read, at once; then
the partners, the article's other feeds and the digests, in a task sent at the lowest
priority, so that the first steps of newer events go ahead of it (bell.ring_finish_event).
In a burst of publishes each article thus reaches all.atom without queueing behind the
tag and language feeds of the articles before it; those feeds catch up behind.

A second step must never starve behind a backlog of first steps that does not end. So
the event notes when its first step is done, and when the sweeper rings an event again
(its second step having waited that long), that bell runs the second step at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from config import Settings
from feeds.keys import FeedKey, touched_by
from feeds.refresh import refresh
from newsroom import outbox, partners
from newsroom.db import read_scope, session_scope
from newsroom.models import EventKind, OutboxEvent, utcnow
from worker import bell, websub

log = logging.getLogger(__name__)

FIRST = FeedKey("all")

OnFeedsChanged = Callable[[list[str]], None]


def handle(event_id: int, settings: Settings, on_feeds_changed: OnFeedsChanged) -> None:
    """Both steps in one go."""
    if start(event_id, settings, on_feeds_changed):
        finish(event_id, settings, on_feeds_changed)


def start(event_id: int, settings: Settings, on_feeds_changed: OnFeedsChanged) -> bool:
    """Step one: the "all" feed. True when step two is owed, to be rung behind."""
    pending = _pending(event_id)
    if pending is None:
        return False
    if pending.started:  # rung again: the second step has waited long enough
        _finish(event_id, pending, settings, on_feeds_changed)
        return False
    with _failures_recorded(event_id, pending.article_id):
        first = [key for key in pending.keys if key == FIRST]
        _refresh(pending.article_id, first, settings, on_feeds_changed)
        with session_scope() as session:
            outbox.mark_started(session, event_id, utcnow())
    return True


def finish(event_id: int, settings: Settings, on_feeds_changed: OnFeedsChanged) -> None:
    """Step two: the partners, the other feeds and the digests; then the event is done.

    Both steps are safe to run twice, or at once in two workers: each converges on the
    database.
    """
    pending = _pending(event_id)
    if pending is not None:
        _finish(event_id, pending, settings, on_feeds_changed)


def _finish(
    event_id: int, pending: _Pending, settings: Settings, on_feeds_changed: OnFeedsChanged
) -> None:
    with _failures_recorded(event_id, pending.article_id):
        # Partners first: their pushes wait on the network, so they go out while the
        # feeds are built.
        bell.ring_pushes(_notify_partners(event_id))
        rest = [key for key in pending.keys if key != FIRST]
        _refresh(pending.article_id, rest, settings, on_feeds_changed)
        if pending.publishes:
            # Immediate digests: the burst's window closes this long after its first article.
            bell.ring_plan_digests(delay=settings.digest_window_seconds)
    with session_scope() as session:
        outbox.mark_handled(session, event_id, utcnow())
    log.info(
        "event %s of article %s handled", event_id, pending.article_id,
        extra={"event_id": event_id, "article_id": pending.article_id},
    )  # fmt: skip
    # Read after the commit: a newer event of the article committed in between has either
    # seen this one done (and gone ahead), or is found here. Read before, it could be
    # neither, and would wait for the sweeper.
    with read_scope() as session:
        following = outbox.next_unhandled(session, event_id)
    bell.ring_events([following] if following is not None else [])


@dataclass(frozen=True)
class _Pending:
    article_id: int
    keys: list[FeedKey]  # the feeds the event touches, "all" first
    publishes: bool
    started: bool  # the first step is done


def _pending(event_id: int) -> _Pending | None:
    """What the event asks for; None if it is done or waits."""
    with session_scope() as session:
        event = session.get(OutboxEvent, event_id)
        if event is None or event.handled_at is not None:
            return None
        if outbox.earlier_unhandled(session, event) is not None:
            return None  # its turn comes when the earlier one is done (or at the next sweep)
        return _Pending(
            event.article_id,
            touched_by(event.payload),
            event.kind is EventKind.PUBLISHED,
            event.started_at is not None,
        )


def _refresh(
    article_id: int, keys: list[FeedKey], settings: Settings, on_feeds_changed: OnFeedsChanged
) -> None:
    # One short transaction per feed, so that one feed's lock is never held while another
    # is built.
    for key in keys:
        with session_scope() as session:
            changed = refresh(session, key, settings, article_id=article_id)
            # WebSub §7: planned with the new bytes, so they commit together or not.
            subscription_ids = websub.plan_pushes(session, changed, utcnow(), settings)
        on_feeds_changed(list(changed))
        bell.ring_websub_pushes(subscription_ids)


@contextmanager
def _failures_recorded(event_id: int, article_id: int) -> Iterator[None]:
    """A failure is kept on the event, which the sweeper rings again after a backoff."""
    try:
        yield
    except Exception as exc:
        ids = {"event_id": event_id, "article_id": article_id}
        log.exception("event %s of article %s failed", event_id, article_id, extra=ids)
        with session_scope() as session:
            outbox.record_failure(session, event_id, f"{type(exc).__name__}: {exc}", utcnow())
        raise


def _notify_partners(event_id: int) -> list[int]:
    """Place the event in the partners' order, and plan one delivery per matching partner
    (a few statements, whatever the number of partners)."""
    with session_scope() as session:
        outbox.assign_position(session, event_id)
        event = session.get(OutboxEvent, event_id)
        assert event is not None
        return partners.plan_deliveries(session, event, utcnow())
