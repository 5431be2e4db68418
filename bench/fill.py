"""A newsroom with history, made the honest way: every article through `articles.create`.

Articles are Nordic (bench/nordic.py's bodies and titles, six languages), published one
after the other over two years, with tags as a newsroom uses them: one of a head of
common topics, one place name (å ä ö), and a few from a long Zipf tail of rare tags.

Each batch of articles is created in one transaction by `newsroom.articles.create`, and
then, in the same transaction, what the worker does with each event that is not about
rendering feeds (worker/events.py): `outbox.assign_position` and
`partners.plan_deliveries` (_notify_partners), the event marked started and handled,
and the archive slots of every feed the batch touched given by `feeds.archive.place`.
Feed documents are not rendered here (a publish re-renders whole feeds, and `budkavle
feeds rebuild` renders them all): the feed_documents table stays empty.
`growth.py --check` proves this equal, table by table, to POST + the real worker.

Filled databases are kept (SQLite: a file; PostgreSQL: a database used as a TEMPLATE),
keyed by size, tag count, and a hash of the code that decides what a fill holds, so a
second run at 500k does not fill again and a change to that code does.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import bulkload
import nordic
import psycopg
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from feeds import archive
from feeds.keys import FeedKey, touched_by
from newsroom import articles, outbox, partners
from newsroom.db import make_engine, migrate, session_scope
from newsroom.models import Article, OutboxEvent
from newsroom.sanitize import markdown_to_html
from newsroom.schemas import ArticleIn
from newsroom.text import make_slug

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parent.parent)
BATCH = 500
SPAN = timedelta(days=730)  # two years of publishing
SEED = 11
GRACE = timedelta(seconds=30)
# The code whose change changes what a fill holds: a cache made before it is stale.
FILL_CODE = [
    "bench/fill.py", "bench/bulkload.py", "bench/nordic.py", "newsroom/articles.py",
    "newsroom/outbox.py", "newsroom/partners.py", "newsroom/models.py", "newsroom/text.py",
    "newsroom/schemas.py",
    "feeds/archive.py", "feeds/keys.py", "feeds/query.py",
]  # fmt: skip

# The head: what every article is about, in the newsroom's six languages.
TOPICS = [
    "Nordiskt samarbete", "Klimat", "Kollektivtrafik", "Kultur", "Ungdom", "Trygghet",
    "Skola", "Vård och omsorg", "Bostäder", "Energi", "Idrott", "Näringsliv",
    "Ilmasto", "Joukkoliikenne", "Kulttuuri", "Nuoret", "Koulutus", "Asuminen",
    "Klima", "Kollektivtransport", "Helse", "Boliger", "Miljø", "Sundhed", "Grøn omstilling",
    "Climate", "Public transport", "Housing", "Loftslagsmál", "Menning",
]  # fmt: skip
PLACES = [
    "Borlänge", "Tammerfors", "Umeå", "Tromsø", "Aarhus", "Reykjavík", "Helsingfors",
    "Göteborg", "Malmö", "Västerås", "Örebro", "Jönköping", "Linköping", "Norrköping",
    "Gävle", "Sundsvall", "Östersund", "Luleå", "Skellefteå", "Kiruna", "Växjö", "Härnösand",
    "Åre", "Ängelholm", "Älmhult", "Söderhamn", "Mariehamn", "Jyväskylä", "Hämeenlinna",
    "Seinäjoki", "Kemiönsaari", "Mäntsälä", "Jämsä", "Pärnu", "Bodø", "Ålesund", "Førde",
    "Lærdal", "Sørfold", "Hønefoss", "Kristiansand", "Tønsberg", "Næstved", "Køge",
    "Holstebro", "Rønne", "Tórshavn", "Nuuk", "Akureyri", "Ísafjörður", "Selfoss",
    "Egilsstaðir", "Höfn", "Blönduós", "Lappeenranta", "Vörå", "Närpes", "Jakobstad",
    "Öckerö", "Härjedalen",
]  # fmt: skip
# The tail: place and subject, the tags of one story or a few ("Kiruna stadsflytt").
SUBJECTS = [
    "stadsflytt", "gruvan", "vindkraft", "skolskjuts", "badhuset", "fjärrvärme", "hamnen",
    "cykelbanor", "biblioteket", "vårdcentralen", "nattbussar", "snöröjning", "älven",
    "tågstationen", "bostadskön", "äldreboendet", "fritidsgården", "torget", "kyrkan",
    "flygplatsen", "festivalen", "simhallen", "ishallen", "kommunvalet", "budgeten",
    "översvämning", "skogsbrand", "vattenverket", "reningsverket", "färjan", "bron",
    "tunneln", "lasarettet", "gymnasiet", "universitetet", "museet", "teatern", "konserthuset",
    "fotbollslaget", "handbollslaget", "bandylaget", "skidbacken", "fjällstugan", "älgjakten",
    "fisket", "laxen", "renskötseln", "samebyn", "sametinget", "kärnkraften", "batterifabriken",
    "vätgasen", "stålverket", "pappersbruket", "sågverket", "datacentret", "bredbandet",
    "mobiltäckningen", "postkontoret", "apoteket", "tandvården", "förlossningen", "ambulansen",
    "polisstationen", "brandstationen", "räddningstjänsten", "vägbygget", "rondellen",
    "parkeringen", "elsparkcyklarna", "laddstolparna", "solcellerna", "värmeböljan",
    "torkan", "stormen", "strömavbrottet", "vattenläckan", "ovädret", "isläget",
    "kulturhuset", "stadsfesten", "julmarknaden", "midsommar", "valborg", "nationaldagen",
    "hemlösheten", "integrationen", "språkcaféet", "sfi", "arbetslösheten", "nyföretagandet",
    "turismen", "kryssningarna", "hotellet", "campingen", "stugbyn", "skärgården", "ön",
    "fyren", "slottet",
]  # fmt: skip
LANGUAGE_MIX = ["sv", "sv", "fi", "nb", "da", "en", "is"]


def vocabulary(tags: int) -> list[str]:
    """``tags`` labels: the head, the places, then place + subject as the tail."""
    head = TOPICS + PLACES
    tail = (f"{place} {subject}" for subject in SUBJECTS for place in PLACES)
    numbered = (f"{place} {subject} {n}" for n in itertools.count(2)
                for subject in SUBJECTS for place in PLACES)  # fmt: skip
    wanted = max(tags - len(head), 0)
    return (head + list(itertools.islice(itertools.chain(tail, numbered), wanted)))[:tags]


class TagDraw:
    """Draws an article's tags: one topic, one place, 0-3 from the tail (Zipf, s = 1)."""

    def __init__(self, tags: int) -> None:
        self.labels = vocabulary(tags)
        self.tail = self.labels[len(TOPICS) + len(PLACES) :]
        self._topic = _zipf_cumulative(len(TOPICS))
        self._place = _zipf_cumulative(len(PLACES))
        self._tail = _zipf_cumulative(len(self.tail))

    def draw(self, rng: random.Random) -> list[str]:
        chosen = [TOPICS[_pick(rng, self._topic)], PLACES[_pick(rng, self._place)]]
        if self.tail:
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
                chosen.append(self.tail[_pick(rng, self._tail)])
        return list(dict.fromkeys(chosen))


