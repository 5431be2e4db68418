"""Redis killed under a real Celery worker process (the README's `celery -A worker worker`)
and started again: the worker lives on, handles what is rung after the restart, and the
message it held unacknowledged at the kill (late acks) is delivered again and handled.
Redis frozen while tasks run, so that their acks time out: the worker still takes new
work once it thaws."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from config import Settings
from tests.brokertasks import HOLD, marks
from tests.redisproc import RedisProcess
from tests.support import wait_for
from worker.app import create_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

DOWN_SECONDS = 3.0


@contextlib.contextmanager
def celery_worker_process(
    redis_url: str, folder: Path, pool: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDKAVLE_")}
    env.update(
        BUDKAVLE_REDIS_URL=redis_url,
        BUDKAVLE_DATA_DIR=str(folder),
        BUDKAVLE_DATABASE_URL=f"sqlite:///{folder / 'budkavle.db'}",
    )
    command = [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "-I", "tests.brokertasks",
        "--pool", pool, "--concurrency", "2", "--loglevel", "INFO",
        "--logfile", str(folder / "worker.log"),
    ]  # fmt: skip
    # A session of its own, so that the cleanup takes every pool process along.
    process = subprocess.Popen(
        command, env=env, cwd=Path(__file__).parent.parent, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def producer(tmp_path: Path) -> Iterator[tuple[RedisProcess, Celery]]:
    with RedisProcess.running(tmp_path) as server:
        app = create_app(Settings(redis_url=server.url, data_dir=tmp_path))
        try:
            yield server, app
        finally:
            app.close()


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_worker_outlives_a_redis_restart_and_loses_no_message(
    producer: tuple[RedisProcess, Celery], tmp_path: Path, pool: str
) -> None:
    server, app = producer
    folder = tmp_path / "marks"
    folder.mkdir()
    with celery_worker_process(server.url, tmp_path, pool) as worker:
        app.send_task(HOLD, args=[str(folder), "warm", 0])
        wait_for(lambda: marks(folder, "warm", "done"), timeout=30, what="a started worker")

        # Late acks: while this runs, its message is unacknowledged.
        app.send_task(HOLD, args=[str(folder), "inflight", 2.0])
        wait_for(lambda: marks(folder, "inflight", "start"), timeout=10, what="the long task")
        server.kill()
        time.sleep(DOWN_SECONDS)
        server.start()

        app.send_task(HOLD, args=[str(folder), "after", 0])
        wait_for(lambda: marks(folder, "after", "done"), timeout=30, what="a task rung after")
        # Put back when the broker answered again, and handled a second time.
        wait_for(
            lambda: marks(folder, "inflight", "done") >= 2,
            timeout=30,
            what="the message held at the kill to be handled again",
        )
        assert worker.poll() is None, "the worker exited"
    log = (tmp_path / "worker.log").read_text()
    assert "Unrecoverable error" not in log, log
    assert server.client().hlen("unacked") == 0  # nothing left waiting for a timeout


def test_a_worker_takes_new_work_after_its_acks_timed_out_on_a_frozen_redis(
    producer: tuple[RedisProcess, Celery], tmp_path: Path
) -> None:
    server, app = producer
    folder = tmp_path / "marks"
    folder.mkdir()
    with celery_worker_process(server.url, tmp_path, "prefork") as worker:
        app.send_task(HOLD, args=[str(folder), "warm", 0])
        wait_for(lambda: marks(folder, "warm", "done"), timeout=30, what="a started worker")

        # As many tasks as the worker prefetches (2 processes x 1), all acked while frozen.
        for name in ("first", "second"):
            app.send_task(HOLD, args=[str(folder), name, 1.0])
        wait_for(lambda: marks(folder, "second", "start"), timeout=10, what="both tasks")
        with server.frozen():
            wait_for(
                lambda: marks(folder, "first", "done") and marks(folder, "second", "done"),
                timeout=10,
                what="both tasks to finish",
            )
            time.sleep(2 * Settings().redis_timeout_seconds + 0.5)  # their acks time out

        app.send_task(HOLD, args=[str(folder), "after", 0])
        wait_for(lambda: marks(folder, "after", "done"), timeout=20, what="a task after")
        assert worker.poll() is None
    log = (tmp_path / "worker.log").read_text()
    assert "Couldn't ack" in log, "the acks must time out for this test to mean much"
