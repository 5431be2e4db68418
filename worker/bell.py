"""Ringing the doorbell: tell workers and web processes that rows are waiting.

Every bell here may fail (Redis down, restarting): that delays work, never loses it,
because the rows are already committed and a sweeper rings again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

import redis

from config import get_settings
from worker.app import app

log = logging.getLogger(__name__)

DISPATCH_EVENT = "budkavle.dispatch_event"
FINISH_EVENT = "budkavle.finish_event"
VERIFY_WEBSUB_INTENT = "budkavle.verify_websub_intent"
PUSH_WEBSUB = "budkavle.push_websub"
PUSH_TO_PARTNER = "budkavle.push_to_partner"
PUSH_BATCH = "budkavle.push_batch"
# Deliveries per push_batch task (worker/push.py sends a batch's side by side).
PUSH_BATCH_SIZE = 100
SEND_NOTICE = "budkavle.send_notice"
SEND_DIGEST_BATCH = "budkavle.send_digest_batch"
PLAN_DIGESTS = "budkavle.plan_digests"
SEND_TEST_EDITION = "budkavle.send_test_edition"


def ring(task: str, ids: Iterable[int]) -> None:
    """Ask a worker to run ``task`` for each id; call only after the rows are committed."""
    for row_id in ids:
        _send(task, [row_id])


# Kombu's Redis transport keeps a list per priority step (0, 3, 6, 9) and takes from the
# lowest number first; tasks sent without a priority go in step 0.
LAST = 9


def _send(
    task: str, args: list[int], countdown: float | None = None, priority: int | None = None
) -> None:
    try:
        # retry=False: a request must not hang while Redis is away.
        app.send_task(task, args=args, retry=False, countdown=countdown, priority=priority)
    except Exception as exc:  # the broker is down: the sweeper will ring again
        log.warning("%s%s: could not ring the bell (%s); the sweeper will", task, args, exc)


# The sweepers ring no more while this many tasks wait in the default queue: the bells
# already queued will reach the rows, and a bell added behind them only lengthens the wait
# (it would be a second bell for a row whose first has not been served yet).
HIGH_WATER = 500


def room_in_queue() -> int:
    """How many bells a sweeper may add now: 0 while the workers are behind, or when the
    broker cannot tell (a bell would not get through either)."""
    try:
        with app.connection_for_read() as connection:
            queue = app.conf.task_default_queue
            # Declaring the default queue is what every worker does too; it answers the
            # number of messages waiting at every priority.
            depth = int(connection.default_channel.queue_declare(queue).message_count)
    except Exception as exc:
        log.warning("could not read the queue's depth (%s); ringing nothing this sweep", exc)
        return 0
    return max(0, HIGH_WATER - depth)


def ring_events(event_ids: Iterable[int]) -> None:
    ring(DISPATCH_EVENT, event_ids)


def ring_finish_event(event_id: int) -> None:
    """The second step of an event, after every task waiting at the default priority: the
    first steps of newer events go ahead of it (worker/events.py)."""
    _send(FINISH_EVENT, [event_id], priority=LAST)


def ring_pushes(delivery_ids: Iterable[int]) -> None:
    """One task per PUSH_BATCH_SIZE deliveries, in the order given (an event's, by id)."""
    ids = list(delivery_ids)
    for start in range(0, len(ids), PUSH_BATCH_SIZE):
        _send(PUSH_BATCH, ids[start : start + PUSH_BATCH_SIZE])


def ring_websub_intents(intent_ids: Iterable[int]) -> None:
    ring(VERIFY_WEBSUB_INTENT, intent_ids)


def ring_websub_pushes(subscription_ids: Iterable[int]) -> None:
    ring(PUSH_WEBSUB, subscription_ids)


def ring_notices(subscriber_ids: Iterable[int]) -> None:
    ring(SEND_NOTICE, subscriber_ids)


def ring_test_sends(test_send_ids: Iterable[int]) -> None:
    ring(SEND_TEST_EDITION, test_send_ids)


def ring_digest_batches(batches: Iterable[tuple[int, int]], delay: float | None = None) -> None:
    """Ask for each (edition id, batch number) to be sent, now or after ``delay`` seconds."""
    for edition_id, batch in batches:
        _send(SEND_DIGEST_BATCH, [edition_id, batch], delay)


def ring_plan_digests(delay: float | None = None) -> None:
    """Ask for due editions to be planned: right after a publish, when its window closes."""
    _send(PLAN_DIGESTS, [], delay)


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    settings = get_settings()
    timeout = settings.redis_timeout_seconds
    return redis.Redis.from_url(
        settings.redis_client_url, socket_connect_timeout=timeout, socket_timeout=timeout
    )


def announce_feeds(channel: str, paths: list[str]) -> None:
    """Tell web processes which feed documents changed, so their caches drop them now."""
    if not paths:
        return
    try:
        redis_client().publish(channel, "\n".join(paths))
    except redis.RedisError as exc:  # caches also expire on their own, within seconds
        log.warning("could not announce changed feeds %s: %s", paths, exc)
