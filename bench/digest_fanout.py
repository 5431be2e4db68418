"""A digest to 100,000 subscribers: from planning to the last message a loopback SMTP
sink accepted, through the real Celery worker, against plain smtplib on the same sink.

The sink is Postfix's `smtp-sink` (Debian package `postfix`), which accepts and forgets
thousands of messages a second; with `-c` it prints its running count of messages on
every final "." of DATA, and this script timestamps each count as it arrives.

1. Setup, not timed: a fresh database ("bench" on PostgreSQL, or SQLite in a temporary
   folder), 35 old articles in seven languages, N active subscribers with one bulk
   INSERT (not the API; Swedish 50 %, Finnish 20 %, English, Norwegian and Danish 10 %
   each, all "immediate", every tag), then 35 new articles: each subscriber's edition has
   5-10 new articles, 8 older ones in "latest news" and a tag cloud.
2. Budkavle, timed: `digest.plan_edition` in this process, as `budkavle digest send`
   does, then `bell.ring_digest_batches`; the worker (`celery -A worker worker`, prefork,
   `--concurrency C`) sends the batches. Done when the sink has counted N messages and
   no delivery is queued; the database's last `sent_at` is printed beside the sink's.
3. The baseline, timed: C processes, each with one smtplib connection to the same sink,
   send N messages between them: the same bytes, personalised by the real
   `MessageTemplate` for a sample of the same recipients, reused round-robin.

Worker memory is each worker process's VmHWM (peak RSS) from /proc, polled while it runs.
Run: .venv/bin/python bench/digest_fanout.py [--db sqlite|postgresql|both]
     [--subscribers 100000] [--concurrency 2] [--timeout 900]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import pickle
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nordic
import service

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
LANGUAGES = ["sv"] * 5 + ["fi"] * 2 + ["en", "nb", "da"]  # 50 %, 20 %, 10 % each
ARTICLES = 35  # per round: 10 Swedish, 5 in each of the other five languages
SAMPLE = 2000  # distinct personalised messages the baseline cycles through
GRACE = timedelta(seconds=1)


class Sink:
    """`smtp-sink -c` on loopback; `count` and `last_at` (monotonic) of accepted messages."""

    def __init__(self) -> None:
        self.port = service.free_port()
        self.count = 0
        self.last_at = 0.0
        self._changed = threading.Condition()
        self._process = subprocess.Popen(
            [SMTP_SINK, "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "1000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        service_wait_port(self.port)

    def _read(self) -> None:
        stdout = self._process.stdout
        assert isinstance(stdout, io.BufferedReader)
        while chunk := stdout.read1(65536):  # what is there now, not a full 64 KiB
            arrived = time.monotonic()
            # "sess=3 quit=1 mesg=1234\r": the newest counter line in this chunk.
            tail = chunk.rstrip(b"\r").rpartition(b"\r")[2]
            count = int(tail.rpartition(b"mesg=")[2] or 0)
            with self._changed:
                if count != self.count:
                    self.count, self.last_at = count, arrived
                    self._changed.notify_all()

    def wait_for(self, count: int, deadline: float) -> bool:
        with self._changed:
            while self.count < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))
            return True

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)


def service_wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"smtp-sink did not listen on {port}") from None
            time.sleep(0.05)


class Memory:
    """Peak RSS (VmHWM) of every process of one group, polled from /proc."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.peak_kib: dict[int, int] = {}
        self.peak_total_kib = 0  # RSS summed: pages the pool shares with its parent count twice
        self.peak_pss_kib = 0  # PSS summed (smaps_rollup): shared pages split between sharers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def sample(self) -> None:
        total = pss = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rpartition(")")[2].split()[2]) != self.pgid:
                    continue
                status = (stat.parent / "status").read_text()
            except (OSError, ValueError):
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            hwm = int(fields.get("VmHWM", "0 kB").split()[0])
            total += int(fields.get("VmRSS", "0 kB").split()[0])
            pid = int(stat.parent.name)
            self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), hwm)
            pss += _pss_kib(stat.parent / "smaps_rollup")
        self.peak_total_kib = max(self.peak_total_kib, total)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    def report(self) -> str:
        main = self.peak_kib.get(self.pgid, 0)
        pool = sorted((kib for pid, kib in self.peak_kib.items() if pid != self.pgid), reverse=True)
        children = ", ".join(f"{kib / 1024:.0f}" for kib in pool) + " MiB" if pool else "none"
        return (
            f"worker peak RSS (VmHWM): pool processes {children}"
            f", main process {main / 1024:.0f} MiB; the whole worker at most "
            f"{self.peak_pss_kib / 1024:.0f} MiB PSS ({self.peak_total_kib / 1024:.0f} MiB "
            "RSS summed)"
        )


