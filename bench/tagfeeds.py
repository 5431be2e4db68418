"""What a tag feed costs as the archive grows: the tag index against walking the articles.

Fills a fresh database (SQLite, or PostgreSQL's bench database) to each size with a
bulk fill (rows as newsroom.articles.create makes them: articles, tags, article_tags,
and the tag index filled by migration 0010_tag_index's own statements), then times,
for a common tag (every fifth article) and a rare one (three old articles):

- *walk*: the statements tag feeds used before the index (newest entries and the
  tombstones, found through a correlated ``tags.any()``), the baseline of the same run;
- *index*: the statements they use now (feeds.query.selection for "tags");
- *current()*: the whole current document as the worker reads it (entries, tombstones,
  slots, tags of each entry), without rendering.

and the tag cloud of the last 30 days and of a window holding every article, counted
from the articles (before) and summed from the day counts (now).

and prints the query plans of both statements for the rare tag.

    .venv/bin/python bench/tagfeeds.py --db postgresql --sizes 1000,50000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import service

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
SPACING = timedelta(minutes=10)  # 50,000 articles: a little less than a year
TAIL = 5000  # tags in the long tail: a newsroom's places, people and topics
COMMON, RARE = "klimat", "sallsynt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="1000,50000")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with service.cpu_report():
        for size in [int(s) for s in args.sizes.split(",")]:
            with tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
                env = service.prepare(args.db, Path(tmp), service.free_port())
                os.environ.update(env)
                from config import get_settings

                get_settings.cache_clear()
                from newsroom.db import get_engine

                measure(args.db, size, args.rounds)
                get_engine().dispose()


def measure(db: str, size: int, rounds: int) -> None:
    from config import get_settings
    from feeds import query
    from feeds.keys import FeedKey
    from newsroom.db import get_engine, session_scope
    from newsroom.models import ArticleStatus

    started = time.perf_counter()
    fill(size)
    print(f"\n{db}, {size:,} articles (filled in {time.perf_counter() - started:.0f} s)")
    settings = get_settings()
    params = {"size": settings.feed_size, "retracted": max(settings.feed_tombstones, 1)}
    walk = _walk_statements()
    index = (
        query.selection("tags", ArticleStatus.PUBLISHED)
        .order_by(*query.newest_first("tags", ArticleStatus.PUBLISHED))
        .limit(query.bindparam("size")),
        query.selection("tags", ArticleStatus.RETRACTED, *query._TOMBSTONE_COLUMNS)
        .order_by(*query.newest_first("tags", ArticleStatus.RETRACTED))
        .limit(query.bindparam("retracted")),
    )
    rare: dict[str, Any] = {}
    print(f"{'ms, median of ' + str(rounds):24}{'walk':>10}{'index':>10}{'current()':>12}")
    with session_scope() as session:
        for tag in (COMMON, RARE):
            values = {**params, **query.feed_params(session, FeedKey("tags", tag))}
            rare = values if tag == RARE else rare
            # The same rows either way, or the comparison means nothing.
            for old, new in zip(walk, index, strict=True):
                assert session.execute(old, values).all() == session.execute(new, values).all()

            def run(statements: tuple[Any, ...], values: dict[str, Any] = values) -> None:
                for statement in statements:
                    session.execute(statement, values).all()

            def current(tag: str = tag) -> None:
                query.current(session, FeedKey("tags", tag), settings)

            timings = [timed(lambda: run(walk), rounds), timed(lambda: run(index), rounds)]
            label = f"tags/{tag} ({count_of(session, tag):,})"
            print(f"{label:24}{timings[0]:10.2f}{timings[1]:10.2f}{timed(current, rounds):12.2f}")
    cloud(size, rounds)
    for name, statement in (("walk", walk[0]), ("index", index[0])):
        print(f"plan, {name}, tags/{RARE}:")
        for line in explain(get_engine(), statement, rare):
            print(f"    {line}")


def cloud(size: int, rounds: int) -> None:
    """The tag cloud: counting every article of the window (before) and summing the
    window's day counts (now), the same cloud either way."""
    from newsroom import tagcloud
    from newsroom.db import session_scope

    windows = {"30 days": NOW - timedelta(days=30), "every article": NOW - SPACING * (size + 1)}
    print(f"{'tag cloud, ms':24}{'count':>10}{'days':>10}")
    with session_scope() as session:
        for name, since in windows.items():
            for language in (None, "sv"):
                arguments = {"since": since, "until": NOW, "language": language}
                old = _counted_cloud(session, **arguments)
                assert tagcloud.tag_cloud(session, **arguments) == old, name

                def new(arguments: dict[str, Any] = arguments) -> None:
                    tagcloud.tag_cloud(session, **arguments)

                def count(arguments: dict[str, Any] = arguments) -> None:
                    _counted_cloud(session, **arguments)

                label = f"{name}, {language or 'all'}"
                print(f"{label:24}{timed(count, rounds):10.2f}{timed(new, rounds):10.2f}")


