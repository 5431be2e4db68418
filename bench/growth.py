"""Growth: the same work at 1k, 50k and 500k published articles (issue 11).

For each database and size: a database filled by bench/fill.py (cached on disk), copied
for this run, then each row of the issue's table measured on the copy, printed with its
ratio to the first size and the machine's load average.

    .venv/bin/python bench/growth.py --db sqlite --sizes 1000,50000
    .venv/bin/python bench/growth.py --db postgresql --rows publish,post,cloud --markdown
    .venv/bin/python bench/growth.py --check      # the bulk fill equals the real path

Rows (``--rows``, comma-separated; default all):
  publish   worker CPU per publish, and POST -> event handled (p50), for a 3-tag article
            and for a 20-tag article with 17 new tags: the real uvicorn and Celery worker
  post      POST /api/articles round trip p50 (3 tags, no slug given), same service
  partners  publish -> every live partner received (p50, p99) with --partners (50) partners,
            one of them hanging: bench/partner_fanout.py's endpoints and push worker
  new       editions.new_articles for one subscriber group (sv, one common tag)
  plan      editions.plan for --subscribers in --groups (language, tags, since) groups
  cloud     the tag cloud over the 90 days up to the newest article
  slug      articles._free_slug for a new title (every POST without a slug)
  size      outbox_events and the whole database, MB
  rebuild   `budkavle feeds rebuild` over every feed (all, each tag, each language)
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The tree measured: this one, or BENCH_ROOT (as in bench/service.py). First on the path,
# so that this process runs the same code as the service it starts; else the editable
# install's tree would be imported here.
sys.path.insert(0, os.environ.get("BENCH_ROOT") or str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fill
import httpx
import nordic
import redis
import service
from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from newsroom import articles, daysums, editions, outbox, tagcloud
from newsroom.db import make_engine, session_scope
from newsroom.models import (
    Edition,
    Frequency,
    OutboxEvent,
    Subscriber,
    SubscriberStatus,
    Tag,
)
from newsroom.text import make_slug

ROWS = ["publish", "post", "partners", "new", "plan", "cloud", "slug", "size", "rebuild"]
MAX_ARTICLES = 20  # BUDKAVLE_DIGEST_MAX_ARTICLES's default


@dataclass
class Result:
    name: str  # the table's row
    value: float
    unit: str
    note: str = ""


@dataclass
class SizeRun:
    db: str
    size: int
    results: list[Result] = field(default_factory=list)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    filled: str = ""  # how the database was made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db", default="sqlite", help="sqlite, postgresql, or both: sqlite,postgresql"
    )
    parser.add_argument("--sizes", default="1000,50000,500000", help="published articles")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"some of {','.join(ROWS)}")
    parser.add_argument("--tags", type=int, default=5000, help="tags in the fill's vocabulary")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=2000, help="distinct (language, tags, since)")
    parser.add_argument("--publishes", type=int, default=20, help="measured 3-tag publishes")
    parser.add_argument("--wide-publishes", type=int, default=5, help="measured 20-tag ones")
    parser.add_argument("--partners", type=int, default=50, help="partners, one hanging")
    parser.add_argument("--partner-publishes", type=int, default=20)
    parser.add_argument("--rebuild-timeout", type=float, default=900.0, help="s")
    parser.add_argument("--fill", choices=["bulk", "create"], default="bulk")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("BENCH_CACHE", "/var/tmp/budkavle-growth")),
    )
    parser.add_argument("--markdown", action="store_true", help="print a table for RESULTS.md")
    parser.add_argument("--check", action="store_true", help="prove the fill, then stop")
    parser.add_argument("--check-size", type=int, default=400)
    args = parser.parse_args()
    service.stop_on_sigterm()
    dbs = args.db.split(",")
    if not set(dbs) <= {"sqlite", "postgresql"}:
        parser.error(f"--db: {args.db!r}; give sqlite, postgresql or sqlite,postgresql")
    if args.check:
        import fillcheck

        sys.exit(0 if all(fillcheck.check(db, args.check_size) for db in dbs) else 1)
    rows = args.rows.split(",")
    unknown = set(rows) - set(ROWS)
    if unknown:
        parser.error(f"--rows: unknown {', '.join(sorted(unknown))}; choose from {','.join(ROWS)}")
    sizes = [int(size) for size in args.sizes.split(",")]
    runs: list[SizeRun] = []
    cache = fill.Cache(args.cache, service.POSTGRES_URL)
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=service.ROOT, capture_output=True,
        text=True, check=False,
    ).stdout.strip()  # fmt: skip
    print(f"growth of {service.ROOT} at {commit or 'an unknown commit'}, {os.cpu_count()} cores")
    with service.cpu_report():
        for db in dbs:
            for size in sizes:
                runs.append(measure_size(db, size, rows, args, cache))
                report(runs, args)  # so far, in case a later size is stopped
    if args.markdown:
        print(markdown(runs, args))


def measure_size(
    db: str, size: int, rows: list[str], args: argparse.Namespace, cache: fill.Cache
) -> SizeRun:
    run = SizeRun(db, size)
    spec = fill.Fill(size, args.tags, fill.fill_end())
    with tempfile.TemporaryDirectory(prefix="budkavle-growth-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        url, rate = cache.working_copy(db, spec, work, args.fill)
        run.filled = (
            f"filled ({args.fill}) at {rate:.0f} articles/s" if rate
            else f"copied from the cache in {time.perf_counter() - started:.0f} s"
        )  # fmt: skip
        print(f"\n{db}, {size:,} articles: {run.filled}", flush=True)
        engine = make_engine(url)
        reader = make_engine(url, writes=False)
        try:
            for row in ROWS:  # in this order: the service's rows before subscribers exist
                wanted = {"publish", "post"} & set(rows) if row == "publish" else row in rows
                if wanted and row != "post":
                    for result in ROW_FUNCTIONS[row](url, engine, reader, work, args):
                        run.results.append(result)
                        print(f"  {result.name}: {_fmt(result)} {result.note}", flush=True)
        finally:
            engine.dispose()
            reader.dispose()
    run.load = os.getloadavg()
    return run


# --- the rows --------------------------------------------------------------------------


def row_service(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    """publish and post: the real service, publishes one at a time, each settled."""
    port = service.free_port()
    env = service.environment(url, work, port)
    redis.Redis.from_url(service.REDIS_URL).flushdb()
    stamp = datetime.now(UTC).strftime("%H%M%S")
    with (
        service.running(env, port) as svc,
        httpx.Client(
            base_url=svc.url, timeout=30,
            headers={"Authorization": f"Bearer {service.ADMIN_TOKEN}"},
        ) as api,
    ):  # fmt: skip
        for n in range(3):  # warm-up: the first publish builds every touched feed
            _publish(api, reader, nordic.article(900_000 + n, stamp))
        narrow = _publishes(
            svc, api, reader, [nordic.article(n, stamp) for n in range(args.publishes)]
        )
        wide = _publishes(
            svc, api, reader,
            [_wide(nordic.article(100 + n, stamp), n, stamp) for n in range(args.wide_publishes)],
        )  # fmt: skip
    per_tag = (wide.cpu_ms - narrow.cpu_ms) / 17
    if "publish" in args.rows.split(","):
        yield Result("worker CPU per publish, 3 tags", narrow.cpu_ms, "ms")
        yield Result("POST → event handled, 3 tags, p50", narrow.handled_p50, "ms")
        yield Result("worker CPU per publish, 20 tags (17 new)", wide.cpu_ms, "ms")
        yield Result("POST → event handled, 20 tags (17 new), p50", wide.handled_p50, "ms")
        yield Result("worker CPU per new tag, (20 tags − 3 tags) / 17", per_tag, "ms")
        yield Result("worker CPU, 20 tags / 3 tags", wide.cpu_ms / narrow.cpu_ms, "×")
    if "post" in args.rows.split(","):
        yield Result("POST /api/articles round trip, 3 tags, p50", narrow.post_p50, "ms")


@dataclass
class Publishes:
    cpu_ms: float
    handled_p50: float
    post_p50: float


def _publishes(
    svc: service.Service, api: httpx.Client, reader: Engine, bodies: list[dict[str, object]]
) -> Publishes:
    cpu_before = svc.cpu_seconds()["worker"]
    posts, handled = [], []
    for body in bodies:
        post_ms, handled_ms = _publish(api, reader, body)
        posts.append(post_ms)
        handled.append(handled_ms)
    time.sleep(0.2)  # the worker's last bells after the event was marked handled
    cpu = (svc.cpu_seconds()["worker"] - cpu_before) * 1000 / len(bodies)
    return Publishes(cpu, statistics.median(handled), statistics.median(posts))


def _publish(api: httpx.Client, reader: Engine, body: dict[str, object]) -> tuple[float, float]:
    """POST, then wait for the event to be handled: (round trip, returned -> handled), ms."""
    started = time.perf_counter()
    response = api.post("/api/articles", json=body)
    returned, returned_at = time.perf_counter(), time.time()
    response.raise_for_status()
    article_id = response.json()["id"]
    deadline = returned + 300
    query = select(OutboxEvent.handled_at).where(OutboxEvent.article_id == article_id)
    while True:
        with reader.connect() as conn:
            handled_at = conn.scalar(query)
        if handled_at is not None:
            break
        if time.perf_counter() > deadline:
            raise TimeoutError(f"article {article_id}: event not handled within 300 s")
        time.sleep(0.005)
    return (returned - started) * 1000, (handled_at.timestamp() - returned_at) * 1000


def _wide(body: dict[str, object], n: int, stamp: str) -> dict[str, object]:
    """Three common tags and 17 that no article has had yet."""
    tags = list(body["tags"])  # type: ignore[call-overload]
    places = random.Random(n).sample(fill.PLACES, 17)
    body["tags"] = tags + [f"{place} nytt {stamp} {n}" for place in places]
    return body


def row_partners(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    """Publish -> every live partner received, as bench/partner_fanout.py measures it (its
    endpoints, one of them hanging, and its push worker), with --partners partners."""
    import partner_fanout as fanout

    receivers = fanout.Receivers()
    base, server = fanout.start_receivers(receivers)
    port = service.free_port()
    env = service.environment(url, work, port)
    env["BUDKAVLE_WEBHOOK_ALLOW_NETWORKS"] = "127.0.0.0/8"
    env["BUDKAVLE_PUSH_TIMEOUT_SECONDS"] = "5"
    redis.Redis.from_url(service.REDIS_URL).flushdb()
    pusher = [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "push",
        "-n", "push@%h", "--pool", "threads", "--concurrency", "16", "--loglevel", "WARNING",
    ]  # fmt: skip
    names = [f"partner-{n:02d}" for n in range(args.partners)]  # partner-00 hangs
    live = set(names) - {fanout.HANGING}
    stamp = datetime.now(UTC).strftime("%H%M%S")
    latencies = []
    try:
        with (
            service.running(env, port) as svc,
            service.process("pusher", pusher, env, work),
            httpx.Client(
                base_url=svc.url, timeout=30,
                headers={"Authorization": f"Bearer {service.ADMIN_TOKEN}"},
            ) as api,
        ):  # fmt: skip
            for n, name in enumerate(names):
                partner = {"name": f"Kommun {n:03d}", "webhook_url": f"{base}/{name}"}
                api.post("/api/partners", json=partner).raise_for_status()
            for n in range(3 + args.partner_publishes):  # 3 to warm up connections
                article = nordic.article(200 + n, stamp)
                api.post("/api/articles", json=article).raise_for_status()
                returned = time.monotonic()
                while set(receivers.live_received(article["title"])) != live:
                    if time.monotonic() > returned + 120:
                        got = len(receivers.live_received(article["title"]))
                        raise TimeoutError(f"{got} of {len(live)} partners got a push in 120 s")
                    time.sleep(0.002)
                if n >= 3:
                    last = max(receivers.live_received(article["title"]).values())
                    latencies.append((last - returned) * 1000)
    finally:
        # Stopping cancels the hanging partner's requests, each logged with its traceback.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        server.should_exit = True
    note = f"({len(live)} live partners and 1 hanging, {len(latencies)} publishes)"
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    yield Result("publish → every live partner received, p50", cuts[49], "ms", note)
    yield Result("publish → every live partner received, p99", cuts[98], "ms", note)


def row_new(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    with session_scope(reader) as session:
        upto = outbox.last_position(session)
        after = max(upto - 200, 0)
        tag = make_slug("Klimat")
        seconds = _median_time(
            lambda: editions.new_articles(
                session, language="sv", tags=[tag], after=after, upto=upto, limit=MAX_ARTICLES
            )
        )
    yield Result("editions.new_articles, one group", seconds * 1000, "ms", "(sv, klimat, 200 back)")


def row_plan(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    with session_scope(engine) as session:
        groups = add_subscribers(session, args.subscribers, args.groups)
    now = datetime.now(UTC)
    session = Session(engine)
    with Writes(make_engine(url)) as writes:
        try:
            started = time.perf_counter()
            # Who gets what, as plan_edition decides it; its writes (segments, deliveries)
            # then go in short transactions of their own (bench/digest_planning.py).
            slot = editions.manual_slot(Frequency.IMMEDIATE, now)
            edition = Edition(key=slot.key, frequency=slot.frequency,
                              to_position=outbox.last_position(session))  # fmt: skip
            plan = editions.plan(session, edition, max_articles=MAX_ARTICLES)
            seconds = time.perf_counter() - started
        finally:
            # Nothing planned stays, so the next row sees the same database; and the
            # writes thread gets the lock before it is told to stop.
            session.rollback()
            session.close()
    assert plan is not None
    note = (
        f"({args.subscribers:,} subscribers in {groups:,} groups; {len(plan.segments):,} segments)"
    )
    yield Result("digest planning (editions.plan)", seconds, "s", note)
    note = f"(writes tried: {len(writes.waits)}, one every 50 ms"
    note += f"; {writes.failed} gave up: database is locked)" if writes.failed else ")"
    longest = max(writes.waits, default=0.0) * 1000
    yield Result("longest write commit during planning", longest, "ms", note)


class Writes:
    """A small write transaction every 50 ms in a thread, while the block runs: how long a
    publish would wait to commit (on SQLite, for the one write lock)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.waits: list[float] = []
        self.failed = 0  # gave up: SQLite's busy timeout (30 s) ran out, "database is locked"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("UPDATE tags SET label = label WHERE id = 1"))
            except OperationalError:
                self.failed += 1
            self.waits.append(time.perf_counter() - started)
            self._stop.wait(0.05)


