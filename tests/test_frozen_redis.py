"""A frozen Redis (SIGSTOP: it accepts connections and never answers) under a real web
process: a publish still answers 201 within about a second (the row is committed; the
outbox sweeper rings later), and /readyz answers 503 in time instead of hanging."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.redisproc import RedisProcess, free_port
from tests.support import article, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

TOKEN = "frusen-redis-token"


@contextlib.contextmanager
def web_process(redis_url: str, folder: Path) -> Iterator[httpx.Client]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDKAVLE_")}
    env.update(
        BUDKAVLE_REDIS_URL=redis_url,
        BUDKAVLE_DATA_DIR=str(folder),
        BUDKAVLE_ADMIN_TOKEN=TOKEN,
        BUDKAVLE_SECRET_KEY="frusen-redis-secret",
    )
    budkavle = Path(sys.executable).parent / "budkavle"
    subprocess.run([budkavle, "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=Path(__file__).parent.parent)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    try:

        def up() -> bool:
            assert process.poll() is None, "the web process exited"
            with contextlib.suppress(httpx.TransportError):
                return client.get("/healthz").status_code == 200
            return False

        wait_for(up, timeout=30, interval=0.2, what="the web process")
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_frozen_redis_costs_a_publish_about_a_second(tmp_path: Path) -> None:
    with RedisProcess.running(tmp_path) as server, web_process(server.url, tmp_path) as web:
        first = web.post("/api/articles", json=article())
        assert first.status_code == 201, first.text  # the bell rang on a live Redis

        with server.frozen():
            started = time.monotonic()
            frozen = web.post(
                "/api/articles", json=article(title="Snöstorm stänger E4 vid Härnösand")
            )
            took = time.monotonic() - started
            assert frozen.status_code == 201, frozen.text
            assert took < 1.5, f"publishing took {took:.2f} s"

            started = time.monotonic()
            ready = web.get("/readyz")
            took = time.monotonic() - started
            assert ready.status_code == 503
            assert ready.json()["redis"].startswith("error")
            assert took < 2.5, f"/readyz took {took:.2f} s"

        listed = web.get("/api/articles").json()
        assert len(listed) == 2  # committed either way: the sweeper rings for it later
