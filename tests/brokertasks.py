"""A task for the broker tests' worker processes (``celery -A worker worker -I ...``): it
marks its start and end in a folder, so a test sees what ran, and how often."""

from __future__ import annotations

import time
from pathlib import Path

from worker.app import app

HOLD = "tests.hold"


@app.task(name=HOLD, acks_late=True)
def hold(folder: str, name: str, seconds: float) -> None:
    marks = Path(folder)
    (marks / f"{name}.start.{time.monotonic_ns()}").touch()
    time.sleep(seconds)
    (marks / f"{name}.done.{time.monotonic_ns()}").touch()


def marks(folder: Path, name: str, what: str) -> int:
    return len(list(folder.glob(f"{name}.{what}.*")))
