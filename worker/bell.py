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
VERIFY_WEBSUB_INTENT = "budkavle.verify_websub_intent"
PUSH_WEBSUB = "budkavle.push_websub"
PUSH_TO_PARTNER = "budkavle.push_to_partner"


def ring(task: str, ids: Iterable[int]) -> None:
    """Ask a worker to run ``task`` for each id; call only after the rows are committed."""
    for row_id in ids:
        try:
            # retry=False: a request must not hang while Redis is away.
            app.send_task(task, args=[row_id], retry=False)
        except Exception as exc:  # the broker is down: the sweeper will ring again
            log.warning("%s(%s): could not ring the bell (%s); the sweeper will", task, row_id, exc)


def ring_events(event_ids: Iterable[int]) -> None:
    ring(DISPATCH_EVENT, event_ids)


def ring_pushes(delivery_ids: Iterable[int]) -> None:
    ring(PUSH_TO_PARTNER, delivery_ids)


def ring_websub_intents(intent_ids: Iterable[int]) -> None:
    ring(VERIFY_WEBSUB_INTENT, intent_ids)


def ring_websub_pushes(subscription_ids: Iterable[int]) -> None:
    ring(PUSH_WEBSUB, subscription_ids)


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    settings = get_settings()
    return redis.Redis.from_url(
        settings.redis_client_url, socket_connect_timeout=2, socket_timeout=5
    )


def announce_feeds(channel: str, paths: list[str]) -> None:
    """Tell web processes which feed documents changed, so their caches drop them now."""
    if not paths:
        return
    try:
        redis_client().publish(channel, "\n".join(paths))
    except redis.RedisError as exc:  # caches also expire on their own, within seconds
        log.warning("could not announce changed feeds %s: %s", paths, exc)
