"""A real Celery worker process killed with SIGKILL in the middle of a 2,000-subscriber
digest; a new one takes over. Every subscriber ends with exactly one email: only a
message in flight on the dead connection may come twice, with the same Message-ID."""

from __future__ import annotations

import contextlib
import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from config import get_settings
from newsroom.db import session_scope
from newsroom.models import Frequency, Subscriber, SubscriberStatus, utcnow
from tests.mailsupport import plan, publish
from tests.smtpsink import SmtpSink
from tests.support import wait_for
from worker import bell

pytestmark = pytest.mark.slow

SUBSCRIBERS = 2000


@pytest.fixture
def worker_env(
    db: str, smtp_sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("BUDKAVLE_EMAIL_URL", smtp_sink.url)
    monkeypatch.setenv("BUDKAVLE_DIGEST_BATCH_SIZE", "250")
    monkeypatch.setenv("BUDKAVLE_DIGEST_LEASE_SECONDS", "2")
    monkeypatch.setenv("BUDKAVLE_SWEEP_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("BUDKAVLE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield {**os.environ}
    monkeypatch.undo()
    get_settings.cache_clear()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker",
        "worker",
        "--beat",
        "--pool",
        "threads",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
        "--logfile",
        str(Path(env["BUDKAVLE_DATA_DIR"]) / "worker.log"),
    ]
    # A session of its own: the kill takes the embedded beat process along, as a lost
    # machine or container would, and no orphan keeps ringing bells into later tests.
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


def test_a_killed_worker_leaves_every_subscriber_with_one_email(
    worker_env: dict[str, str], smtp_sink: SmtpSink
) -> None:
    now = utcnow()
    rows = [
        {
            "email": f"lasare{number:04d}@example.se",
            "status": SubscriberStatus.ACTIVE,
            "language": "sv",
            "frequency": Frequency.DAILY,
            "tags": [],
            "time_zone": "Europe/Stockholm",
            "consent_at": now,
            "consent_form": "test",
            "digest_position": 0,
            "failures": 0,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(SUBSCRIBERS)
    ]
    with session_scope() as session:
        session.execute(insert(Subscriber), rows)
    publish()
    batches = plan(Frequency.DAILY)
    assert len(batches) == SUBSCRIBERS // 250

    first = start_worker(worker_env)
    try:
        bell.ring_digest_batches(batches)
        wait_for(lambda: len(smtp_sink.messages) >= 300, timeout=60, what="the first 300")
        kill(first)
        killed_at = len(smtp_sink.messages)
        assert killed_at < SUBSCRIBERS, "the worker must die mid-digest for this test to mean much"
    finally:
        kill(first)

    second = start_worker(worker_env)
    try:
        wait_for(
            lambda: len({m.rcpt_tos[0] for m in smtp_sink.messages}) >= SUBSCRIBERS,
            timeout=120,
            what="every subscriber's email after the restart",
        )
        # Past a lease and a few sweeps: anything that would go twice has gone by now.
        time.sleep(3)
    finally:
        kill(second, signal.SIGTERM)

    counts = Counter(message.rcpt_tos[0] for message in smtp_sink.messages)
    assert len(counts) == SUBSCRIBERS
    doubles = [address for address, count in counts.items() if count > 1]
    # At most the messages in flight on the killed worker's connections (one per thread).
    assert len(doubles) <= 2, doubles
    for address in doubles:
        ids = {
            email.message_from_bytes(message.data)["Message-ID"]
            for message in smtp_sink.messages
            if message.rcpt_tos[0] == address
        }
        assert len(ids) == 1, f"{address} got two different messages"
