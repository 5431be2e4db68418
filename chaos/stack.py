"""Budkavle's processes, started as the README's production section says, one process
group each, so a scenario can SIGKILL one (children included) and start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chaos.infra import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "chaos-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

PY = sys.executable
COMMANDS = {
    "web": [PY, "-m", "uvicorn", "web.app:create_app", "--factory", "--host", "127.0.0.1",
            "--port", "{port}", "--no-access-log", "--log-level", "warning"],
    "worker": [PY, "-m", "celery", "-A", "worker", "worker", "--loglevel", "WARNING",
               "--concurrency", "2", "-n", "worker@%h"],
    "pusher": [PY, "-m", "celery", "-A", "worker", "worker", "-Q", "push", "--pool",
               "threads", "--concurrency", "32", "--loglevel", "WARNING", "-n", "pusher@%h"],
    "beat": [PY, "-m", "celery", "-A", "worker", "beat", "--loglevel", "WARNING",
             "--schedule", "{data}/celerybeat-schedule"],
    # The README's quick start: everything in one command, on the embedded defaults.
    "serve": [PY, "-m", "budkavle", "serve", "--host", "127.0.0.1", "--port", "{port}"],
}  # fmt: skip


@dataclass
class Stack:
    folder: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str) -> None:
        argv = [part.format(port=self.port, data=self.folder) for part in COMMANDS[name]]
        with (self.folder / f"{name}.log").open("ab") as log:
            self.children[name] = subprocess.Popen(
                argv, env=self.env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )

    def alive(self, name: str) -> bool:
        child = self.children.get(name)
        return child is not None and child.poll() is None

    def kill(self, name: str) -> None:
        """SIGKILL to the whole group: the pool's children die with their parent."""
        child = self.children[name]
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is None:
            return
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                child.wait(timeout=15)
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()

    def cli(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> str:
        done = subprocess.run(
            [PY, "-m", "budkavle", *args], env=self.env, cwd=ROOT, input=stdin,
            capture_output=True, timeout=timeout,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"budkavle {' '.join(args)}: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.folder / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def environment(folder: Path, database_url: str, redis_url: str, **more: str) -> dict[str, str]:
    """Empty URLs: the embedded defaults (SQLite and Redis in the data folder)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BUDKAVLE_")}
    env.update(
        BUDKAVLE_DATABASE_URL=database_url,
        BUDKAVLE_REDIS_URL=redis_url,
        BUDKAVLE_ADMIN_TOKEN=ADMIN_TOKEN,
        BUDKAVLE_SECRET_KEY="chaos-secret-key",
        BUDKAVLE_DATA_DIR=str(folder),
        BUDKAVLE_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
        BUDKAVLE_LOG_LEVEL="WARNING",
        **more,
    )
    return env


@contextmanager
def running(stack: Stack, parts: tuple[str, ...]) -> Iterator[Stack]:
    subprocess.run([PY, "-m", "budkavle", "migrate"], env=stack.env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        for name in parts:
            stack.start(name)
        def answers() -> bool:
            return httpx.get(stack.url + "/healthz", timeout=1).status_code == 200

        wait_until(answers, 30, "the web did not answer")
        time.sleep(2)  # the workers connect to the broker
        # `serve` may have restarted its web meanwhile (started before its embedded Redis
        # answered): ask again.
        wait_until(answers, 30, "the web did not answer")
        yield stack
    finally:
        for name in list(stack.children):
            stack.stop(name)
