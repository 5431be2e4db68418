"""Servers of the suite's own, on free loopback ports: Redis and a PostgreSQL cluster.

They are ours to kill, freeze (SIGSTOP) and restart; the machine's own Redis and
PostgreSQL, which tests and other people use, are never touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not _true(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)


def _true(check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except Exception:
        return False


class RedisServer:
    """redis-server without persistence: a kill loses its queues, as a crash would."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        log = (self.folder / "redis.log").open("ab")
        self._child = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_until(client.ping, 10, "redis-server did not answer")

    def kill(self) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait()

    def freeze(self) -> None:
        assert self._child is not None
        self._child.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._child is not None
        self._child.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._child is not None:
            self.thaw()
        self.kill()


class PostgresCluster:
    """A throwaway cluster (initdb), run as the postgres user when we are root."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.data = folder / "pgdata"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/chaos"
        self._bin = _postgres_bin()

    def _run(self, *argv: str) -> None:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        if not self.data.exists():
            self.data.mkdir(parents=True)
            if os.geteuid() == 0:
                user = pwd.getpwnam("postgres")
                os.chown(self.data, user.pw_uid, user.pw_gid)
                os.chown(self.data.parent, user.pw_uid, user.pw_gid)
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E",
                      "UTF8", "--no-sync")  # fmt: skip
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "start",
            "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off",
        )  # fmt: skip
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname='chaos'").fetchone():
                conn.execute("CREATE DATABASE chaos")

    def kill(self) -> None:
        """As a crash: the postmaster and its children die at once."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not _alive(pid), 10, "PostgreSQL did not die")
            # Its backends notice the postmaster is gone and exit on their own.
            time.sleep(0.5)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise RuntimeError("PostgreSQL's initdb not found: apt-get install postgresql")
    return versions[-1].parent
