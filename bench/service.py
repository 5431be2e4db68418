"""Budkavle's real processes for a benchmark: a fresh database, uvicorn, a Celery worker.

The processes are started the way production starts them (README, "Production": uvicorn
and `celery -A worker worker` side by side, not `budkavle serve`), each in a process
group of its own, so that stopping the group also stops uvicorn's and Celery's children
— on success, on error and on Ctrl-C alike. Beat is not started: the sweepers only
matter when a bell is lost, and a benchmark that lost one would time out and say so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis
from celery import Celery
from sqlalchemy.engine import make_url

# The source tree the processes run (`python -m` puts it first on sys.path): this one, or
# BENCH_ROOT, e.g. a copy with a change applied, to measure the change before making it.
ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parent.parent)
# Redis db 13 and the PostgreSQL database "bench" are set aside for benchmarks, so a run
# never empties what the tests (db 10-12, database "test") are using.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
)
ADMIN_TOKEN = "bench-admin-token"
STOP_TIMEOUT = 15.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fresh_database(db: str, data_dir: Path) -> str:
    """An empty database: a new SQLite file, or PostgreSQL's "bench" dropped and made again."""
    if db == "sqlite":
        return f"sqlite:///{data_dir / 'bench.db'}"
    url = make_url(POSTGRES_URL)
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        # FORCE: a previous run killed with -9 may have left connections behind.
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}"')
    return POSTGRES_URL


def environment(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BUDKAVLE_DATABASE_URL=database_url,
        BUDKAVLE_REDIS_URL=REDIS_URL,
        BUDKAVLE_ADMIN_TOKEN=ADMIN_TOKEN,
        BUDKAVLE_SECRET_KEY="bench-secret-key",
        BUDKAVLE_DATA_DIR=str(data_dir),
        BUDKAVLE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        BUDKAVLE_LOG_LEVEL="WARNING",
    )
    return env


def prepare(db: str, data_dir: Path, port: int) -> dict[str, str]:
    """Fresh database, migrated; an empty Redis db (no tasks left from an aborted run)."""
    env = environment(fresh_database(db, data_dir), data_dir, port)
    redis.Redis.from_url(REDIS_URL).flushdb()
    subprocess.run([sys.executable, "-m", "budkavle", "migrate"], env=env, cwd=ROOT, check=True)
    return env


@dataclass(frozen=True)
class Service:
    url: str
    env: dict[str, str]
    groups: dict[str, int]  # "web", "worker" -> process group id (= the leader's pid)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU used so far by each part, children included (uvicorn's, Celery's pool)."""
        return {name: _group_cpu(pgid) for name, pgid in self.groups.items()}


@contextmanager
def running(
    env: dict[str, str], port: int, *, web_workers: int = 1, worker: bool = True
) -> Iterator[Service]:
    """uvicorn (and a Celery worker) on loopback until the block ends."""
    python = sys.executable
    web = [
        python, "-m", "uvicorn", "web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if web_workers > 1:
        web += ["--workers", str(web_workers)]
    celery = [
        python, "-m", "celery", "-A", "worker", "worker",
        "--concurrency", "2", "--loglevel", "WARNING",
    ]  # fmt: skip
    log_dir = Path(env["BUDKAVLE_DATA_DIR"])
    with ExitStack() as stack:
        groups = {"web": stack.enter_context(process("web", web, env, log_dir))}
        if worker:
            groups["worker"] = stack.enter_context(process("worker", celery, env, log_dir))
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", timeout=30)
        if worker:
            _wait_worker(timeout=60)
        yield Service(url, env, groups)


@contextmanager
def process(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Iterator[int]:
    """Start ``argv`` in a process group of its own; its id, which is the child's pid."""
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield child.pid
        if child.poll() is not None:
            raise RuntimeError(f"{name} exited early ({child.returncode})")
    except BaseException:
        # The data folder goes with the run: show what the process said while it is here.
        _stop(child)
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print(f"--- last lines of {name}'s log:", *tail, sep="\n", file=sys.stderr)
        raise
    else:
        _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the leader (uvicorn and Celery stop their own children), then the group."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    with suppress(ProcessLookupError):  # anything of that group still alive goes too
        os.killpg(child.pid, signal.SIGKILL)


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.1)


def _wait_worker(timeout: float) -> None:
    """A Celery control ping: the worker consumes, so the first publish is not a cold start."""
    app = Celery(broker=REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Celery worker answered within {timeout:.0f}s")
    finally:
        app.close()


def _group_cpu(pgid: int) -> float:
    """User + system seconds of the live processes of one group, from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the `with` blocks above stop every process."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextmanager
def cpu_report() -> Iterator[None]:
    """Print how busy the machine was, and whose work that was.

    Others may run tests on the same cores; a run that shared them says so. Children are
    counted once they have been waited for, which `running` does before this block ends.
    """
    speed_before = calibrate()
    before, machine = os.times(), _machine_busy()
    try:
        yield
    finally:
        after, busy = os.times(), _machine_busy() - machine
        speed_after = calibrate()
        wall = after.elapsed - before.elapsed
        ours = sum(after[:4]) - sum(before[:4])  # user, system, children's user and system
        cores = os.cpu_count() or 1
        print(
            f"CPU over {wall:.0f} s on {cores} cores: machine {busy / wall / cores:.0%} busy; "
            f"this benchmark (script, service, nginx, wrk) {ours / wall / cores:.0%}, "
            f"everything else (PostgreSQL, Redis, other users) {(busy - ours) / wall / cores:.0%}"
            f"\nCPU speed, a fixed pure-Python loop (lower is faster): {speed_before:.0f} ms "
            f"before, {speed_after:.0f} ms after"
        )


def calibrate() -> float:
    """Milliseconds for a fixed piece of pure-Python work, the best of three.

    The same code ran 40% slower on this virtual machine one hour than the next, with
    nothing else running in it: runs are comparable only when this number is close.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _machine_busy() -> float:
    """Seconds of CPU the whole machine spent not idle, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
