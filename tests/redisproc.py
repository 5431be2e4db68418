"""A redis-server of a test's own, on a free loopback port: to kill, restart and freeze."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        # Append-only, synced on every write: what a restart keeps is all that was written,
        # as with the production compose file's Redis.
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--protected-mode", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        wait_for(lambda: self._answers(client), timeout=10, what="redis-server to answer")
        return self

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        with contextlib.suppress(redis.RedisError):
            return bool(client.ping())
        return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP: the kernel still accepts connections; nothing ever answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    @classmethod
    @contextlib.contextmanager
    def running(cls, folder: Path) -> Iterator[RedisProcess]:
        server = cls(folder).start()
        try:
            yield server
        finally:
            if server.process is not None:
                server.process.send_signal(signal.SIGCONT)
            server.kill()
