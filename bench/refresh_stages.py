"""Where a feed refresh spends its time: query, render per format, store and commit.

A diagnostic for publish_latency.py, in one process and without a worker: each round
publishes one article (as the API does) and then times the stages of refreshing its
feeds, the way worker/events.py does it ("all" first, one transaction per feed).

    .venv/bin/python bench/refresh_stages.py --db sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import nordic
import service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--fill", type=int, default=60, help="articles before measuring")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
        env = service.prepare(args.db, Path(tmp), service.free_port())
        os.environ.update(env)  # before the first import of config: it reads them once
        wall, cpu = measure(args.fill, args.rounds)
    print(f"\nrefresh stages, {args.db}, {args.rounds} rounds after {args.fill} articles")
    print(f"{'ms per round, p50':34}{'wall':>8}{'CPU':>8}")
    for name in sorted(wall, key=lambda name: not name.startswith("all")):  # stable: in order
        print(f"{name:34}{statistics.median(wall[name]):8.1f}{statistics.median(cpu[name]):8.1f}")
    print("CPU: this process only; PostgreSQL's own work shows in wall time alone.")
    print(f"CPU speed, a fixed pure-Python loop (lower is faster): {service.calibrate():.0f} ms")


def measure(fill: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    from config import get_settings
    from feeds import query, store
    from feeds.keys import touched_by
    from feeds.model import CONTENT_TYPES, FORMATS
    from feeds.render import render
    from newsroom import articles
    from newsroom.db import lock, session_scope
    from newsroom.models import utcnow
    from newsroom.schemas import ArticleIn

    settings = get_settings()
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for n in range(fill + rounds):
        with session_scope() as session:
            data = ArticleIn.model_validate(nordic.article(n, "stages"))
            _, event = articles.create(session, data, utcnow(), timedelta(seconds=10))
            assert event is not None
            keys = touched_by(event.payload)
        if n < fill:
            continue
        clock = Clock()
        for key in keys:  # as worker/events.py: "all" first, one transaction per feed
            scope = "all" if key.kind == "all" else "event"
            with clock(scope, "whole feed"), session_scope() as session:
                with clock(scope, "lock + query"):
                    lock(session, f"feed:{key}")
                    document = query.current(session, key, settings)
                documents = {}
                for fmt in FORMATS:
                    with clock(scope, f"render {fmt}"):
                        documents[key.path(fmt)] = (CONTENT_TYPES[fmt], render(document, fmt))
                with clock(scope, "store (3 formats)"):
                    store.put_if_changed(session, documents, document.updated)
                clock.start(scope, "commit")
            clock.stop(scope, "commit")
        for name, (w, c) in clock.spent.items():
            wall[name].append(w * 1000)
            cpu[name].append(c * 1000)
    return wall, cpu


class Clock:
    """Wall and CPU time per stage; "event: ..." sums every feed of the event, "all" too."""

    def __init__(self) -> None:
        self.spent: dict[str, tuple[float, float]] = {}
        self._started: dict[str, tuple[float, float]] = {}

    @contextmanager
    def __call__(self, scope: str, stage: str) -> Iterator[None]:
        self.start(scope, stage)
        try:
            yield
        finally:
            self.stop(scope, stage)

    def start(self, scope: str, stage: str) -> None:
        self._started[stage] = (time.perf_counter(), time.process_time())

    def stop(self, scope: str, stage: str) -> None:
        wall0, cpu0 = self._started.pop(stage)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        names = [f"event: {stage}"] + ([f"all: {stage}"] if scope == "all" else [])
        for name in names:
            w, c = self.spent.get(name, (0.0, 0.0))
            self.spent[name] = (w + wall, c + cpu)


if __name__ == "__main__":
    main()