def _pss_kib(path: Path) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def worker(env: dict[str, str], data_dir: Path, concurrency: int, pool: str) -> Iterator[int]:
    argv = [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "--pool", pool,
        "--concurrency", str(concurrency), "--loglevel", "WARNING",
    ]
    with service.process("worker", argv, env, data_dir) as pgid:
        from celery import Celery

        app = Celery(broker=service.REDIS_URL)
        deadline = time.monotonic() + 60
        try:
            while not app.control.ping(timeout=1.0):
                if time.monotonic() > deadline:
                    raise TimeoutError("no Celery worker answered within 60 s")
        finally:
            app.close()
        yield pgid


def seed(subscribers: int) -> int:
    """Old articles, the subscribers (one bulk INSERT), new articles; the expected count."""
    from sqlalchemy import insert

    from newsroom import articles, outbox
    from newsroom.db import session_scope
    from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
    from newsroom.schemas import ArticleIn

    def publish(first: int) -> None:
        with session_scope() as session:
            for n in range(first, first + ARTICLES):
                data = ArticleIn.model_validate(nordic.article(n, "digest"))
                _, event = articles.create(session, data, utcnow(), GRACE)
                assert event is not None
                session.flush()
                outbox.assign_position(session, event.id)

    publish(0)
    now = utcnow()
    with session_scope() as session:
        position = outbox.last_position(session)
        rows = [
            {
                "email": f"{first}.{last}{n}@{domain}",
                "status": SubscriberStatus.ACTIVE,
                "language": LANGUAGES[n % len(LANGUAGES)],
                "frequency": Frequency.IMMEDIATE,
                "tags": [],
                "time_zone": "Europe/Stockholm",
                "consent_at": now,
                "consent_ip": "192.0.2.1",
                "consent_form": "bench",
                "confirmed_at": now,
                "digest_position": position,
                "failures": 0,
                "created_at": now,
                "updated_at": now,
            }
            for n, (first, last, domain) in enumerate(_names(subscribers))
        ]
        session.execute(insert(Subscriber), rows)
    publish(ARTICLES)
    return subscribers


def _names(count: int) -> Iterator[tuple[str, str, str]]:
    firsts = ["asa", "matti", "oystein", "soren", "kristina", "paivi", "gudrun", "annika"]
    lasts = ["lindqvist", "makela", "haugen", "kjaergaard", "westerholm", "rask", "olafsdottir"]
    domains = ["example.se", "example.fi", "example.no", "example.dk", "posti.example"]
    for n in range(count):
        yield firsts[n % 8], lasts[n % 7], domains[n % 5]


def plan_and_send(expected: int, sink: Sink, timeout: float) -> dict[str, Any]:
    """Plan as `budkavle digest send` does, ring the batches, wait for the last message."""
    from config import get_settings
    from newsroom import editions
    from newsroom.models import Frequency, utcnow
    from worker import bell, digest

    settings = get_settings()
    start_count = sink.count
    started, started_wall = time.monotonic(), datetime.now(UTC)
    now = utcnow()
    batches = digest.plan_edition(editions.manual_slot(Frequency.IMMEDIATE, now), settings, now)
    planned = time.monotonic()
    bell.ring_digest_batches(batches)
    rung = time.monotonic()
    if not sink.wait_for(start_count + expected, rung + timeout):
        raise TimeoutError(
            f"gave up after {timeout:.0f} s: the sink accepted {sink.count - start_count} "
            f"of {expected} messages; see the worker's log above"
        )
    return {
        "batches": len(batches),
        "started": started,
        "started_wall": started_wall,
        "planned": planned,
        "rung": rung,
        "last": sink.last_at,
    }


