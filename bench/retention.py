"""Outbox retention at 50,000 events: the database's size before and after pruning, and the
longest transaction the pruner holds, on SQLite and PostgreSQL.

1. Setup, not timed: a fresh database ("bench" on PostgreSQL, or SQLite in a temporary
   folder), migrated. Sixty real Nordic articles are made with `articles.create` (bodies
   from nordic.py, six languages, å ä ö, captions, bylines); their rows and their
   events' payloads are the templates of a bulk load of N events over 200 days: 80 %
   publications (one article each, so the articles table is as large as a newsroom's),
   15 % updates and 5 % retractions of earlier ones, every one handled and given its
   position, as the worker leaves them. Five partners with webhooks each got a
   delivery of one event in five (delivered; those of the last three days still
   pending), with one attempt each.
2. Timed: `retention.prune` as the beat task runs it, with the default retention (30 days
   of events, 90 of the delivery log). Meanwhile a thread publishes a real article
   (`articles.create`, its own transaction) every 20 ms and records how long each took,
   beside the same publishes for 3 s before pruning: the baseline of this run.
3. A second run, which finds nothing to do: the cost of the beat task every minute.

Sizes: SQLite's pages in use (dbstat, per table, after a WAL checkpoint) and the file;
PostgreSQL's pg_total_relation_size per table and pg_database_size. Deleted rows free
space that new rows reuse, but neither database gives it back to the file system by
itself; the size after VACUUM (SQLite) and VACUUM FULL of the two tables (PostgreSQL)
shows what is left.

Run: .venv/bin/python bench/retention.py [--db sqlite|postgresql|both] [--events 50000]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nordic
import service

# This tree's newsroom (or BENCH_ROOT's), not whichever the virtualenv installed.
sys.path.insert(0, str(service.ROOT))

DAYS = 200
PARTNERS = 5
TEMPLATES = 60
CHUNK = 2000
GRACE = timedelta(seconds=1)


def fill(events: int) -> dict[str, int]:
    """The bulk load of step 1; the number of rows of each kind."""
    from sqlalchemy import func, insert, select

    from newsroom import articles, outbox
    from newsroom.db import session_scope
    from newsroom.models import (
        Article,
        DeliveryAttempt,
        DeliveryStatus,
        EventKind,
        OutboxEvent,
        Partner,
        PartnerDelivery,
        article_tags,
        utcnow,
    )
    from newsroom.schemas import ArticleIn

    now = utcnow()
    start = now - timedelta(days=DAYS)
    with session_scope() as session:
        # Made first, so they come first in the outbox: made as the oldest, too.
        for n in range(TEMPLATES):
            data = ArticleIn.model_validate(nordic.article(n, "mall"))
            _, event = articles.create(session, data, start, GRACE)
            assert event is not None
            session.flush()
            outbox.assign_position(session, event.id)
            outbox.mark_handled(session, event.id, start)
        templates = [
            (article, event.payload)
            for article, event in session.execute(
                select(Article, OutboxEvent).join(OutboxEvent, OutboxEvent.article_id == Article.id)
            ).all()
        ]
        tag_rows = session.execute(select(article_tags)).all()
        tags_of: dict[int, list[int]] = {}
        for article_id, tag_id in tag_rows:
            tags_of.setdefault(article_id, []).append(tag_id)
        partners = [
            Partner(name=f"{place} kommun", webhook_url=f"https://cms.{nordic._ascii(place)}.example/bk",
                    secret="whsec_" + "A" * 44)
            for place in ["Borlänge", "Tampere", "Tromsø", "Umeå", "Aarhus"][:PARTNERS]
        ]  # fmt: skip
        session.add_all(partners)
        session.flush()
        partner_ids = [partner.id for partner in partners]
        first_id = (session.scalar(select(func.max(Article.id))) or 0) + 1
        first_event = (session.scalar(select(func.max(OutboxEvent.id))) or 0) + 1
        first_position = outbox.last_position(session) + 1

    rng = random.Random(11)
    counts = {"published": 0, "updated": 0, "retracted": 0, "deliveries": 0}
    published: list[int] = []
    step = timedelta(days=DAYS) / events
    event_id, position, article_id = first_event, first_position, first_id
    delivery_n = 0
    done = 0
    while done < events:
        article_rows: list[dict[str, Any]] = []
        tag_links: list[dict[str, int]] = []
        event_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for _ in range(min(CHUNK, events - done)):
            at = start + step * done
            roll = rng.random()
            template, payload = templates[done % len(templates)]
            if roll < 0.80 or len(published) < 10:
                kind = EventKind.PUBLISHED
                slug = f"{template.slug[:80]}-{article_id}"
                article_rows.append({
                    "id": article_id, "uuid": str(uuid.uuid4()), "slug": slug, "version": 1,
                    "status": template.status, "language": template.language,
                    "title": template.title, "summary": template.summary,
                    "body_html": template.body_html, "body_markdown": template.body_markdown,
                    "authors": template.authors, "image_url": template.image_url,
                    "image_alt": template.image_alt, "image_caption": template.image_caption,
                    "canonical_url": f"{template.canonical_url}-{article_id}",
                    "published_at": at, "created_at": at, "updated_at": at,
                })  # fmt: skip
                tag_links += [{"article_id": article_id, "tag_id": tag}
                              for tag in tags_of[template.id]]  # fmt: skip
                target = article_id
                published.append(article_id)
                article_id += 1
                counts["published"] += 1
            else:
                kind = EventKind.UPDATED if roll < 0.95 else EventKind.RETRACTED
                target = rng.choice(published[-5000:])
                counts["updated" if kind is EventKind.UPDATED else "retracted"] += 1
            body = dict(payload)
            body["article"] = {**payload["article"], "id": target, "slug": f"x-{target}"}
            event_rows.append({
                "id": event_id, "kind": kind, "article_id": target, "version": 1,
                "payload": body, "position": position, "created_at": at, "next_ring_at": at,
                "attempts": 0, "started_at": at, "handled_at": at,
            })  # fmt: skip
            if rng.random() < 0.2:
                pending = now - at < timedelta(days=3)
                for partner_id in partner_ids:
                    delivery_n += 1
                    delivery_rows.append({
                        "id": delivery_n, "event_id": event_id, "partner_id": partner_id,
                        "article_id": target, "webhook_id": f"msg_{delivery_n:032x}",
                        "status": DeliveryStatus.PENDING if pending else DeliveryStatus.DELIVERED,
                        "attempts": 1, "next_attempt_at": at, "last_status": 200,
                        "created_at": at, "delivered_at": None if pending else at,
                    })  # fmt: skip
            event_id += 1
            position += 1
            done += 1
        with session_scope() as session:
            if article_rows:
                session.execute(insert(Article), article_rows)
                session.execute(insert(article_tags), tag_links)
            session.execute(insert(OutboxEvent), event_rows)
            if delivery_rows:
                session.execute(insert(PartnerDelivery), delivery_rows)
                session.execute(insert(DeliveryAttempt), [
                    {"delivery_id": row["id"], "attempted_at": row["created_at"],
                     "status_code": 200, "duration_ms": 40} for row in delivery_rows
                ])  # fmt: skip
        counts["deliveries"] += len(delivery_rows)
    _fix_sequences()
    return counts


def _fix_sequences() -> None:
    """PostgreSQL: explicit ids leave the sequences behind; move them past the rows."""
    from sqlalchemy import text

    from newsroom.db import get_engine

    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for table in ("articles", "outbox_events", "partner_deliveries",
                      "partner_delivery_attempts"):  # fmt: skip
            connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            ))  # fmt: skip


def sizes() -> dict[str, int]:
    """Bytes per table (with its indexes) and of the whole database."""
    from sqlalchemy import text

    from newsroom.db import get_engine

    engine = get_engine()
    tables = ["outbox_events", "partner_deliveries", "partner_delivery_attempts", "articles"]
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            result = {
                table: connection.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
                for table in tables
            }
            result["database"] = connection.scalar(
                text("SELECT pg_database_size(current_database())")
            )
            # As stored: compressed by TOAST when large.
            result["outbox payloads"] = connection.scalar(
                text("SELECT coalesce(sum(pg_column_size(payload)), 0) FROM outbox_events")
            )
        return result
    # SQLite: its own connection, outside the engine's BEGIN IMMEDIATE (a checkpoint and
    # VACUUM cannot run in a transaction).
    with closing(sqlite3.connect(engine.url.database or "")) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = raw.execute(
            "SELECT tbl_name, sum(pgsize) FROM dbstat JOIN sqlite_schema USING (name) "
            "GROUP BY tbl_name"
        ).fetchall()
        per_table = dict(rows)
        result = {table: per_table.get(table, 0) for table in tables}
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        free = raw.execute("PRAGMA freelist_count").fetchone()[0]
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        result["outbox payloads"] = raw.execute(
            "SELECT coalesce(sum(length(payload)), 0) FROM outbox_events"
        ).fetchone()[0]
    result["database"] = (pages - free) * page_size
    result["file"] = pages * page_size
    return result


def vacuum() -> None:
    from newsroom.db import get_engine

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            _wait_for_older_transactions(connection)
            for table in ("outbox_events", "partner_deliveries", "partner_delivery_attempts"):
                connection.exec_driver_sql(f"VACUUM FULL {table}")
        return
    engine.dispose()
    with closing(sqlite3.connect(engine.url.database or "")) as raw:
        raw.execute("VACUUM")


def _wait_for_older_transactions(connection: Any, timeout: float = 120.0) -> None:
    """VACUUM FULL keeps every row version a running transaction might see, and other
    databases' transactions count too (a run here kept them all, and grew the table,
    while other work ran on the server): wait until every transaction that began before
    now has ended, or say that it did not."""
    from sqlalchemy import text

    began = connection.execute(text("SELECT clock_timestamp()")).scalar()
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        older = connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start < :began"
        ), {"began": began}).scalar()  # fmt: skip
        if not older:
            return
        time.sleep(0.5)
    print(f"(VACUUM FULL: transactions older than it still ran after {timeout:.0f} s)")


class Publisher(threading.Thread):
    """Real publishes, one transaction each, every 20 ms: their durations in ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.durations: list[float] = []
        self.running = True
        self.n = 100_000

    def run(self) -> None:
        from newsroom import articles
        from newsroom.db import session_scope
        from newsroom.models import utcnow
        from newsroom.schemas import ArticleIn

        while self.running:
            self.n += 1
            data = ArticleIn.model_validate(nordic.article(self.n, "under"))
            started = time.perf_counter()
            with session_scope() as session:
                articles.create(session, data, utcnow(), GRACE)
            self.durations.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)