def _zipf_cumulative(n: int) -> list[float]:
    return list(itertools.accumulate(1 / rank for rank in range(1, n + 1)))


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_left(cumulative, rng.random() * cumulative[-1])


BODIES = 997  # distinct bodies; each rendered from Markdown once per process


def article_in(n: int, draw: TagDraw, rng: random.Random, published_at: datetime) -> ArticleIn:
    """Article ``n`` of a fill: nordic.py's article ``n % 997`` numbered ``n``, with the
    fill's tags and time.

    As a CMS posts it, by webhook: with its slug and its body in HTML. Every 997th article
    shares a body (making and rendering one cost more than creating the article).
    """
    m = n % BODIES
    data = dict(_template(m))
    data["title"] = data["title"].replace(f"(nr {m}, arkiv)", f"(nr {n}, arkiv)")
    data["canonical_url"] = data["canonical_url"].removesuffix(f"-{m}-arkiv") + f"-{n}-arkiv"
    data["slug"] = make_slug(data["title"])
    data["tags"] = draw.draw(rng)
    data["published_at"] = published_at
    return ArticleIn(**data)


@cache
def _template(m: int) -> dict[str, Any]:
    data = nordic.article(m, "arkiv")
    data["body_html"] = markdown_to_html(data.pop("body_markdown"))
    return data


