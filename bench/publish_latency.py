"""Publish-to-feed latency: from `POST /api/articles` returning to the entry in all.atom.

Starts uvicorn and a Celery worker (--concurrency 2) against a fresh database, then
publishes one article at a time and polls /feeds/all.atom with If-None-Match (one
keep-alive client, every --poll-ms) until the new title is in the body. Goal (the issue):
p50 <= 50 ms, p99 <= 250 ms over 200 publishes.

    .venv/bin/python bench/publish_latency.py --db sqlite
    .venv/bin/python bench/publish_latency.py --db postgresql
"""

from __future__ import annotations

import argparse
import html
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nordic
import service
from sqlalchemy import Engine, create_engine, text

GOAL_P50_MS = 50.0
GOAL_P99_MS = 250.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=200, help="publishes measured")
    parser.add_argument("--warmup", type=int, default=10, help="publishes not counted")
    # A newsroom's feeds are full: fill all.atom to BUDKAVLE_FEED_SIZE (50) entries first,
    # so that every measured publish rebuilds a full feed, as in production.
    parser.add_argument("--fill", type=int, default=50, help="publishes before the warm-up")
    parser.add_argument("--poll-ms", type=float, default=2.0, help="pause between polls")
    parser.add_argument("--timeout", type=float, default=10.0, help="limit per publish, s")
    parser.add_argument("--budget", type=float, default=600.0, help="limit of the run, s")
    # Back to back (the default), a publish meets the worker still building the previous
    # one's tag feeds; --settle waits for that first, to see the latency of one alone.
    parser.add_argument("--settle", action="store_true", help="wait out each event first")
    args = parser.parse_args()
    service.stop_on_sigterm()

    run = datetime.now(UTC).strftime("%H%M%S")
    with service.cpu_report(), tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
        port = service.free_port()
        env = service.prepare(args.db, Path(tmp), port)
        # The bench's own engine (no BEGIN IMMEDIATE on SQLite): it only reads, after timing.
        engine = create_engine(env["BUDKAVLE_DATABASE_URL"])
        try:
            with service.running(env, port) as svc:
                samples, cpu_before = measure(svc, engine, args, run)
                handled = handled_times(engine, timeout=60)
                cpu = {k: v - cpu_before[k] for k, v in svc.cpu_seconds().items()}
        finally:
            engine.dispose()
        report(args, samples, handled[args.fill + args.warmup :], cpu)


@dataclass(frozen=True)
class Sample:
    post_ms: float  # the POST's round trip
    stored_ms: float  # POST returned -> the worker wrote all.atom (not committed yet)
    visible_ms: float  # POST returned -> the title served in all.atom
    returned_at: float  # wall clock at the POST's return, to line up with database times


def measure(
    svc: service.Service, engine: Engine, args: argparse.Namespace, run: str
) -> tuple[list[Sample], dict[str, float]]:
    """The samples, and the CPU the service had used when the first measured one began."""
    admin = {"Authorization": f"Bearer {service.ADMIN_TOKEN}"}
    deadline = time.monotonic() + args.budget
    samples: list[Sample] = []
    cpu_before: dict[str, float] = {}
    etag: str | None = None
    # Two keep-alive clients: an editor's and a feed reader's (which accepts gzip).
    with (
        httpx.Client(base_url=svc.url, headers=admin, timeout=10) as api,
        httpx.Client(base_url=svc.url, timeout=10) as reader,
    ):
        skipped = args.fill + args.warmup
        for n in range(skipped + args.count):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run budget of {args.budget:.0f}s spent after {n} publishes")
            if n == skipped:
                cpu_before = svc.cpu_seconds()
            article = nordic.article(n, run)
            # The feed holds the title XML-escaped; å ä ö stay as UTF-8 bytes.
            needle = html.escape(article["title"], quote=False).encode()
            started = time.perf_counter()
            response = api.post("/api/articles", json=article)
            returned, returned_at = time.perf_counter(), time.time()
            response.raise_for_status()
            limit = returned + args.timeout
            while True:
                headers = {"If-None-Match": etag} if etag else {}
                feed = reader.get("/feeds/all.atom", headers=headers)
                if feed.status_code == 200:
                    etag = feed.headers["etag"]
                    if needle in feed.content:
                        break
                elif feed.status_code not in (304, 404):  # 404: before the first feed
                    feed.raise_for_status()
                if time.perf_counter() > limit:
                    raise TimeoutError(
                        f"publish {n}: not in all.atom after {args.timeout}s; "
                        f"newest outbox event: {_newest_event(engine)}"
                    )
                time.sleep(args.poll_ms / 1000)
            seen = time.perf_counter()
            if args.settle:
                handled_times(engine, timeout=args.timeout)
            if n >= skipped:  # read after the clock stopped, so it costs the sample nothing
                stored = _stored_at(engine, "all.atom").timestamp() - returned_at
                samples.append(
                    Sample(
                        post_ms=(returned - started) * 1000,
                        stored_ms=stored * 1000,
                        visible_ms=(seen - returned) * 1000,
                        returned_at=returned_at,
                    )
                )
    return samples, cpu_before


