"""What /readyz checks: the database, Redis, a live worker and a moving outbox.

Each check runs in a thread of a small pool and gets ``CHECK_TIMEOUT`` seconds: a probe
answers within that, whatever hangs behind it (a check that hangs keeps its thread until
its own socket timeout ends it; the pool is bounded, so probes never pile up threads).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from time import monotonic

from sqlalchemy import func, select, text

from config import get_settings
from newsroom.db import session_scope
from newsroom.models import OutboxEvent, utcnow
from worker import heartbeat
from worker.bell import redis_client

CHECK_TIMEOUT = 2.0

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")


class NotReady(Exception):
    """A check that answered, with bad news; the message says what is wrong."""


def database() -> None:
    with session_scope() as session:
        session.execute(text("SELECT 1"))


def redis() -> None:
    redis_client().ping()


def workers() -> None:
    if not heartbeat.alive(redis_client()):
        raise NotReady(f"no worker heartbeat in the last {heartbeat.TTL_SECONDS} s")


def outbox() -> None:
    """Stalled: the oldest unhandled event is older than the limit, and no event was
    handled within it either (a busy outbox that drains is moving)."""
    limit = get_settings().ready_outbox_stall_seconds
    now = utcnow()
    with session_scope() as session:
        oldest = session.scalar(
            select(func.min(OutboxEvent.created_at)).where(OutboxEvent.handled_at.is_(None))
        )
        last = session.scalar(select(func.max(OutboxEvent.handled_at)))
    if oldest is None or _age(now, oldest) <= limit:
        return
    if last is not None and _age(now, last) <= limit:
        return
    raise NotReady(
        f"the oldest unhandled event waits {_age(now, oldest):.0f} s and none was "
        f"handled in the last {limit} s"
    )


def _age(now: datetime, then: datetime) -> float:
    # SQLite hands back a naive value from an aggregate; it was stored as UTC.
    return (now - (then if then.tzinfo else then.replace(tzinfo=UTC))).total_seconds()


CHECKS: dict[str, Callable[[], None]] = {
    "database": database,
    "redis": redis,
    "workers": workers,
    "outbox": outbox,
}


def run(checks: dict[str, Callable[[], None]] = CHECKS) -> dict[str, str]:
    """Every check at once; "ok" or what failed, for each."""
    futures = {name: _pool.submit(check) for name, check in checks.items()}
    deadline = monotonic() + CHECK_TIMEOUT
    results = {}
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - monotonic()))
            results[name] = "ok"
        except FutureTimeout:
            results[name] = f"error: no answer within {CHECK_TIMEOUT:g} s"
        except NotReady as exc:
            results[name] = f"error: {exc}"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
    return results
