"""One scenario's world: its own Redis, a fresh database, the service, the peers; and
the row of the table it ends with."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from slugify import slugify

from chaos import check
from chaos.infra import PostgresCluster, RedisServer, free_port
from chaos.load import Answers, Background, Publishers, probe_ready, sample_queue
from chaos.peers import Mailbox, Partners
from chaos.stack import ADMIN, Stack, environment, running
from config import Settings

ALL_PARTS = ("web", "worker", "pusher", "beat")


@dataclass
class Row:
    scenario: str
    db: str
    expected: Counter[str] = field(default_factory=Counter)  # "feed", "push", "email"
    lost: Counter[str] = field(default_factory=Counter)
    dup_same_id: int = 0  # a copy that carries the same Message-ID / webhook-id
    dup_other_id: int = 0  # a second message under a new id: a real duplicate
    server_errors: Counter[str] = field(default_factory=Counter)  # "POST 503", ...
    slowest: dict[str, float] = field(default_factory=dict)  # "POST" -> seconds
    over_1s: Counter[str] = field(default_factory=Counter)
    recovered: float | None = None  # seconds from the fault's end to all caught up
    queue: list[tuple[float, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def took(self, answers: Answers, what: str) -> None:
        for status, count in answers.statuses.items():
            if not status.isdigit() or status.startswith("5"):
                self.server_errors[f"{what} {status}"] += count
        self.slowest[what] = max(self.slowest.get(what, 0.0), answers.slowest)
        self.over_1s[what] += answers.over_1s


@dataclass
class World:
    folder: Path
    db: str
    redis: RedisServer | None  # None: the embedded one of `budkavle serve`
    stack: Stack
    partners: Partners
    mailbox: Mailbox
    background: Background
    row: Row
    postgres: PostgresCluster | None

    @property
    def database_url(self) -> str:
        return Settings(
            data_dir=self.folder, database_url=self.stack.env["BUDKAVLE_DATABASE_URL"]
        ).sqlalchemy_url

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.folder)

    def partner(self, name: str, **filters: list[str]) -> None:
        answer = httpx.post(
            self.stack.url + "/api/partners", headers=ADMIN, timeout=10,
            json={"name": f"Chaos {name}", "webhook_url": self.partners.url(name), **filters},
        )  # fmt: skip
        answer.raise_for_status()

    def subscriber(self, email: str, frequency: str = "immediate", language: str = "sv") -> None:
        answer = httpx.post(
            self.stack.url + "/api/subscribers", headers=ADMIN, timeout=10,
            json={"email": email, "language": language, "frequency": frequency},
        )  # fmt: skip
        answer.raise_for_status()

    def import_subscribers(self, count: int, frequency: str = "weekly") -> None:
        csv = self.folder / "subscribers.csv"
        lines = ["email,language,frequency"] + [
            f"lasare{n}@posten.example,sv,{frequency}" for n in range(count)
        ]
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.stack.cli("subscribers", "import", str(csv))

    def publish(self, threads: int, each: int, pause: float, run: str) -> Publishers:
        return Publishers(self.stack.url, threads, each, pause, run).start()

    def converge(self, done: Callable[[], bool], bound: float, since: float) -> None:
        """Wait for ``done``; note the seconds from ``since`` (a monotonic time)."""
        deadline = time.monotonic() + bound
        failed = ""
        while time.monotonic() < deadline:
            try:
                if done():
                    self.row.recovered = time.monotonic() - since
                    return
            except Exception as exc:  # a check that cannot read yet: not done
                failed = f" (last check: {type(exc).__name__}: {exc})"
            time.sleep(1.0)
        self.row.notes.append(f"not caught up within {bound:.0f} s{failed}")

    def count_feeds(self, accepted: list[dict[str, object]]) -> None:
        """Every accepted article in "all", its language and each of its tags' feeds, with
        their archives."""
        wanted: dict[str, set[str]] = {}
        for payload in accepted:
            keys = ["all", f"lang/{payload['language']}"]
            keys += [f"tags/{slugify(str(tag))}" for tag in payload["tags"]]  # type: ignore[attr-defined]
            for key in keys:
                wanted.setdefault(key, set()).add(str(payload["title"]))
        for key, titles in wanted.items():
            found = check.titles_in_feed(self.stack.url, f"/feeds/{key}.json")
            self.row.expected["feed"] += len(titles)
            self.row.lost["feed"] += len(titles - found)

    def count_pushes(self, name: str, expected: int) -> None:
        got = self.partners.received(name)
        self.row.expected["push"] += expected
        self.row.lost["push"] += max(0, expected - len(got))
        self.row.dup_same_id += sum(count - 1 for count in got.values())

    def count_emails(self, expected: int) -> None:
        per_recipient = self.mailbox.recipients()
        self.row.expected["email"] += expected
        self.row.lost["email"] += max(0, expected - len(per_recipient))
        same, other = self.mailbox.duplicates()
        self.row.dup_same_id += same
        self.row.dup_other_id += other


@contextmanager
def world(
    scenario: str, db: str, root: Path, postgres: PostgresCluster | None,
    parts: tuple[str, ...] = ALL_PARTS, **settings: str,
) -> Iterator[World]:  # fmt: skip
    folder = root / f"{scenario}-{db}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    row = Row(scenario, db)
    embedded = parts == ("serve",)
    with ExitStack() as stack:
        redis = None
        if not embedded:
            redis = RedisServer(folder)
            redis.start()
            stack.callback(redis.stop)
        if db == "postgresql":
            assert postgres is not None
            database_url = _fresh(postgres)
        else:
            database_url = "" if embedded else f"sqlite:///{folder / 'chaos.db'}"
        partners = stack.enter_context(Partners.running())
        mailbox = Mailbox().start()
        stack.callback(mailbox.stop)
        settings.setdefault("BUDKAVLE_EMAIL_URL", mailbox.url)
        port = free_port()
        settings.setdefault("BUDKAVLE_PUBLIC_URL", f"http://127.0.0.1:{port}")
        redis_url = redis.url if redis is not None else ""
        env = environment(folder, database_url, redis_url, BUDKAVLE_DIGEST_WINDOW_SECONDS="5",
                          **settings)  # fmt: skip
        service = stack.enter_context(running(Stack(folder, env, port), parts))
        background = Background()
        stack.callback(background.close)
        probes = Answers()
        probe_ready(service.url, probes, background)
        sample_queue(redis_url or Settings(data_dir=folder).redis_client_url, row.queue, background)
        yield World(folder, db, redis, service, partners, mailbox, background, row, postgres)
        row.took(probes, "readyz")
        for name in (*ALL_PARTS, "serve"):
            if name in service.children and not service.alive(name):
                row.notes.append(f"{name} died: {service.log_tail(name, 3)}")


def _fresh(postgres: PostgresCluster) -> str:
    dsn = f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS chaos WITH (FORCE)")
        conn.execute("CREATE DATABASE chaos")
    return postgres.url
