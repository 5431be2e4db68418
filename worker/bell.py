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


def ring_events(event_ids: Iterable[int]) -> None:
    """Ask a worker to handle each event; call only after the events are committed."""
    for event_id in event_ids:
        try:
            # retry=False: a publish request must not hang while Redis is away.
            app.send_task(DISPATCH_EVENT, args=[event_id], retry=False)
        except Exception as exc:  # the broker is down: the sweeper will ring again
            log.warning("event %s: could not ring the bell (%s); the sweeper will", event_id, exc)


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