@dataclass(frozen=True)
class Fill:
    size: int
    tags: int
    end: datetime  # the newest article's publication time

    def times(self) -> Iterator[datetime]:
        """Publication times, strictly increasing, over SPAN up to ``end``."""
        step = SPAN / self.size
        start = self.end - SPAN
        return (start + step * (n + 1) for n in range(self.size))


def fill(engine: Engine, spec: Fill, *, mode: str = "bulk", progress: bool = True) -> float:
    """Add ``spec.size`` articles in batches, by ``mode`` "create" (publish_batch) or
    "bulk" (bench/bulkload.py); returns articles per second."""
    draw, rng = TagDraw(spec.tags), random.Random(SEED)
    times = spec.times()
    with session_scope(engine) as session:
        loader = bulkload.Loader(session)
    started = time.perf_counter()
    done = 0
    while done < spec.size:
        count = min(BATCH, spec.size - done)
        with session_scope(engine) as session:
            batch = [article_in(done + i, draw, rng, next(times)) for i in range(count)]
            if mode == "create":
                publish_batch(session, batch)
            else:
                loader.load(session, batch, GRACE)
        done += count
        if progress and (done % (BATCH * 20) == 0 or done == spec.size):
            rate = done / (time.perf_counter() - started)
            print(f"  filled {done:,} of {spec.size:,} ({rate:.0f} articles/s)", flush=True)
    return spec.size / (time.perf_counter() - started)


def publish_batch(session: Session, batch: list[ArticleIn]) -> None:
    """Create each article as POST does, then do what the worker does for its event apart
    from rendering feeds (worker/events.py), in this one transaction."""
    events = []
    for data in batch:
        assert data.published_at is not None
        now = data.published_at  # written when it was published, as an editor would
        article, event = articles.create(session, data, now, GRACE)
        assert event is not None, f"article {article.slug} made no event"
        events.append((article.id, event, now))
    # Archive slots first, as the worker refreshes feeds before placing the event for
    # partners. The batch's articles are the newest of every feed they are in (times only
    # grow), so one place() per feed gives each of them its slot, oldest first.
    touched: dict[FeedKey, tuple[int, int]] = {}
    for article_id, event, _ in events:
        for key in touched_by(event.payload):
            _, count = touched.get(key, (0, 0))
            touched[key] = (article_id, count + 1)
    for key, (article_id, count) in touched.items():
        archive.place(session, key, article_id=article_id, newest=max(count, 50))
    # The worker's sessions hold one event each: so does this one, or every UPDATE below
    # would be checked against all the batch's objects (synchronize_session).
    session.flush()
    ids = [(event.id, now) for _, event, now in events]
    session.expunge_all()
    for event_id, now in ids:
        handled = now + timedelta(seconds=1)
        outbox.mark_started(session, event_id, handled)
        outbox.assign_position(session, event_id)
        event = session.get(OutboxEvent, event_id)
        assert event is not None
        partners.plan_deliveries(session, event, handled)
        outbox.mark_handled(session, event_id, handled)
        session.flush()
        session.expunge_all()


def newest_published(session: Session) -> datetime:
    value = session.scalar(select(func.max(Article.published_at)))
    assert value is not None, "an empty database"
    return value