def _newest_event(engine: Engine) -> dict[str, object]:
    """What the database says about the last publish, for a timeout's message."""
    query = "SELECT id, attempts, last_error, handled_at FROM outbox_events ORDER BY id DESC"
    with engine.connect() as conn:
        row = conn.execute(text(query)).first()
    return dict(row._mapping) if row else {}


def _stored_at(engine: Engine, path: str) -> datetime:
    with engine.connect() as conn:
        value = conn.scalar(
            text("SELECT stored_at FROM feed_documents WHERE path = :p"), {"p": path}
        )
    return _aware(value)


def handled_times(engine: Engine, timeout: float) -> list[datetime]:
    """When each outbox event was handled, in publish order, once every one is.

    The last events' tag feeds are still being built when their title shows in all.atom.
    """
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            rows = conn.scalars(text("SELECT handled_at FROM outbox_events ORDER BY id")).all()
        if all(rows):
            return [_aware(value) for value in rows]
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox events still unhandled after {timeout:.0f}s")
        time.sleep(0.2)


def _aware(value: datetime | str) -> datetime:
    # Raw SQL: SQLite hands back the stored text, PostgreSQL a datetime. Both are UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def report(
    args: argparse.Namespace,
    samples: list[Sample],
    handled: list[datetime],
    cpu: dict[str, float],
) -> None:
    pairs = zip(samples, handled, strict=True)
    done = [(when.timestamp() - s.returned_at) * 1000 for s, when in pairs]
    rows = [
        ("POST returned -> in all.atom", [s.visible_ms for s in samples]),
        ("POST round trip", [s.post_ms for s in samples]),
        ("POST returned -> all.atom written", [s.stored_ms for s in samples]),
        # The whole event (all, language, 3 tags; 3 formats each) committed.
        ("POST returned -> event handled", done),
    ]  # fmt: skip
    print(
        f"\npublish -> all.atom, {args.db}: {len(samples)} publishes measured after "
        f"{args.fill} to fill the feed and {args.warmup} warm-up; poll every {args.poll_ms:g} ms"
        + ("; each event settled before the next publish" if args.settle else "; back to back")
    )
    print(f"{'':36}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}   ms")
    for name, values in rows:
        print(f"{name:36}" + "".join(f"{q:8.1f}" for q in _quantiles(values)))
    p50, _, p99, _ = _quantiles(rows[0][1])
    for name, value, goal in [("p50", p50, GOAL_P50_MS), ("p99", p99, GOAL_P99_MS)]:
        verdict = "met" if value <= goal else "NOT met"
        print(f"goal {name} <= {goal:g} ms: {value:.1f} ms = {value / goal:.2f} x goal, {verdict}")
    # CPU time, unlike latency, hardly moves when others share the cores: compare changes by it.
    per_publish = {name: seconds * 1000 / len(samples) for name, seconds in cpu.items()}
    print(
        f"CPU per measured publish: worker {per_publish['worker']:.0f} ms, "
        f"web {per_publish['web']:.0f} ms (POST, feed reloads and this script's polls)"
    )


def _quantiles(values: list[float]) -> tuple[float, float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[89], cuts[98], max(values)


if __name__ == "__main__":
    main()
