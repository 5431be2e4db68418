"""`budkavle serve` supervises what it started: a redis-server left by a crashed run is
stopped, not doubled; the embedded Redis and the worker are started again when they die,
and the worker lives through the Redis restart; SIGHUP (a closed terminal) stops it all."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest

from budkavle import embedded_redis
from config import Settings
from tests.redisproc import free_port
from tests.support import article, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Serve:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.settings = Settings(data_dir=folder / "var")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUDKAVLE_")}
        budkavle = Path(sys.executable).parent / "budkavle"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(budkavle), "serve", "--port", str(self.port), "--concurrency", "1"],
                cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def pids(self, name: str) -> list[int]:
        """Every pid the supervisor announced for ``name``, in order."""
        text = self.log.read_text(errors="replace")
        return [int(pid) for pid in re.findall(rf"budkavle: {name} started \(pid (\d+)\)", text)]

    def ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.base}/readyz", timeout=3).status_code == 200
        return False

    def publish_and_see(self, title: str) -> None:
        token = (self.folder / "var" / "admin-token").read_text().strip()
        created = httpx.post(
            f"{self.base}/api/articles",
            json=article(title=title),
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert created.status_code == 201, created.text

        def in_feed() -> bool:
            body = httpx.get(f"{self.base}/feeds/all.atom", timeout=3).content
            return title in [entry.title for entry in feedparser.parse(body).entries]

        wait_for(in_feed, timeout=30, interval=0.2, what=f"{title!r} in all.atom")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    running = Serve(tmp_path)
    running.settings.data_path.mkdir(parents=True)
    try:
        yield running
    finally:
        if running.process is not None and running.process.poll() is None:
            running.process.kill()  # its children get SIGTERM from the kernel (PDEATHSIG)
            running.process.wait()


def test_serve_restarts_what_dies_and_stops_it_all_on_sighup(serve: Serve) -> None:
    # A redis-server left running by a serve that was killed: on the socket, with its pid.
    stale = subprocess.Popen(embedded_redis.command(serve.settings), start_new_session=True)
    try:
        wait_for(lambda: embedded_redis.answers(serve.settings), timeout=10, what="stale")
        serve.start()
        wait_for(serve.ready, timeout=60, interval=0.25, what="budkavle serve to be ready")
        assert stale.poll() is not None, "the stale redis-server still runs"
    finally:
        if stale.poll() is None:
            stale.kill()
        stale.wait()
    [redis_pid] = serve.pids("redis")
    assert redis_pid != stale.pid
    [worker_pid] = serve.pids("worker")

    os.kill(redis_pid, signal.SIGKILL)
    wait_for(lambda: len(serve.pids("redis")) == 2, timeout=15, what="Redis started again")
    serve.publish_and_see("Färjetrafiken till Åland återupptas")
    assert serve.pids("worker") == [worker_pid] and alive(worker_pid)  # it lived through

    os.kill(worker_pid, signal.SIGKILL)
    wait_for(lambda: len(serve.pids("worker")) == 2, timeout=15, what="the worker again")
    serve.publish_and_see("Norrskenet syntes ända ner till Skåne")

    assert serve.process is not None
    serve.process.send_signal(signal.SIGHUP)
    assert serve.process.wait(timeout=45) == 0
    for name in ("redis", "web", "worker", "pusher"):
        assert not alive(serve.pids(name)[-1]), f"{name} outlived serve"
    assert not serve.settings.redis_socket.exists()
    assert not embedded_redis.pid_file(serve.settings).exists()
    log = serve.log.read_text()
    assert f"stopped a redis-server left running (pid {stale.pid})" in log
    assert "Unrecoverable error" not in log


def test_one_serve_per_data_folder(tmp_path: Path) -> None:
    from budkavle.serve import AlreadyServing, serve_lock

    settings = Settings(data_dir=tmp_path)
    with serve_lock(settings):
        lock = serve_lock(settings)
        with pytest.raises(AlreadyServing, match=f"pid {os.getpid()}"):
            lock.__enter__()


def test_a_reused_pid_in_a_stale_pid_file_is_left_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        embedded_redis.pid_file(settings).write_text(f"{bystander.pid}\n")
        assert embedded_redis.stop_stale(settings) is None
        assert bystander.poll() is None
        assert not embedded_redis.pid_file(settings).exists()
    finally:
        bystander.kill()
        bystander.wait()
