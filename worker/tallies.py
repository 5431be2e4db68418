"""Totals that only grow (Prometheus counters), kept in Redis by the processes that do the
work and read by the web's /metrics.

Why Redis: Prometheus scrapes the web, but emails and pushes go out from worker processes
(on other machines, as the service grows), so a counter in a worker's memory is never
scraped. Counting rows at scrape time instead would count all of history (every email
ever sent), a query that grows without end. So each worker adds what it did to one Redis
hash, once per batch or push: HINCRBY is atomic across processes. Should Redis lose the
hash (a restart without persistence), the totals start again from zero, which rate() and
increase() read as a counter reset, as they do for a restarted process.

Counting never stands in the way of the work: Redis away, the numbers are lost, the
rows (the truth) are not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import redis

from newsroom import bounces
from newsroom.reports import Kind
from worker.bell import redis_client

log = logging.getLogger(__name__)

TOTALS = "budkavle:totals"  # field "what:label" -> count
SWEPT = "budkavle:swept"  # field sweep name -> Unix time its last run finished


def add(counts: Mapping[str, int]) -> None:
    """Add to the totals, e.g. {"emails_sent:digest": 500}; zero counts are skipped."""
    counts = {field: count for field, count in counts.items() if count}
    if not counts:
        return
    try:
        pipeline = redis_client().pipeline(transaction=False)
        for field, count in counts.items():
            pipeline.hincrby(TOTALS, field, count)
        pipeline.execute()
    except redis.RedisError as exc:
        log.warning("could not count %s in Redis: %s", counts, exc)


def totals() -> dict[str, int]:
    raw: dict[bytes, bytes] = redis_client().hgetall(TOTALS)  # type: ignore[assignment]
    return {field.decode(): int(count) for field, count in raw.items()}


def swept(sweep: str) -> None:
    """Note that a sweep just ran: its lag is how long ago that was."""
    try:
        redis_client().hset(SWEPT, sweep, repr(time.time()))
    except redis.RedisError as exc:
        log.warning("could not note the %s sweep in Redis: %s", sweep, exc)


def sweeps() -> dict[str, float]:
    raw: dict[bytes, bytes] = redis_client().hgetall(SWEPT)  # type: ignore[assignment]
    return {name.decode(): float(when) for name, when in raw.items()}


def count_report(applied: bounces.Applied) -> None:
    """A returned mail, once applied: a hard bounce or a complaint about mail we sent."""
    if applied.duplicate or applied.unverified:
        return  # counted the first time, or not about our mail
    if applied.kind is Kind.DSN:
        # Only the permanent ones, which count against the address; a delay (RFC 3464
        # "delayed", a provider's soft bounce) changes nothing.
        hard = [c for c in applied.changes
                if c.after is not None and not c.note.startswith("transient")]  # fmt: skip
        add({"emails_bounced": len(hard)})
    elif applied.kind is Kind.COMPLAINT:
        add({"emails_complained": sum(c.after == "complained" for c in applied.changes)})
