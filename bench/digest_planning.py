"""Planning one daily edition for many subscribers in many groups, on a big archive, while
editors keep publishing: how long `digest.plan_edition` takes, the longest transaction it
holds (on SQLite the one write lock), and how long publishes take meanwhile.

1. Setup, not timed: a fresh database (SQLite in a temporary folder, or PostgreSQL's
   BENCH_POSTGRES_URL dropped and made again), migrated by this tree. N published
   articles by bulk INSERT, about 300 a day: languages as a Nordic newsroom has them
   (Swedish half, Finnish a fifth, then Norwegian, Danish, English, Icelandic), 2-5 tags
   each from a long tail (a few dozen places and topics most articles carry, then
   thousands of rare ones: "Kiruna stadsflytt"), one "published" outbox event each and an
   "updated" one for a fifth of them, 1 % retracted. The newest 20 are published through
   `articles.create` and `outbox.assign_position`, the real path, and their
   first_position is checked against their event. S daily subscribers in G distinct
   (language, tags, since) groups: 40 % of groups follow every tag, the rest one to three
   tags drawn from the same long tail; most were moved on by yesterday's edition, some
   joined during the day, 2 % come back from anywhere in the archive; group sizes are
   skewed, as a real list is.
2. Timed, for each tree (this one; BENCH_ROOT as the baseline, e.g. a checkout of main):
   `digest.plan_edition` for a manual daily slot, in a process of its own that imports
   that tree. Transactions are timed from BEGIN to COMMIT on its writer engine: the
   longest that wrote (or locked rows), and the longest of any kind ("any": on SQLite
   every one of them holds the write lock, from BEGIN IMMEDIATE; on PostgreSQL the
   longest is planning's read, which locks nothing). Beside it, another process of
   the same tree publishes an article every 50 ms through `articles.create`, each in
   its own transaction; of the publishes that began while planning ran it prints p50,
   max and how many failed (SQLite gives up after its 30 s busy timeout), and the p50
   of those in the second before planning began. Between trees the database is put
   back: editions and deliveries deleted, every subscriber at its join position.

Run: .venv/bin/python bench/digest_planning.py [--db sqlite|postgresql|both]
     [--articles 10000,50000] [--subscribers 10000,100000] [--groups 2000]
     [--baseline-limit 300]  (BENCH_ROOT=/tmp/main-tree for the before/after ratio)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
if "--role" not in sys.argv:  # a child imports the tree it measures (PYTHONPATH)
    sys.path.insert(0, str(TREE))  # this tree's newsroom, not the editable install's
sys.path.insert(0, str(HERE))
import service  # noqa: E402

LANGUAGES = ["sv"] * 10 + ["fi"] * 4 + ["nb"] * 2 + ["da"] * 2 + ["en", "is"]
PLACES = ["Borlänge", "Umeå", "Tammerfors", "Helsingfors", "Tromsø", "Reykjavík", "Aarhus",
          "Kiruna", "Luleå", "Åbo", "Bergen", "Odense", "Uppsala", "Oulu", "Mariehamn",
          "Falun", "Östersund", "Vaasa", "Trondheim", "Göteborg"]  # fmt: skip
TOPICS = ["Nordiskt samarbete", "Klimat", "Kollektivtrafik", "Kultur", "Ungdom", "Trygghet",
          "Skola", "Vård", "Bostäder", "Idrott", "Näringsliv", "Miljö"]  # fmt: skip
RARE_WORDS = ["stadsflytt", "vinterväg", "fjärrvärme", "bibliotek", "hamn", "badhus",
              "cykelbana", "vårdcentral", "konsthall", "brandstation", "skidspår",
              "fiskekvot", "färjelinje", "ishall", "museum", "torg", "älvstrand",
              "bergrum", "gruva", "vindkraft"]  # fmt: skip
PER_DAY = 300  # articles a day: yesterday's edition ended this many positions ago
MAX_ARTICLES = 20


def tag_pool(rng: random.Random) -> tuple[list[str], list[float]]:
    """Labels and Zipf-like weights: a few dozen carry most articles, thousands are rare."""
    common = PLACES + TOPICS
    rare = [f"{place} {word}" for place in PLACES for word in RARE_WORDS]
    rare += [f"{topic} i {place}" for topic in TOPICS for place in PLACES]
    labels = common + rare
    rng.shuffle(rare)
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(labels))]
    return labels, weights


def fill(url: str, articles: int, subscribers: int, groups: int) -> dict[str, Any]:
    """The archive, the subscribers and their join positions (table bench_joins)."""
    from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

    from newsroom import articles as articles_module
    from newsroom import outbox
    from newsroom.db import make_engine, migrate, session_scope
    from newsroom.models import (
        Article,
        ArticleStatus,
        EventKind,
        Frequency,
        OutboxEvent,
        Subscriber,
        SubscriberStatus,
        Tag,
        article_tags,
    )
    from newsroom.schemas import ArticleIn
    from newsroom.text import make_slug

    engine = make_engine(url)
    migrate(engine)
    rng = random.Random(2026)
    labels, weights = tag_pool(rng)
    slugs = [make_slug(label, max_length=80) for label in labels]
    start = datetime(2022, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        pairs = enumerate(zip(slugs, labels, strict=True))
        conn.execute(insert(Tag), [{"id": i + 1, "slug": s, "label": lb} for i, (s, lb) in pairs])
        position = 0
        bulk = articles - 20
        for first in range(0, bulk, 5000):
            rows, tag_rows, events = [], [], []
            for n in range(first, min(bulk, first + 5000)):
                article_id = n + 1
                at = start + timedelta(days=n / PER_DAY)
                status = ArticleStatus.RETRACTED if rng.random() < 0.01 else ArticleStatus.PUBLISHED
                position += 1
                rows.append({
                    "id": article_id, "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "slug": f"nyhet-{article_id}", "version": 1, "status": status,
                    "language": rng.choice(LANGUAGES),
                    "title": f"{rng.choice(PLACES)} och {rng.choice(PLACES)} – nyhet {n}",
                    "summary": "Kommunen i Norden satsar på samarbete över gränserna.",
                    "body_html": "<p>– Vi förstår varandra, säger Åsa Lindqvist.</p>",
                    "authors": ["Åsa Lindqvist"], "image_alt": "", "image_caption": "",
                    "published_at": at, "created_at": at, "updated_at": at,
                    "first_position": position,
                })  # fmt: skip
                chosen = {
                    rng.choices(range(len(labels)), weights)[0] for _ in range(rng.randint(2, 5))
                }
                tag_rows += [{"article_id": article_id, "tag_id": t + 1} for t in chosen]
                events.append(_event(article_id, EventKind.PUBLISHED, position, at))
                if rng.random() < 0.2:
                    position += 1
                    events.append(_event(article_id, EventKind.UPDATED, position, at))
            conn.execute(insert(Article), rows)
            conn.execute(insert(article_tags), tag_rows)
            conn.execute(insert(OutboxEvent), events)
        if conn.dialect.name == "postgresql":
            for table in ("articles", "tags", "outbox_events"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))  # fmt: skip
    # The newest through the real path: created, then given their position by the worker's
    # step; their first_position must be that event's.
    os.environ["BUDKAVLE_DATABASE_URL"] = url
    from config import get_settings

    get_settings.cache_clear()
    for n in range(20):
        with session_scope(engine) as session:
            data = ArticleIn.model_validate({
                "title": f"Kiruna flyttar stadskärnan – etapp {n}", "language": "sv",
                "body_markdown": "– Det är en historisk dag, säger Åsa Lindqvist.",
                "tags": ["Kiruna", "Kiruna stadsflytt", "Nordiskt samarbete"],
            })  # fmt: skip
            article, event = articles_module.create(session, data, datetime.now(UTC), timedelta(0))
            assert event is not None
            got = outbox.assign_position(session, event.id)
            session.flush()
            session.refresh(article)
            assert article.first_position == got, (article.first_position, got)
    with engine.begin() as conn:
        last = conn.scalar(select(func.max(OutboxEvent.position))) or 0
    yesterday = max(0, last - PER_DAY)
    templates = []
    seen = set()
    while len(templates) < groups:
        tags: tuple[str, ...] = ()
        if rng.random() >= 0.4:
            count = rng.choice([1, 1, 2, 3])
            tags = tuple(
                sorted({slugs[rng.choices(range(len(slugs)), weights)[0]] for _ in range(count)})
            )
        roll = rng.random()
        if roll < 0.02:
            since = rng.randrange(0, last)  # back from anywhere in the archive
        elif roll < 0.4:
            since = rng.randrange(yesterday, last)  # joined during the day
        else:
            since = yesterday
        key = (rng.choice(LANGUAGES), tags, since)
        if key not in seen:
            seen.add(key)
            templates.append(key)
    sizes = [1.0 / (rank + 1) ** 0.8 for rank in range(groups)]
    now = datetime.now(UTC)
    joins = Table("bench_joins", MetaData(), Column("id", Integer, primary_key=True),
                  Column("position", Integer))  # fmt: skip
    with engine.begin() as conn:
        joins.create(conn)
        for first in range(0, subscribers, 10000):
            rows, join_rows = [], []
            for number in range(first, min(subscribers, first + 10000)):
                # Every group has a member; the rest drawn by skewed sizes.
                language, tags, since = (templates[number] if number < groups
                                         else rng.choices(templates, sizes)[0])  # fmt: skip
                rows.append({
                    "id": number + 1, "email": f"lasare{number}@example.se",
                    "status": SubscriberStatus.ACTIVE, "language": language,
                    "frequency": Frequency.DAILY, "tags": list(tags),
                    "time_zone": "Europe/Stockholm", "consent_at": now, "consent_form": "bench",
                    "digest_position": since, "failures": 0, "created_at": now, "updated_at": now,
                })  # fmt: skip
                join_rows.append({"id": number + 1, "position": since})
            conn.execute(insert(Subscriber), rows)
            conn.execute(insert(joins), join_rows)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('subscribers', 'id'), "
                              "(SELECT max(id) FROM subscribers))"))  # fmt: skip
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return {"last_position": last, "groups": groups}


def _event(article_id: int, kind: Any, position: int, at: datetime) -> dict[str, Any]:
    return {"kind": kind, "article_id": article_id, "version": 1, "payload": {},
            "position": position, "created_at": at, "next_ring_at": at, "attempts": 0,
            "handled_at": at}  # fmt: skip


def reset(url: str) -> None:
    from sqlalchemy import text

    from newsroom.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        for table in ("email_deliveries", "edition_segments", "editions"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE subscribers SET digest_position = bench_joins.position "
                          "FROM bench_joins WHERE subscribers.id = bench_joins.id"))  # fmt: skip
    engine.dispose()


# --- the child processes: each imports the tree it measures -------------------------------


def role_plan() -> None:
    from sqlalchemy import event

    from config import get_settings
    from newsroom import editions
    from newsroom.db import get_engine
    from newsroom.models import Frequency
    from worker import digest

    longest = {"any": 0.0, "write": 0.0}
    engine = get_engine()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.info["began"], conn.info["wrote"] = time.perf_counter(), False

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip()[:6].upper()
        if head in ("INSERT", "UPDATE", "DELETE") or "FOR UPDATE" in statement:
            conn.info["wrote"] = True

    def _end(conn: Any) -> None:
        began = conn.info.pop("began", None)
        if began is not None:
            held = time.perf_counter() - began
            longest["any"] = max(longest["any"], held)
            if conn.info.get("wrote"):
                longest["write"] = max(longest["write"], held)

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)
    settings = get_settings()
    now = datetime.now(UTC)
    started_wall, started = time.time(), time.perf_counter()
    batches = digest.plan_edition(editions.manual_slot(Frequency.DAILY, now), settings, now)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "longest": longest["write"],
                      "longest_any": longest["any"], "batches": len(batches),
                      "from": started_wall, "to": time.time()}))  # fmt: skip


def role_publish() -> None:
    from config import get_settings
    from newsroom import articles
    from newsroom.db import session_scope
    from newsroom.schemas import ArticleIn

    get_settings()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    results = []
    print("ready", flush=True)
    n = 0
    while not stop.is_set():
        n += 1
        data = ArticleIn.model_validate({
            "title": f"Umeå bygger ut cykelvägarna – del {n} {uuid.uuid4().hex[:6]}",
            "language": "sv", "body_markdown": "– Fler cyklar, säger Kristina Westerholm.",
            "tags": ["Umeå", "Kollektivtrafik"],
        })  # fmt: skip
        began_wall, began = time.time(), time.perf_counter()
        ok = True
        try:
            with session_scope() as session:
                articles.create(session, data, datetime.now(UTC), timedelta(seconds=60))
        except Exception:  # SQLite: "database is locked" after its busy timeout
            ok = False
        results.append((began_wall, time.perf_counter() - began, ok))
        time.sleep(0.05)
    print(json.dumps(results), flush=True)


def measure(root: Path, url: str, data_dir: Path) -> dict[str, Any]:
    env = service.environment(url, data_dir, 8000)
    env["PYTHONPATH"] = str(root)
    env["BUDKAVLE_DIGEST_MAX_ARTICLES"] = str(MAX_ARTICLES)
    script = str(Path(__file__).resolve())
    publisher = subprocess.Popen([sys.executable, script, "--role", "publish"], env=env,
                                 cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)  # fmt: skip
    assert publisher.stdout is not None and publisher.stdin is not None
    try:
        assert publisher.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        planned = subprocess.run([sys.executable, script, "--role", "plan"], env=env, cwd=root,
                                 capture_output=True, text=True, check=True)  # fmt: skip
        result: dict[str, Any] = json.loads(planned.stdout.strip().splitlines()[-1])
        publisher.stdin.close()
        publishes = json.loads(publisher.stdout.read().strip().splitlines()[-1])
    finally:
        publisher.kill() if publisher.poll() is None else None
        publisher.wait()
    during = [(latency, ok) for began, latency, ok in publishes
              if result["from"] <= began <= result["to"]]  # fmt: skip
    # The same publishes in the second before planning began: what they cost alone.
    alone = sorted(latency for began, latency, _ in publishes if began < result["from"])
    latencies = sorted(latency for latency, _ in during) or [0.0]
    result.update(
        publishes=len(during),
        failed=sum(1 for _, ok in during if not ok),
        p50=statistics.median(latencies),
        max=latencies[-1],
        alone=statistics.median(alone or [0.0]),
    )
    return result


def describe(result: dict[str, Any]) -> str:
    return (f"{result['seconds']:7.2f} s, longest write transaction {result['longest']:5.2f} s "
            f"(any: {result['longest_any']:5.2f} s), "
            f"{result['batches']} batches; publishes meanwhile: {result['publishes']}, "
            f"p50 {result['p50'] * 1000:.0f} ms, max {result['max'] * 1000:.0f} ms, "
            f"{result['failed']} failed (p50 before: {result['alone'] * 1000:.0f} ms)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["plan", "publish"])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--articles", default="10000,50000")
    parser.add_argument("--subscribers", default="10000,100000")
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument(
        "--baseline-limit",
        type=int,
        default=10000,
        help="Run the baseline only up to this many articles.",
    )
    args = parser.parse_args()
    if args.role == "plan":
        return role_plan()
    if args.role == "publish":
        return role_publish()
    baseline = Path(os.environ["BENCH_ROOT"]) if os.environ.get("BENCH_ROOT") else None
    print(f"tree {TREE}; baseline {baseline or '(none: set BENCH_ROOT)'}")
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with service.cpu_report():
        for db in dbs:
            for articles in [int(n) for n in args.articles.split(",")]:
                for subscribers in [int(n) for n in args.subscribers.split(",")]:
                    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
                        data_dir = Path(folder)
                        url = service.fresh_database(db, data_dir)
                        started = time.perf_counter()
                        fill(url, articles, subscribers, args.groups)
                        print(f"\n{db}, {articles:,} articles, {subscribers:,} subscribers in "
                              f"{args.groups:,} groups (filled in "
                              f"{time.perf_counter() - started:.0f} s)")  # fmt: skip
                        after = measure(TREE, url, data_dir)
                        print(f"  this tree: {describe(after)}")
                        if baseline is not None and articles <= args.baseline_limit:
                            reset(url)
                            before = measure(baseline, url, data_dir)
                            print(f"  baseline:  {describe(before)}")
                            ratio = before["seconds"] / after["seconds"]
                            print(f"  ratio before/after: {ratio:.1f} ×")


if __name__ == "__main__":
    main()