def add_subscribers(session: Session, count: int, groups: int) -> int:
    """``count`` active immediate subscribers in ``groups`` distinct (language, tags, since)
    groups: tag choices from none to a few rare ones, joined at different times."""
    rng = random.Random(fill.SEED)
    last = outbox.last_position(session)
    slugs = list(session.scalars(select(Tag.slug).order_by(Tag.id)))
    head = [make_slug(label, max_length=80) for label in fill.TOPICS + fill.PLACES[:20]]
    head = [slug for slug in head if slug in set(slugs)] or slugs[:10]
    keys: set[tuple[str, tuple[str, ...], int]] = set()
    attempts = 0
    while len(keys) < groups and attempts < groups * 100:
        attempts += 1
        shape = rng.random()
        if shape < 0.3:
            tags: tuple[str, ...] = ()
        elif shape < 0.7:
            tags = (rng.choice(head),)
        elif shape < 0.9:
            tags = tuple(sorted(set(rng.sample(head, 2))))
        else:
            tags = tuple(sorted(set(rng.sample(slugs, rng.randint(1, 3)))))
        # Most got the last edition; newcomers and the lapsed are behind by up to 2,000.
        since = last if rng.random() < 0.2 else max(last - int(rng.expovariate(1 / 300)), 0)
        keys.add((rng.choice(fill.LANGUAGE_MIX), tags, min(since, last - 1)))
    ordered = sorted(keys)
    now = datetime.now(UTC)
    session.execute(delete(Subscriber))
    rows = []
    for n in range(count):
        language, tags, since = ordered[n % len(ordered)]
        rows.append(
            {
                "email": f"lasare{n}@example.se", "status": SubscriberStatus.ACTIVE,
                "language": language, "frequency": Frequency.IMMEDIATE, "tags": list(tags),
                "time_zone": "Europe/Stockholm", "consent_at": now, "consent_form": "growth",
                "confirmed_at": now, "digest_position": since, "failures": 0,
                "created_at": now, "updated_at": now,
            }
        )  # fmt: skip
        if len(rows) == 2000:
            session.execute(insert(Subscriber), rows)
            rows = []
    if rows:
        session.execute(insert(Subscriber), rows)
    return len(ordered)


