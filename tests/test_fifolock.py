"""SQLite writers of one process take their turns in arrival order (newsroom/fifolock.py)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from newsroom.db import make_engine
from newsroom.fifolock import FifoLock


def _queue_up(lock: FifoLock, count: int) -> tuple[list[int], list[threading.Thread]]:
    served: list[int] = []

    def wait_turn(number: int) -> None:
        assert lock.acquire(timeout=10)
        served.append(number)
        lock.release()

    threads = []
    for number in range(count):
        thread = threading.Thread(target=wait_turn, args=(number,))
        thread.start()
        threads.append(thread)
        _wait_until(lambda n=number: len(lock._waiters) == n + 1)  # in line before the next
    return served, threads


def _wait_until(condition: object) -> None:
    deadline = time.monotonic() + 5
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.001)


def test_waiters_are_served_in_the_order_they_came() -> None:
    lock = FifoLock()
    assert lock.acquire(timeout=1)
    served, threads = _queue_up(lock, 20)
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert served == list(range(20))
    assert lock.acquire(timeout=0), "free again once the line is empty"


def test_a_waiter_that_gives_up_leaves_the_line() -> None:
    lock = FifoLock()
    assert lock.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)
    assert not lock._waiters
    served, threads = _queue_up(lock, 2)
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert served == [0, 1], "the one that gave up was skipped, not handed the lock"


def test_a_failed_or_abandoned_sqlite_write_gives_its_turn_back(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/gate.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (v INTEGER PRIMARY KEY)"))
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))  # rolled back
    except Exception as error:
        assert "UNIQUE" in str(error)
    connection = engine.connect()
    connection.execute(text("INSERT INTO t VALUES (2)"))  # begun, then closed unfinished
    connection.close()
    done = threading.Event()

    def write() -> None:
        with engine.begin() as other:
            other.execute(text("INSERT INTO t VALUES (3)"))
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert done.wait(timeout=5), "a turn was never given back"
    writer.join()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT v FROM t")).scalars().all() == [3]
    engine.dispose()