def check_database(expected: int) -> tuple[int, int, datetime]:
    """(sent, still queued, last sent_at), after the worker has stopped."""
    from sqlalchemy import func, select

    from newsroom.db import session_scope
    from newsroom.models import EmailDelivery, EmailStatus

    with session_scope() as session:
        counts = dict(
            session.execute(
                select(EmailDelivery.status, func.count()).group_by(EmailDelivery.status)
            ).all()
        )
        last = session.scalar(select(func.max(EmailDelivery.sent_at)))
    assert last is not None
    return counts.get(EmailStatus.SENT, 0), counts.get(EmailStatus.QUEUED, 0), last


def sample_messages(path: Path, expected: int) -> int:
    """The real MessageTemplate's bytes for SAMPLE recipients spread over the edition."""
    from sqlalchemy import select

    from config import get_settings
    from email_templates.render import RenderedEmail
    from newsroom import links
    from newsroom.db import session_scope
    from newsroom.models import EditionSegment, EmailDelivery, Subscriber
    from worker.envelope import MessageTemplate, message_id

    settings = get_settings()
    secret = settings.resolved_secret_key().encode()
    step = max(1, expected // SAMPLE)
    messages: list[tuple[str, bytes]] = []
    with session_scope() as session:
        templates = {
            segment.id: MessageTemplate(
                RenderedEmail(segment.subject, segment.html, segment.text),
                sender=settings.sender,
                list_id=f"{settings.site_name} <{segment.language}.digest.{settings.mail_domain}>",
                date=segment.created_at,
            )
            for segment in session.scalars(select(EditionSegment))
        }
        rows = session.execute(
            select(EmailDelivery.id, EmailDelivery.segment_id, Subscriber)
            .join(Subscriber, Subscriber.id == EmailDelivery.subscriber_id)
            .where(EmailDelivery.id % step == 0)
            .order_by(EmailDelivery.id)
        ).all()
        for delivery_id, segment_id, subscriber in rows:
            message = templates[segment_id].personalize(
                to=subscriber.email,
                message_id=message_id(delivery_id, settings.mail_domain, secret),
                unsubscribe_url=links.unsubscribe_url(subscriber, settings),
                unsubscribe_mailto=links.unsubscribe_mailto(subscriber, settings),
                preferences_url=links.preferences_url(subscriber, settings),
            )
            messages.append((subscriber.email, message))
        sender = next(iter(templates.values())).sender_address
    path.write_bytes(pickle.dumps((sender, messages)))
    return sum(len(message) for _, message in messages) // len(messages)


def _baseline_sender(
    port: int, path: str, offset: int, count: int, barrier: Barrier, results: Any
) -> None:
    sender, messages = pickle.loads(Path(path).read_bytes())
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost")
    smtp.ehlo()
    barrier.wait()
    started = time.monotonic()
    for n in range(offset, offset + count):
        recipient, message = messages[n % len(messages)]
        smtp.sendmail(sender, [recipient], message)
    finished = time.monotonic()
    smtp.quit()
    results.put((started, finished))


def baseline(sink: Sink, path: Path, expected: int, connections: int) -> float:
    """Messages/s of plain smtplib: one process and one connection per worker process."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(connections), context.Queue()
    shares = [expected // connections + (i < expected % connections) for i in range(connections)]
    offsets = [sum(shares[:i]) for i in range(connections)]
    start_count = sink.count
    senders = [
        context.Process(
            target=_baseline_sender, args=(sink.port, str(path), offset, share, barrier, results)
        )
        for offset, share in zip(offsets, shares, strict=True)
    ]
    for sender in senders:
        sender.start()
    spans = [results.get(timeout=1800) for _ in senders]
    for sender in senders:
        sender.join()
    if not sink.wait_for(start_count + expected, time.monotonic() + 10):
        raise RuntimeError(f"the sink counted {sink.count - start_count} of {expected}")
    elapsed: float = max(end for _, end in spans) - min(start for start, _ in spans)
    return expected / elapsed


def run(db: str, subscribers: int, concurrency: int, timeout: float, pool: str) -> None:
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="budkavle-bench-") as tmp:
            data_dir = Path(tmp)
            env = service.prepare(db, data_dir, service.free_port())
            env.update(
                BUDKAVLE_EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
                BUDKAVLE_PUBLIC_URL="https://nyheter.example",
                BUDKAVLE_EMAIL_FROM="Budkavle <nyheter@nyheter.example>",
            )
            os.environ.update(env)  # this process plans, as `budkavle digest send` does
            sys.path.insert(0, str(service.ROOT))
            from config import get_settings

            get_settings.cache_clear()
            setup = time.monotonic()
            expected = seed(subscribers)
            print(f"{db}: setup (articles, {subscribers} subscribers) "
                  f"{time.monotonic() - setup:.1f} s")
            with worker(env, data_dir, concurrency, pool) as pgid:
                memory = Memory(pgid)
                cpu_before = service._group_cpu(pgid)
                timing = plan_and_send(expected, sink, timeout)
                cpu = service._group_cpu(pgid) - cpu_before
                memory.stop()
            sent, queued, last_sent_at = check_database(expected)
            errors = (data_dir / "worker.log").read_text(errors="replace").count("Traceback")
            size = sample_messages(data_dir / "sample.pickle", expected)
            base = baseline(sink, data_dir / "sample.pickle", expected, concurrency)
    finally:
        sink.stop()
    _report(
        db, expected, concurrency, timing, sent, queued, last_sent_at, cpu, memory, base, pool
    )
    print(f"{db}: messages of {size:,} bytes on average; worker log tracebacks: {errors}")


def _report(
    db: str,
    expected: int,
    concurrency: int,
    timing: dict[str, Any],
    sent: int,
    queued: int,
    last_sent_at: datetime,
    cpu: float,
    memory: Memory,
    base: float,
    pool: str,
) -> None:
    plan_s = timing["planned"] - timing["started"]
    sending = timing["last"] - timing["rung"]
    overall = timing["last"] - timing["started"]
    db_overall = (last_sent_at.replace(tzinfo=UTC) - timing["started_wall"]).total_seconds()
    print(
        f"{db}: {expected} subscribers, {timing['batches']} batches, worker --pool {pool} "
        f"--concurrency {concurrency}: sent {sent}, queued {queued}\n"
        f"  planning (plan_edition, in this process) {plan_s:.1f} s; ringing "
        f"{(timing['rung'] - timing['planned']) * 1000:.0f} ms\n"
        f"  sending (rung -> last accepted by the sink) {sending:.1f} s = "
        f"{expected / sending:.0f} messages/s\n"
        f"  overall (planning started -> last accepted) {overall:.1f} s = "
        f"{expected / overall:.0f} messages/s (by the database's last sent_at: "
        f"{db_overall:.1f} s)\n"
        f"  worker CPU {cpu:.1f} s = {cpu / expected * 1e6:.0f} µs per message\n"
        f"  {memory.report()}\n"
        f"  baseline, plain smtplib, {concurrency} processes x 1 connection, same bytes: "
        f"{base:.0f} messages/s\n"
        f"  Budkavle / baseline: sending {expected / sending / base:.2f}, "
        f"overall {expected / overall / base:.2f} (goal >= 0.8)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--pool", choices=["prefork", "threads"], default="prefork",
        help="the worker's pool: processes, or threads in one process",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the sending")
    args = parser.parse_args()
    if not Path(SMTP_SINK).exists():
        sys.exit("bench: smtp-sink is needed: apt-get install --no-install-recommends postfix")
    service.stop_on_sigterm()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with service.cpu_report():
            run(db, args.subscribers, args.concurrency, args.timeout, args.pool)


if __name__ == "__main__":
    main()
