"""What pushes on the service during a scenario, and what watches it answer.

Publishers post articles; feed readers poll with conditional GETs; a prober asks
/readyz and times every answer; a sampler reads the broker's queue length. Each runs in
threads until told to stop, and keeps only counts and times.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from chaos.stack import ADMIN

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import nordic

# Tolerated before an answer counts as a hang: the suite's goal is "within 1 s".
TIMEOUT = httpx.Timeout(10.0)


@dataclass
class Answers:
    """Status counts and the slowest answer, shared by many threads."""

    statuses: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    over_1s: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: str, seconds: float) -> None:
        with self._lock:
            self.statuses[status] += 1
            self.slowest = max(self.slowest, seconds)
            self.over_1s += seconds > 1.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))


def timed(answers: Answers, client: httpx.Client, method: str, url: str, **kw: object) -> int:
    started = time.monotonic()
    try:
        status = client.request(method, url, **kw).status_code  # type: ignore[arg-type]
        label = str(status)
    except httpx.TimeoutException:
        status, label = 0, "timeout"
    except httpx.HTTPError as exc:
        status, label = 0, type(exc).__name__
    answers.note(label, time.monotonic() - started)
    return status


@dataclass
class Publishers:
    """``threads`` editors, each publishing ``each`` articles, ``pause`` seconds apart."""

    url: str
    threads: int
    each: int
    pause: float = 0.0
    run: str = "chaos"
    answers: Answers = field(default_factory=Answers)
    accepted: list[dict[str, object]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Publishers:
        for t in range(self.threads):
            thread = threading.Thread(target=self._publish, args=(t,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _publish(self, t: int) -> None:
        with httpx.Client(base_url=self.url, headers=ADMIN, timeout=TIMEOUT) as client:
            for i in range(self.each):
                payload = nordic.article(t * self.each + i, self.run)
                if timed(self.answers, client, "POST", "/api/articles", json=payload) == 201:
                    self.accepted.append(payload)  # list.append is atomic
                time.sleep(self.pause)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


@dataclass
class Background:
    """Threads that loop until stopped: feed readers, the readiness prober."""

    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


FEEDS = ["/feeds/all.atom", "/feeds/lang/sv.rss", "/feeds/tags/borlange.json",
         "/feeds/tags/tromso.atom", "/feeds/all.json"]  # fmt: skip


def read_feeds(url: str, readers: int, answers: Answers, background: Background) -> None:
    """Feed readers polling about once a second each, with If-None-Match as readers do."""

    def reader(n: int) -> None:
        etag = ""
        path = FEEDS[n % len(FEEDS)]
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            while not background.stop.wait(1.0):
                started = time.monotonic()
                try:
                    answer = client.get(path, headers={"If-None-Match": etag} if etag else {})
                    etag = answer.headers.get("etag", etag)
                    answers.note(str(answer.status_code), time.monotonic() - started)
                except httpx.HTTPError as exc:
                    answers.note(type(exc).__name__, time.monotonic() - started)

    for n in range(readers):
        background.spawn(reader, n)


def probe_ready(url: str, answers: Answers, background: Background) -> None:
    """/readyz twice a second: 503 while a dependency is down is right; a hang is not."""

    def prober() -> None:
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            while not background.stop.wait(0.5):
                timed(answers, client, "GET", "/readyz")

    background.spawn(prober)


def sample_queue(redis_url: str, samples: list[tuple[float, int]], background: Background) -> None:
    """The default queue's length (every priority) every two seconds."""
    keys = ["celery", *(f"celery\x06\x16{p}" for p in (3, 6, 9))]

    def sampler() -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        started = time.monotonic()
        while not background.stop.wait(2.0):
            try:
                pipe = client.pipeline()
                for key in keys:
                    pipe.llen(key)
                depth = sum(pipe.execute())
            except redis.RedisError:
                depth = -1  # Redis is down or frozen
            samples.append((time.monotonic() - started, depth))

    background.spawn(sampler)