def _during(seconds: float | None, work: Any = None) -> tuple[list[float], Any]:
    publisher = Publisher()
    publisher.start()
    result = work() if work is not None else time.sleep(seconds or 0)
    publisher.running = False
    publisher.join()
    return publisher.durations, result


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run(db: str, events: int) -> None:
    from config import get_settings
    from newsroom import retention
    from newsroom.db import migrate
    from newsroom.models import utcnow

    data_dir = Path(tempfile.mkdtemp(prefix="budkavle-retention-"))
    os.environ["BUDKAVLE_DATABASE_URL"] = service.fresh_database(db, data_dir)
    os.environ["BUDKAVLE_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    from newsroom.db import engine_for

    engine_for.cache_clear()
    migrate()
    started = time.monotonic()
    counts = fill(events)
    print(f"\n== {db}: {events:,} events ({counts['published']:,} publications, "
          f"{counts['updated']:,} updates, {counts['retracted']:,} retractions) over {DAYS} "
          f"days, {counts['deliveries']:,} partner deliveries; loaded in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    before = sizes()

    baseline, _ = _during(3.0)
    prune_started = time.monotonic()
    during, pruned = _during(None, lambda: retention.prune(get_settings(), utcnow()))
    took = time.monotonic() - prune_started
    after = sizes()
    again_started = time.perf_counter()
    again = retention.prune(get_settings(), utcnow())
    again_ms = (time.perf_counter() - again_started) * 1000
    vacuum()
    vacuumed = sizes()

    print(f"prune: {pruned.deleted:,} events deleted, {pruned.slimmed:,} slimmed, "
          f"{pruned.kept:,} kept whole (pending pushes), {pruned.log_deleted:,} deliveries "
          f"deleted; {pruned.batches} transactions in {took:.1f} s")  # fmt: skip
    print(f"longest prune transaction: {pruned.longest_seconds * 1000:.1f} ms "
          f"(mean {took / max(pruned.batches, 1) * 1000:.1f} ms per batch with its pause)")
    print(f"second run, nothing to do: {again.changed} rows, {again.batches} transactions, "
          f"{again_ms:.1f} ms, longest {again.longest_seconds * 1000:.1f} ms")
    for label, values in (("before pruning (baseline)", baseline), ("while pruning", during)):
        print(f"a publish transaction {label}: n={len(values)} p50 {statistics.median(values):.1f} "
              f"ms, p99 {_pct(values, 0.99):.1f} ms, max {max(values):.1f} ms")  # fmt: skip
    mb = 1024 * 1024
    keys = [key for key in before if key in after]
    print(f"{'MB':<28}{'before':>10}{'after':>10}{'vacuumed':>10}")
    for key in keys:
        print(f"{key:<28}{before[key] / mb:>10.1f}{after[key] / mb:>10.1f}"
              f"{vacuumed[key] / mb:>10.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    os.environ.setdefault("BUDKAVLE_LOG_LEVEL", "WARNING")
    service.stop_on_sigterm()
    with service.cpu_report():
        for db in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
            run(db, args.events)


if __name__ == "__main__":
    main()