def row_cloud(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    with session_scope(reader) as session:
        newest = fill.newest_published(session)
        since = newest - timedelta(days=90)
        seconds = _median_time(lambda: tagcloud.tag_cloud(session, since=since))
        # The first cloud after a past day's counts changed sums the settled days again.
        cold = _median_time(lambda: (daysums.forget(), tagcloud.tag_cloud(session, since=since)))
        from newsroom.models import Article

        held = session.scalar(select(func.count()).where(Article.published_at >= since))
    yield Result("tag cloud, 90-day window", seconds * 1000, "ms", f"({held:,} articles in it)")
    yield Result("tag cloud, first after a past day changed", cold * 1000, "ms")


def row_slug(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    base = make_slug("Åre inför nattbussar till fjällen i vinter")
    session = Session(engine)
    try:
        seconds = _median_time(lambda: articles._free_slug(session, base))
    finally:
        session.rollback()
        session.close()
    yield Result("slug allocation (_free_slug), POST without slug", seconds * 1000, "ms")


def row_size(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            outbox_bytes = conn.scalar(
                text("SELECT sum(pgsize) FROM dbstat WHERE name = 'outbox_events'")
            )
            total = conn.scalar(text("PRAGMA page_count")) * conn.scalar(text("PRAGMA page_size"))
        else:
            outbox_bytes = conn.scalar(text("SELECT pg_total_relation_size('outbox_events')"))
            total = conn.scalar(text("SELECT pg_database_size(current_database())"))
    yield Result("outbox_events size", outbox_bytes / 1e6, "MB")
    yield Result("database size", total / 1e6, "MB")


def row_rebuild(
    url: str, engine: Engine, reader: Engine, work: Path, args: argparse.Namespace
) -> Iterator[Result]:
    with session_scope(reader) as session:
        tags = session.scalar(select(func.count()).select_from(Tag))
    env = service.environment(url, work, service.free_port())
    started = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-m", "budkavle", "feeds", "rebuild"], env=env, cwd=service.ROOT,
            check=True, timeout=args.rebuild_timeout, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        yield Result(
            "budkavle feeds rebuild", args.rebuild_timeout, "s", f"({tags:,} tags) STOPPED"
        )
        return
    seconds = time.perf_counter() - started
    yield Result("budkavle feeds rebuild", seconds, "s", f"({tags:,} tags)")


ROW_FUNCTIONS: dict[str, Callable[..., Iterator[Result]]] = {
    "publish": row_service,
    "post": row_service,  # measured with the publishes, in the same run
    "partners": row_partners,
    "new": row_new,
    "plan": row_plan,
    "cloud": row_cloud,
    "slug": row_slug,
    "size": row_size,
    "rebuild": row_rebuild,
}


def _median_time(work: Callable[[], object], repeat: int = 11) -> float:
    work()  # warm the database's cache and SQLAlchemy's statement cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- the report ------------------------------------------------------------------------


def _fmt(result: Result) -> str:
    if result.unit == "s":
        return f"{result.value:,.2f} s"
    if result.unit == "MB":
        return f"{result.value:,.0f} MB"
    if result.unit == "×":
        return f"{result.value:.2f}×"
    return f"{result.value:,.1f} ms"


def _table(runs: list[SizeRun]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Per database: (row name, [cell per size]) with ratios to the first size."""
    tables = []
    for db in dict.fromkeys(run.db for run in runs):
        mine = [run for run in runs if run.db == db]
        names = list(dict.fromkeys(r.name for run in mine for r in run.results))
        lines = []
        for name in names:
            cells, first = [], None
            for run in mine:
                found = [r for r in run.results if r.name == name]
                if not found:
                    cells.append("")
                    continue
                result = found[0]
                first = first if first is not None else result.value
                ratio = f" ({result.value / first:.1f}×)" if first and run is not mine[0] else ""
                cells.append(f"{_fmt(result)}{ratio} {result.note}".strip())
            lines.append((name, cells))
        lines.append(("load average (1, 5, 15 min) after", [
            " / ".join(f"{v:.1f}" for v in run.load) for run in mine
        ]))  # fmt: skip
        tables.append((db, lines))
    return tables


def report(runs: list[SizeRun], args: argparse.Namespace) -> None:
    for db, lines in _table(runs):
        mine = [run for run in runs if run.db == db]
        print(f"\ngrowth, {db}: " + ", ".join(f"{run.size:,} ({run.filled})" for run in mine))
        for name, cells in lines:
            print(f"  {name}")
            for run, cell in zip(mine, cells, strict=True):
                print(f"    {run.size:>9,}  {cell}")


def markdown(runs: list[SizeRun], args: argparse.Namespace) -> str:
    out = []
    for db, lines in _table(runs):
        mine = [run for run in runs if run.db == db]
        out.append(f"\n**{db}**\n")
        out.append("| what | " + " | ".join(f"{run.size:,} articles" for run in mine) + " |")
        out.append("|---|" + "---|" * len(mine))
        for name, cells in lines:
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
