"""A lock that serves its waiters in the order they came.

SQLite's busy handler is the opposite of fair: a connection waiting for the write lock
sleeps 1, 2, 5 … then 100 ms between tries, so a newcomer takes the lock before one that
has waited long. Under a burst of publishes some waited seconds while newer ones went
first. newsroom/db.py queues a process's writers on this lock before BEGIN IMMEDIATE, so
only the first of them competes with other processes and the rest wait their turn.
"""

from __future__ import annotations

import threading
from collections import deque


class FifoLock:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, timeout: float) -> bool:
        """True once it is ours; False if ``timeout`` seconds passed first (nothing held)."""
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ran out: it is ours
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # stays held, now by the next in line
            else:
                self._held = False

    def reset(self) -> None:
        """Forget every holder and waiter: a forked child has none of its parent's threads."""
        self._mutex = threading.Lock()
        self._held = False
        self._waiters = deque()
