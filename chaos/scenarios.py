"""The scenarios: load, a fault, then wait until everything accepted has arrived.

Each returns its row. Bounds are stated where they are set; a scenario that is not
caught up by its bound says so in its row rather than waiting on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from chaos import check
from chaos.harness import ALL_PARTS, Row, World, world
from chaos.infra import PostgresCluster, wait_until
from chaos.load import TIMEOUT, Answers, Background, read_feeds, timed

CATCH_UP = 300.0  # seconds: the bound for any backlog here to drain, on 2 cores


def _not_scheduled() -> dict[str, str]:
    """Weekly digests due in two hours, so that the only edition is the one a scenario
    sends by hand (`digest send`): a scheduled one planned meanwhile would be a second
    email to everyone, and not a duplicate."""
    later = datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(hours=2)
    return {
        "BUDKAVLE_DIGEST_WEEKDAY": str(later.weekday()),
        "BUDKAVLE_DIGEST_HOUR": str(later.hour),
        "BUDKAVLE_TIME_ZONE": "Europe/Stockholm",
    }


NOT_SCHEDULED = _not_scheduled()


def burst(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """50 editors × 20 articles in about a minute, 200 feed readers polling meanwhile."""
    with world("burst", db, root, pg) as w:
        w.partner("ok")
        w.subscriber("lasare@posten.example")
        readers, background = Answers(), Background()
        read_feeds(w.stack.url, 200, readers, background)
        editors = w.publish(threads=50, each=20, pause=2.5, run="burst")
        editors.join(timeout=180)
        background.close()
        ended = time.monotonic()
        n = len(editors.accepted)
        w.converge(lambda: _caught_up(w) and len(w.partners.received("ok")) >= n, CATCH_UP, ended)
        w.count_feeds(editors.accepted)
        w.count_pushes("ok", n)
        w.row.took(editors.answers, "POST")
        w.row.took(readers, "feed GET")
        w.row.notes.append(f"{n} accepted; feed readers: {readers.statuses.most_common(3)}")
        return w.row


def bulk_import(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """5,000 articles as fast as 8 threads can post them (a migration from another CMS)."""
    with world("import-5000", db, root, pg) as w:
        w.partner("ok")
        editors = w.publish(threads=8, each=625, pause=0.0, run="import")
        editors.join(timeout=900)
        ended = time.monotonic()
        n = len(editors.accepted)
        w.converge(lambda: _caught_up(w) and len(w.partners.received("ok")) >= n, CATCH_UP, ended)
        w.count_feeds(editors.accepted)
        w.count_pushes("ok", n)
        w.row.took(editors.answers, "POST")
        return w.row


def redis_killed(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """Redis killed 5 s into 100 publishes at 5/s, back 10 s later (its queues lost)."""
    return _publishing_through(root, db, pg, "redis-killed-10s", _kill_redis)


def redis_frozen(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """Redis frozen (SIGSTOP: it accepts connections and never answers) for 30 s."""
    return _publishing_through(root, db, pg, "redis-frozen-30s", _freeze_redis)


def postgres_restarted(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """PostgreSQL killed 5 s into 100 publishes at 5/s, started again 5 s later."""
    return _publishing_through(root, db, pg, "postgres-restarted", _restart_postgres)


def _kill_redis(w: World) -> None:
    w.redis.kill()
    time.sleep(10)
    w.redis.start()


def _freeze_redis(w: World) -> None:
    w.redis.freeze()
    time.sleep(30)
    w.redis.thaw()


def _restart_postgres(w: World) -> None:
    assert w.postgres is not None
    w.postgres.kill()
    time.sleep(5)
    w.postgres.start()


def _publishing_through(
    root: Path, db: str, pg: PostgresCluster | None, name: str, fault: Callable[[World], None],
    parts: tuple[str, ...] = ALL_PARTS,
) -> Row:  # fmt: skip
    with world(name, db, root, pg, parts=parts) as w:
        w.partner("ok")
        w.subscriber("lasare@posten.example")
        editors = w.publish(threads=5, each=20, pause=1.0, run=name)
        time.sleep(5)
        fault(w)
        ended = time.monotonic()
        editors.join(timeout=120)
        n = len(editors.accepted)
        w.converge(lambda: _caught_up(w) and len(w.partners.received("ok")) >= n, CATCH_UP, ended)
        w.count_feeds(editors.accepted)
        w.count_pushes("ok", n)
        w.row.took(editors.answers, "POST")
        w.row.notes.append(f"{n} of 100 accepted")
        return w.row


def worker_killed_in_fanout(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """The push worker SIGKILLed while 20 articles go to 50 partners, started again 2 s later."""
    with world("pusher-killed-in-fanout", db, root, pg) as w:
        names = [f"ok-{n}" for n in range(50)]
        for name in names:
            w.partner(name)
        editors = w.publish(threads=2, each=10, pause=0.0, run="fanout")
        wait_until(lambda: sum(len(w.partners.received(n)) for n in names) >= 300, 120,
                   "pushes did not start")  # fmt: skip
        w.stack.kill("pusher")
        time.sleep(2)
        w.stack.start("pusher")
        ended = time.monotonic()
        editors.join(timeout=60)
        n = len(editors.accepted)
        w.converge(lambda: all(len(w.partners.received(x)) >= n for x in names), CATCH_UP, ended)
        for name in names:
            w.count_pushes(name, n)
        w.row.took(editors.answers, "POST")
        return w.row


def worker_killed_mid_digest(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """The worker SIGKILLed after 3,000 of a 10,000-recipient digest, started again."""
    return _digest_through(root, db, pg, "worker-killed-mid-digest", 10_000, _kill_worker)


def smtp_down(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """The SMTP server down for 60 s after 500 of a 2,000-recipient digest."""
    return _digest_through(root, db, pg, "smtp-down-60s", 2_000, _smtp_down, at=500)


def smtp_flaky(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """The SMTP server answers 421 or 451 to 10 % of recipients, at random."""

    def flaky(w: World) -> None:
        w.mailbox.ids_recorder.transient_rate = 0.1

    return _digest_through(root, db, pg, "smtp-421-451-10pct", 2_000, flaky, at=0)


def postgres_restarted_mid_digest(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    return _digest_through(root, db, pg, "postgres-restarted-mid-digest", 5_000,
                           _restart_postgres, at=1_000)  # fmt: skip


def _kill_worker(w: World) -> None:
    w.stack.kill("worker")
    time.sleep(2)
    w.stack.start("worker")


def _smtp_down(w: World) -> None:
    w.mailbox.stop()
    time.sleep(60)
    w.mailbox.start()


def _digest_through(
    root: Path, db: str, pg: PostgresCluster | None, name: str, recipients: int,
    fault: Callable[[World], None], at: int = 3_000,
) -> Row:  # fmt: skip
    with world(name, db, root, pg, **NOT_SCHEDULED) as w:
        w.import_subscribers(recipients)
        editors = w.publish(threads=2, each=5, pause=0.0, run=name)
        editors.join(timeout=60)
        _handled(w)
        w.stack.cli("digest", "send", "--frequency", "weekly", "--no-wait")
        if at:
            wait_until(lambda: len(w.mailbox.recipients()) >= at, 300, "the digest did not start")
        fault(w)
        ended = time.monotonic()
        w.converge(lambda: len(w.mailbox.recipients()) >= recipients, CATCH_UP, ended)
        time.sleep(5)  # a late duplicate would arrive now
        w.count_emails(recipients)
        w.row.notes.append(f"{w.mailbox.ids_recorder.refused} RCPT answered 4xx")
        return w.row


def partners_misbehaving(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """Four partners: one fine, one 503 (Retry-After: 5) for 8 s, one that never
    answers, one 410. The fine one must not wait for the others."""
    with world("partners-503-hang-410", db, root, pg) as w:
        for name in ("ok", "flaky", "hang", "gone"):
            w.partner(name)
        w.partners.healthy_at = time.monotonic() + 8
        editors = w.publish(threads=1, each=20, pause=0.5, run="partners")
        editors.join(timeout=60)
        ended = time.monotonic()
        n = len(editors.accepted)
        # A delivery that failed twice waits for the schedule's third step, 5 minutes.
        w.converge(lambda: all(len(w.partners.received(x)) >= n for x in ("ok", "flaky")),
                   CATCH_UP + 120, ended)  # fmt: skip
        w.count_pushes("ok", n)
        w.count_pushes("flaky", n)
        disabled = "SELECT count(*) FROM partners WHERE disabled_at IS NOT NULL"
        gone = check.scalar(w.database_url, disabled)
        w.row.notes.append(f"410 disabled: {bool(gone)}; answers {dict(w.partners.answered)}")
        w.row.took(editors.answers, "POST")
        return w.row


def disk_full(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """The outbox folder (the embedded default transport) on a 2 MB disk that fills up
    mid-digest (300 recipients, ~90 KB each); space comes back 30 s later."""
    outbox = root / f"outbox-{db}"
    outbox.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(outbox)], check=True)
    try:
        with world("disk-full", db, root, pg, BUDKAVLE_EMAIL_URL=str(outbox), **NOT_SCHEDULED) as w:
            w.import_subscribers(300)
            editors = w.publish(threads=2, each=5, pause=0.0, run="disk-full")
            editors.join(timeout=60)
            _handled(w)
            w.stack.cli("digest", "send", "--frequency", "weekly", "--no-wait")
            time.sleep(30)
            stuck = len(_delivered_to(outbox))
            subprocess.run(["mount", "-o", "remount,size=256m", str(outbox)], check=True)
            ended = time.monotonic()
            w.converge(lambda: len(set(_delivered_to(outbox))) >= 300, CATCH_UP, ended)
            time.sleep(5)
            got = _delivered_to(outbox)
            w.row.expected["email"] = 300
            w.row.lost["email"] = 300 - len(set(got))
            w.row.dup_other_id = len(got) - len(set(got))
            w.row.notes.append(f"{stuck} written before the disk was full")
            return w.row
    finally:
        subprocess.run(["umount", "--lazy", str(outbox)], check=False)


def _delivered_to(folder: Path) -> list[str]:
    """The recipient of each .eml file (one file per Message-ID and recipient)."""
    recipients = []
    for path in folder.glob("*.eml"):
        head = path.read_bytes()[:300].decode("ascii", "replace")
        for line in head.splitlines():
            if line.startswith("Delivered-To:"):
                recipients.append(line.split(":", 1)[1].strip())
    return recipients


def serve_redis_killed(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """`budkavle serve` on the embedded defaults; its redis-server SIGKILLed 5 s into 100
    publishes at 5/s. serve starts it again, and its workers live on."""
    return _publishing_through(root, db, pg, "serve-embedded-redis-killed", _kill_embedded_redis,
                               parts=("serve",))  # fmt: skip


def _kill_embedded_redis(w: World) -> None:
    pid = int((w.folder / "redis.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    time.sleep(5)  # serve notices and starts another
    back = (w.folder / "redis.pid").read_text().split()[0]
    w.row.notes.append(f"redis-server {pid} -> {back}; serve alive: {w.stack.alive('serve')}")


def abuse(root: Path, db: str, pg: PostgresCluster | None) -> Row:
    """One address posts the subscribe form 600 times in ~10 s and pulls the partner API
    as fast as it can, while 20 feed readers read: the flood gets 429s, the readers do
    not notice, and no address is subscribed twice."""
    with world("abuse-rate-limits", db, root, pg) as w:
        w.publish(threads=1, each=5, pause=0.0, run="abuse").join(timeout=30)  # to read
        readers, background = Answers(), Background()
        read_feeds(w.stack.url, 20, readers, background)
        flood = Answers()
        with httpx.Client(base_url=w.stack.url, timeout=TIMEOUT) as client:
            for n in range(600):
                form = {"email": f"flod{n}@posten.example", "language": "sv",
                        "frequency": "daily"}  # fmt: skip
                timed(flood, client, "POST", "/subscribe", data=form)
        background.close()
        accepted = check.scalar(w.database_url, "SELECT count(*) FROM subscribers")
        w.row.took(flood, "POST /subscribe")
        w.row.took(readers, "feed GET")
        w.row.recovered = 0.0
        w.row.notes.append(f"flood answers {dict(flood.statuses)}; {accepted} subscribers "
                           f"stored; readers {dict(readers.statuses)}")  # fmt: skip
        return w.row


def _handled(w: World) -> None:
    wait_until(lambda: check.unhandled_events(w.database_url) == 0, 60, "events not handled")


def _caught_up(w: World) -> bool:
    return check.unhandled_events(w.database_url) == 0 and check.digests_behind(w.database_url) == 0


SCENARIOS: dict[str, Callable[[Path, str, PostgresCluster | None], Row]] = {
    "burst": burst,
    "import": bulk_import,
    "redis-killed": redis_killed,
    "redis-frozen": redis_frozen,
    "pusher-killed": worker_killed_in_fanout,
    "worker-killed-digest": worker_killed_mid_digest,
    "smtp-down": smtp_down,
    "smtp-flaky": smtp_flaky,
    "partners": partners_misbehaving,
    "postgres-restart": postgres_restarted,
    "postgres-restart-digest": postgres_restarted_mid_digest,
    "disk-full": disk_full,
    "serve-redis-killed": serve_redis_killed,
    "abuse": abuse,
}
POSTGRES_ONLY = {"postgres-restart", "postgres-restart-digest"}
SQLITE_ONLY = {"serve-redis-killed"}  # the embedded defaults are SQLite