def _counted_cloud(
    session: Any, since: datetime, until: datetime, language: str | None
) -> list[Any]:
    """newsroom.tagcloud.tag_cloud at main (d4409e0): every article of the window."""
    from sqlalchemy import func, select

    from newsroom import tagcloud
    from newsroom.models import Article, ArticleStatus, Tag, article_tags

    count = func.count(Article.id)
    query = (
        select(Tag.slug, Tag.label, count)
        .join(article_tags, article_tags.c.tag_id == Tag.id)
        .join(Article, Article.id == article_tags.c.article_id)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.published_at >= since)
        .where(Article.published_at < until)
        .group_by(Tag.id, Tag.slug, Tag.label)
        .order_by(count.desc(), Tag.slug)
        .limit(30)
    )
    if language is not None:
        query = query.where(Article.language == language)
    counts = {(slug, label): number for slug, label, number in session.execute(query)}
    return tagcloud.weigh(counts, 30)


def _walk_statements() -> tuple[Any, ...]:
    """Tag feeds' statements before the index (feeds/query.py at main, d4409e0)."""
    from sqlalchemy import bindparam, select

    from feeds import query
    from newsroom.models import Article, ArticleStatus, Tag

    def walking(status: ArticleStatus, *columns: Any) -> Any:
        return select(*(columns or query._ENTRY_COLUMNS)).where(
            Article.status == status, Article.tags.any(Tag.slug == bindparam("value"))
        )

    return (
        walking(ArticleStatus.PUBLISHED)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(bindparam("size")),
        walking(ArticleStatus.RETRACTED, *query._TOMBSTONE_COLUMNS)
        .order_by(Article.retracted_at.desc().nulls_last(), Article.id.desc())
        .limit(bindparam("retracted")),
    )


def timed(work: Callable[[], None], rounds: int) -> float:
    work()  # warm: statement caches, the database's pages
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def count_of(session: Any, slug: str) -> int:
    from sqlalchemy import func, select

    from newsroom.models import Tag, article_tags

    return session.scalar(
        select(func.count())
        .select_from(article_tags)
        .join(Tag, Tag.id == article_tags.c.tag_id)
        .where(Tag.slug == slug)
    )


def explain(engine: Any, statement: Any, params: dict[str, Any]) -> list[str]:
    statement = statement.params(value=params["value"], tag=params["tag"])
    statement = statement.limit(params["size"])
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            return [row[-1] for row in rows]
        rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}")
        return [row[0] for row in rows]


def fill(size: int) -> None:
    """``size`` published articles, one in a hundred retracted, three tags each: one of
    six topics ("klimat" on every fifth), two from a long tail where few tags are used
    often and most rarely; "sallsynt" on three of the oldest."""
    from sqlalchemy import insert, inspect, text

    from newsroom.db import get_engine
    from newsroom.models import Article, Tag, article_tags

    rng = random.Random(size)
    topics = [COMMON, "kultur", "ungdom", "trygghet", "kollektivtrafik"]
    slugs = [*topics, RARE, *(f"ort-{n:04}" for n in range(TAIL))]
    tags = [{"id": n + 1, "slug": slug, "label": slug.capitalize()} for n, slug in enumerate(slugs)]
    rows, links = [], []
    for n in range(size):
        published = NOW - SPACING * (size - n)
        retracted = n % 100 == 37
        rows.append(
            {
                "id": n + 1, "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "slug": f"artikel-{n + 1}", "version": 2 if retracted else 1,
                "status": "retracted" if retracted else "published",
                "language": ["sv", "fi", "nb", "da", "en", "is"][n % 6],
                "title": f"Nyhet nummer {n + 1} från Norden", "summary": "Kort om läget.",
                "body_html": f"<p>Kommunen har under hösten testat nummer {n + 1}.</p>",
                "body_markdown": None, "authors": ["Åsa Lindqvist"], "image_url": None,
                "image_alt": "", "image_caption": "", "canonical_url": None,
                "published_at": published, "created_at": published,
                "updated_at": published + SPACING if retracted else published,
                "retracted_at": published + SPACING if retracted else None,
            }
        )  # fmt: skip
        mine = {1 if n % 5 == 0 else 2 + n % 4}  # klimat, or another topic
        if n in (3, 11, 29):
            mine.add(len(topics) + 1)  # sallsynt
        while len(mine) < 3:
            mine.add(len(topics) + 2 + int(TAIL ** rng.random()) - 1)
        links += [{"article_id": n + 1, "tag_id": tag_id} for tag_id in sorted(mine)]
    engine = get_engine()
    with engine.begin() as connection:
        connection.execute(insert(Tag.__table__), tags)
        for start in range(0, size, 5000):
            connection.execute(insert(Article.__table__), rows[start : start + 5000])
        for start in range(0, len(links), 20000):
            connection.execute(insert(article_tags), links[start : start + 20000])
        # A schema before migration 0010_tag_index (bench/rebuild.py's base) lacks them.
        if inspect(connection).has_table("tag_entries"):
            for statement in _migration_fill(engine.dialect.name):
                connection.execute(text(statement))
        # The planner's statistics, as in production; no VACUUM: the visibility map of
        # freshly written tables is empty, the worst case for index-only scans.
        connection.execute(text("ANALYZE"))


def _migration_fill(dialect: str) -> list[str]:
    """The statements migration 0010_tag_index fills the derived tables with."""
    path = Path(__file__).parent.parent / "newsroom/migrations/versions/0010_tag_index.py"
    spec = importlib.util.spec_from_file_location("tag_index_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.fills(dialect))


if __name__ == "__main__":
    main()
