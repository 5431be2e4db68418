"""Proof that a fill holds what the real path makes: `growth.py --check`.

Three fresh databases get the same articles (the fill's own, from bench/fill.py):
  real    each one through `articles.create` in its own transaction, then the real
          worker's handling of its event (`worker.events.handle`: feeds, archive slots,
          position, partners, digests' bell) — what POST and the worker do;
  create  bench/fill.py's batches of `articles.create` plus the worker's other steps;
  bulk    bench/bulkload.py's multi-row INSERTs.
Then every table is compared row by row, in primary key order, leaving out only what
must differ (random uuids, the times the worker stamps with the clock). A table the real
path writes that a fill does not (a new tag index, per-day counts...) fails the check by
name, except feed_documents: fills render no feeds, `feeds rebuild` does. (Rows the
migrations make, such as outbox_horizon's, are in every database alike.)
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bulkload
import fill
import redis
import service
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from newsroom.db import make_engine, migrate, session_scope

# Columns that must differ between two honest runs: random, or the worker's clock.
IGNORED = {
    ("articles", "uuid"),
    ("outbox_events", "started_at"),
    ("outbox_events", "handled_at"),
    ("tag_days_version", "token"),
}
NOT_FILLED = {"feed_documents": "fills render no feeds; `budkavle feeds rebuild` does"}
TAGS = 120  # a small vocabulary, so that later articles meet tags made by earlier ones


def check(
    db: str,
    size: int,
    *,
    postgres_url: str = service.POSTGRES_URL,
    redis_url: str = service.REDIS_URL,
) -> bool:
    """True when both fills equal the real path; prints what differs. The databases are
    made beside ``postgres_url`` (or in a temporary folder) and dropped afterwards."""
    print(f"checking the fill on {db}: {size} articles made three ways")
    spec = fill.Fill(size, TAGS, fill.fill_end())
    with (
        tempfile.TemporaryDirectory(prefix="budkavle-fillcheck-") as tmp,
        _databases(db, Path(tmp), postgres_url) as urls,
    ):
        engines = {name: make_engine(url) for name, url in urls.items()}
        try:
            for engine in engines.values():
                migrate(engine)
            _real(engines["real"], urls["real"], spec, Path(tmp), redis_url)
            for mode in ("create", "bulk"):
                _batched(engines[mode], spec, mode)
            ok = True
            for mode in ("create", "bulk"):
                ok &= compare(engines["real"], engines[mode], mode)
        finally:
            for engine in engines.values():
                engine.dispose()
    print(f"fill check on {db}: {'equal' if ok else 'DIFFERENT'}")
    return ok


def _batched(engine: Engine, spec: fill.Fill, mode: str) -> None:
    # Batches smaller than the sample, so state carried from batch to batch is checked.
    original = fill.BATCH
    fill.BATCH = max(spec.size // 3, 1)
    try:
        fill.fill(engine, spec, mode=mode, progress=False)
    finally:
        fill.BATCH = original


def _real(engine: Engine, url: str, spec: fill.Fill, data_dir: Path, redis_url: str) -> None:
    """POST's transaction, then the worker's task, one article after the other."""
    saved = dict(os.environ)
    os.environ.update(service.environment(url, data_dir, 8000), BUDKAVLE_REDIS_URL=redis_url)
    # After the environment: the Celery app takes its broker from it when first imported.
    from config import get_settings
    from newsroom import articles
    from worker import events

    get_settings.cache_clear()
    try:
        settings = get_settings()
        redis.Redis.from_url(redis_url).flushdb()
        draw, rng = fill.TagDraw(spec.tags), random.Random(fill.SEED)
        for n, published_at in enumerate(spec.times()):
            data = fill.article_in(n, draw, rng, published_at)
            with session_scope(engine) as session:
                _, event = articles.create(session, data, published_at, fill.GRACE)
                assert event is not None
                event_id = event.id
            events.handle(event_id, settings, lambda paths: None)
        redis.Redis.from_url(redis_url).flushdb()  # the bells rung meanwhile
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def compare(real: Engine, other: Engine, mode: str) -> bool:
    tables_real = _tables(real)
    tables_other = _tables(other)
    if tables_real != tables_other:
        print(f"  {mode}: the schemas differ: {sorted(tables_real ^ tables_other)}")
        return False
    ok = True
    for table in sorted(tables_real):
        if table in NOT_FILLED:
            continue
        rows_real, rows_other = _rows(real, table), _rows(other, table)
        if rows_real == rows_other:
            if rows_real:
                print(f"  {mode}: {table}: {len(rows_real)} rows equal")
            continue
        ok = False
        if table not in bulkload.FILLS:
            # Rows the migrations make are in both; these the real path wrote.
            print(
                f"  {mode}: table {table} is filled by the real path ({len(rows_real)} rows, "
                f"{len(rows_other)} here) and bench/bulkload.py does not know it: teach the "
                "loader (and fill.py) what the new code writes there"
            )
            continue
        print(f"  {mode}: {table}: {len(rows_real)} rows real, {len(rows_other)} {mode}")
        for a, b in zip(rows_real, rows_other, strict=False):
            if a != b:
                diff = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
                print(f"    first difference: {str(diff)[:600]}")
                break
    return ok


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    inspector = inspect(engine)
    key = inspector.get_pk_constraint(table)["constrained_columns"] or [
        column["name"] for column in inspector.get_columns(table)
    ]
    order = ", ".join(f'"{column}"' for column in key)
    with engine.connect() as conn:
        result = conn.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))
        rows = [dict(row._mapping) for row in result]
    for row in rows:
        for column in list(row):
            if (table, column) in IGNORED:
                del row[column]
        if table == "outbox_events":
            row["payload"] = _payload(row["payload"])
    return rows


def _payload(value: Any) -> Any:
    import json

    payload = json.loads(value) if isinstance(value, str) else value
    payload.get("article", {}).pop("uuid", None)
    return payload


@contextmanager
def _databases(db: str, tmp: Path, postgres_url: str) -> Iterator[dict[str, str]]:
    names = ("real", "create", "bulk")
    if db == "sqlite":
        yield {name: f"sqlite:///{tmp / name}.db" for name in names}
        return
    url = make_url(postgres_url)
    urls = {}
    for name in names:
        database = f"{url.database}_check_{name}"
        fill._recreate(postgres_url, database)
        urls[name] = url.set(database=database).render_as_string(hide_password=False)
    try:
        yield urls
    finally:
        with fill._admin(postgres_url) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.database}_check_{name}" WITH (FORCE)')
