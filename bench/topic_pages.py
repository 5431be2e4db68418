"""What a topic page costs when the topic has 10,000 articles in its history.

Fills a fresh SQLite database (or PostgreSQL's bench database) with ``--articles``
published articles by the bulk loader (bench/bulkload.py: the rows articles.create and
the worker make), every other one tagged "klimat", stores that tag's feeds as the worker
would, starts uvicorn as production runs it, and times one keep-alive client's GETs:

- the baseline of the same run: the tag's Atom feed (a cache hit, answered in front of
  FastAPI) and the site's stylesheet (a FastAPI route that reads nothing);
- the topic page: its first page, a middle page and its last page (each read from the
  tag index by position), and a repeat of the first page with If-None-Match (304);
- the language page's first page, and the home page.

Prints p50 and p99 in ms, each page's p50 as a multiple of the stylesheet's, and the
machine's load. The goal: a topic page in at most 20 ms p50 on SQLite.

    .venv/bin/python bench/topic_pages.py --db sqlite --articles 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import service

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
SPACING = timedelta(minutes=20)
TOPIC = "klimat"
GOAL_MS = 20.0
SV = {"accept-language": "sv-SE,sv;q=0.9"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--articles", type=int, default=20_000, help="every other one tagged")
    parser.add_argument("--requests", type=int, default=400, help="per case")
    args = parser.parse_args()
    service.stop_on_sigterm()
    with service.cpu_report(), tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
        port = service.free_port()
        env = service.prepare(args.db, Path(tmp), port)
        started = time.perf_counter()
        tagged = fill(env, args.articles)
        print(f"{args.db}: {args.articles:,} articles, {tagged:,} of them tagged {TOPIC!r} "
              f"(filled in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        with service.running(env, port, worker=False) as svc:
            measure(svc.url, tagged, args.requests)


def fill(env: dict[str, str], size: int) -> int:
    """``size`` published articles, 20 minutes apart, in six languages, three tags each;
    every other one "klimat". The tag's feeds stored as the worker stores them."""
    import os

    os.environ.update(env)
    from config import get_settings

    get_settings.cache_clear()
    from bulkload import Loader

    from feeds.keys import FeedKey
    from feeds.refresh import refresh
    from newsroom.db import session_scope
    from newsroom.schemas import ArticleIn

    languages = ["sv", "fi", "nb", "da", "en", "is"]
    with session_scope() as session:
        loader = Loader(session)
    for start in range(0, size, 1000):
        batch = []
        for n in range(start, min(size, start + 1000)):
            tags = [f"ort-{n % 97}", f"amne-{n % 13}"] + ([TOPIC] if n % 2 == 0 else [])
            batch.append(
                ArticleIn.model_validate(
                    {
                        "title": f"Nyhet nummer {n} om läget i Norden",
                        "slug": f"nyhet-{n}", "language": languages[n % 6],
                        "summary": "Kommunerna i Norden delar erfarenheter av klimatarbetet.",
                        "body_html": f"<p>Kommunen har under hösten testat nummer {n}.</p>",
                        "tags": tags, "authors": ["Åsa Lindqvist"],
                        "image": {"url": f"https://bilder.nyheter.example/{n}.jpg",
                                  "alt": "Stadshuset i Borlänge en vintermorgon"},
                        "published_at": (NOW - SPACING * (size - n)).isoformat(),
                    }
                )
            )  # fmt: skip
        with session_scope() as session:
            loader.load(session, batch, timedelta(seconds=10))
    with session_scope() as session:
        refresh(session, FeedKey("tags", TOPIC), get_settings())
    from newsroom.db import get_engine

    get_engine().dispose()
    return (size + 1) // 2


def measure(url: str, tagged: int, requests: int) -> None:
    last = -(-tagged // 20)
    with httpx.Client(base_url=url, timeout=10, headers=SV) as client:
        stylesheet = _stylesheet(client)
        first = client.get(f"/tags/{TOPIC}")
        first.raise_for_status()
        cases = [
            ("baseline: tag feed (cache hit)", f"/feeds/tags/{TOPIC}.atom", {}),
            ("baseline: stylesheet", stylesheet, {}),
            ("topic, page 1", f"/tags/{TOPIC}", {}),
            (f"topic, page {last // 2}", f"/tags/{TOPIC}?page={last // 2}", {}),
            (f"topic, page {last} (last)", f"/tags/{TOPIC}?page={last}", {}),
            ("topic, page 1, 304", f"/tags/{TOPIC}", {"if-none-match": first.headers["etag"]}),
            ("language sv, page 1", "/lang/sv", {}),
            ("home", "/", {}),
        ]
        print(f"\n{'GET, ms':34}{'p50':>8}{'p99':>8}{'x stylesheet':>14}")
        base = 0.0
        for name, path, headers in cases:
            p50, p99 = timed(client, path, headers, requests)
            base = p50 if name == "baseline: stylesheet" else base
            ratio = f"{p50 / base:.1f}" if base else ""
            print(f"{name:34}{p50:8.2f}{p99:8.2f}{ratio:>14}")
            if name.startswith("topic") and p50 > GOAL_MS:
                print(f"    over the goal of {GOAL_MS:.0f} ms p50", file=sys.stderr)


def _stylesheet(client: httpx.Client) -> str:
    page = client.get("/").text
    start = page.index('rel="stylesheet" href="') + len('rel="stylesheet" href="')
    return "/" + page[start : page.index('"', start)].split("/", 3)[3]


def timed(
    client: httpx.Client, path: str, headers: dict[str, str], requests: int
) -> tuple[float, float]:
    for _ in range(20):  # warm: connections, caches, the first render of each template
        client.get(path, headers=headers)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 304), (path, response.status_code)
    cuts = statistics.quantiles(timings, n=100)
    return statistics.median(timings), cuts[98]


if __name__ == "__main__":
    main()
