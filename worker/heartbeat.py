"""Workers say they are alive: a key with a time to live in Redis, renewed by a timer of
the consumer, so /readyz can tell a worker that is gone (web/readiness.py).

The timer runs in the consumer's event loop: a worker whose loop is stuck, or that is
waiting for its broker to come back, stops renewing, and its key lapses.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import bootsteps

from config import get_settings

log = logging.getLogger(__name__)

BEAT_SECONDS = 5.0
TTL_SECONDS = 20  # four missed beats
WORKERS = "budkavle:workers"  # a set of the worker names that ever beat


def _key(name: str) -> str:
    return f"budkavle:worker:{name}"


def beat(client: redis.Redis, name: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.set(_key(name), "1", ex=TTL_SECONDS)
    pipe.sadd(WORKERS, name)
    pipe.execute()


def alive(client: redis.Redis) -> int:
    """How many workers beat within ``TTL_SECONDS``; forgets those whose key lapsed."""
    names = sorted(
        name.decode() if isinstance(name, bytes) else name for name in client.smembers(WORKERS)
    )
    if not names:
        return 0
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.exists(_key(name))
    gone = [name for name, exists in zip(names, pipe.execute(), strict=True) if not exists]
    if gone:
        client.srem(WORKERS, *gone)
    return len(names) - len(gone)


class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    """A consumer step: it starts with each broker connection and stops with it."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timer: Any = None
        self._client: redis.Redis | None = None

    def start(self, parent: Any) -> None:
        if self._client is None:
            timeout = get_settings().redis_timeout_seconds
            self._client = redis.Redis.from_url(
                get_settings().redis_client_url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
        self._beat(parent.hostname)
        self._timer = parent.timer.call_repeatedly(BEAT_SECONDS, self._beat, (parent.hostname,))

    def stop(self, parent: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self, name: str) -> None:
        assert self._client is not None
        try:
            beat(self._client, name)
        except redis.RedisError as exc:  # the key lapses; readyz says so
            log.warning("heartbeat: %s", exc)
