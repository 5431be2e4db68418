"""Keeps the processes of `budkavle serve` running: a child that dies is started again
after a pause that doubles with each quick death; SIGINT, SIGTERM and SIGHUP stop them
all, those marked ``stop_last`` (the embedded Redis) after the others.

Children run in their own process group: a Ctrl-C or a closed terminal reaches the
supervisor alone, which stops the workers before the Redis they acknowledge to. On
Linux each child also gets SIGTERM should the supervisor itself be killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
STEADY_SECONDS = 30.0  # a child that ran this long died "for the first time" again
STOP_TIMEOUT = 15.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    argv: list[str]
    # Called after each start; True when the child is ready to serve the next ones.
    ready: Callable[[], bool] = lambda: True
    stop_last: bool = False  # what the others need until they are gone (the broker)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    log: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))

    def start(self, env: dict[str, str]) -> None:
        self.kill_group()  # whatever the last one left behind
        self.process = subprocess.Popen(  # noqa: S603
            self.argv, env=env, cwd=Path.cwd(), process_group=0, preexec_fn=_die_with_parent
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.log(f"budkavle: {self.name} started (pid {self.process.pid})")

    def check(self, now: float) -> None:
        """Notice a death and plan the restart; the pause doubles while deaths come quick."""
        if self.process is None or self.restart_at is not None:
            return
        code = self.process.poll()
        if code is None:
            return
        if now - self.started_at >= STEADY_SECONDS:
            self.quick_deaths = 0
        pause = min(LONGEST_PAUSE, FIRST_PAUSE * 2**self.quick_deaths)
        self.quick_deaths += 1
        self.restart_at = now + pause
        self.log(f"budkavle: {self.name} exited ({code}); starting it again in {pause:g} s")
        # Its own children (celery's embedded beat, pool processes) would live on, and the
        # next start would double them: they go now, and for sure before that start.
        self.kill_group(signal.SIGTERM)

    def kill_group(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)


def _die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM): no orphan outlives a supervisor killed with -9."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, children: list[Child], env: dict[str, str]) -> None:
        self.children = children
        self.env = env
        self.stopping = False

    def run(self, wait_ready: float = 30.0) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        try:
            for child in self.children:
                if self.stopping:
                    break
                child.start(self.env)
                self._wait_ready(child, wait_ready)
            while not self.stopping:
                now = time.monotonic()
                for child in self.children:
                    child.check(now)
                    if child.restart_at is not None and now >= child.restart_at:
                        child.start(self.env)
                time.sleep(0.1)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _wait_ready(self, child: Child, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.stopping and time.monotonic() < deadline:
            if child.ready():
                return
            if child.process is not None and child.process.poll() is not None:
                return  # check() restarts it
            time.sleep(0.05)

    def _stop_all(self) -> None:
        first = [child for child in self.children if not child.stop_last]
        for group in (first, [child for child in self.children if child.stop_last]):
            running = [c.process for c in group if c.process and c.process.poll() is None]
            for process in running:
                process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for child in group:
                child.kill_group()  # anything its leader left behind