# --- the cache -------------------------------------------------------------------------


def code_hash() -> str:
    digest = hashlib.sha256()
    for name in FILL_CODE:
        digest.update((ROOT / name).read_bytes())
    for version in sorted((ROOT / "newsroom/migrations/versions").glob("*.py")):
        digest.update(version.read_bytes())
    return digest.hexdigest()[:10]


@dataclass(frozen=True)
class Cache:
    """Filled databases on disk, and fresh copies of them to run rows on."""

    folder: Path
    postgres_url: str  # the working database's URL; caches are databases beside it

    def cache_name(self, spec: Fill) -> str:
        return f"growth_{spec.size}_t{spec.tags}_{code_hash()}"  # the mode is proven equal

    def working_copy(
        self, db: str, spec: Fill, work: Path, mode: str = "bulk"
    ) -> tuple[str, float | None]:
        """A database filled to ``spec``, for this run only; and the fill rate, when this
        call had to fill it (None: copied from the cache)."""
        rate = None
        stale = f"growth_{spec.size}_t{spec.tags}_"  # made by other code: never used again
        if db == "sqlite":
            cached = self.folder / f"{self.cache_name(spec)}.db"
            if not cached.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                for old in self.folder.glob(f"{stale}*"):
                    old.unlink()
                partial = cached.with_suffix(".partial")
                rate = _fill_new(f"sqlite:///{partial}", spec, mode)
                conn = sqlite3.connect(partial)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the WAL into the file
                conn.close()
                for suffix in ("-wal", "-shm"):
                    Path(f"{partial}{suffix}").unlink(missing_ok=True)
                partial.rename(cached)
            target = work / "growth.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(cached, target)
            return f"sqlite:///{target}", rate
        url = make_url(self.postgres_url)
        cached_name = f"{url.database}_{self.cache_name(spec)}"
        with _admin(self.postgres_url) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (cached_name,)
            ).fetchone()
        if not exists:
            with _admin(self.postgres_url) as conn:
                olds = conn.execute(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                    (f"{url.database}_{stale}",),
                ).fetchall()
                for (old,) in olds:
                    conn.execute(f'DROP DATABASE "{old}" WITH (FORCE)')
            partial = f"{cached_name}_partial"
            _recreate(self.postgres_url, partial)
            filled = url.set(database=partial).render_as_string(False)
            rate = _fill_new(filled, spec, mode)
            # The planner's statistics, as autovacuum would have made them by now on a
            # newsroom that grew over years: without them PostgreSQL guessed 125 published
            # articles of 50,000 and read all of them for the "all" feed (77 ms a publish).
            # A copy made from the cache takes them along.
            with psycopg.connect(
                make_url(filled).set(drivername="postgresql").render_as_string(hide_password=False),
                autocommit=True,
            ) as conn:
                conn.execute("ANALYZE")
            with _admin(self.postgres_url) as conn:
                conn.execute(f'ALTER DATABASE "{partial}" RENAME TO "{cached_name}"')
        _recreate(self.postgres_url, str(url.database), template=cached_name)
        return self.postgres_url, rate


def _fill_new(url: str, spec: Fill, mode: str) -> float:
    engine = make_engine(url)
    try:
        migrate(engine)
        print(f"filling {make_url(url).get_backend_name()} to {spec.size:,} articles", flush=True)
        return fill(engine, spec, mode=mode)
    finally:
        engine.dispose()


def _admin(url: str) -> psycopg.Connection[Any]:
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    return psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True)


def _recreate(url: str, name: str, template: str | None = None) -> None:
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')


def fill_end() -> datetime:
    """The newest article's time: the last 06:00 UTC, so that a fill made today is the same
    all day and older than every publish a benchmark makes."""
    now = datetime.now(UTC)
    end = now.replace(hour=6, minute=0, second=0, microsecond=0)
    return end if end <= now else end - timedelta(days=1)
