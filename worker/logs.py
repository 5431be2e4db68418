"""The worker's logs: the chosen format (text or JSON), and quiet sweeps.

Beat rings five sweepers every few seconds; Celery logs "Sending due task", "Received
task" and "Task ... succeeded" for each at INFO, three lines a second of noise in which a
real event drowns. Those lines go to DEBUG when they are about a sweep, except the
"succeeded" line of a sweep that found something (it returns how many rows it rang for),
which stays at INFO: that is news.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

from config import get_settings
from config.logs import use_format

SWEEPS = frozenset(
    {
        "budkavle.sweep_outbox",
        "budkavle.publish_scheduled",
        "budkavle.sweep_partners",
        "budkavle.sweep_websub",
        "budkavle.sweep_digests",
        "budkavle.prune_outbox",
    }
)
# The loggers of celery.app.trace ("succeeded"), celery.worker.strategy ("Received") and
# celery.beat ("Sending due task"), by the names Celery gives them.
_CELERY_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


def _is_idle_sweep(record: logging.LogRecord) -> bool:
    data = getattr(record, "data", None)  # what trace and strategy pass with extra=
    if isinstance(data, dict) and data.get("name") in SWEEPS:
        return "return_value" not in data or data["return_value"] in ("0", 0)
    if record.name == "celery.beat" and isinstance(record.args, tuple):
        return any(arg in SWEEPS for arg in record.args)
    return False


class QuietSweeps(logging.Filter):
    """Demotes a sweep's routine lines to DEBUG (shown only when DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not _is_idle_sweep(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def install_quiet_sweeps() -> None:
    for name in _CELERY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietSweeps) for f in logger.filters):
            logger.addFilter(QuietSweeps())


def _root_format(logger: logging.Logger, **_: Any) -> None:
    use_format(get_settings().log_format, logger.name if logger.name != "root" else "")


def _task_format(logger: logging.Logger, **_: Any) -> None:
    use_format(get_settings().log_format, logger.name)


# Celery's own handlers, once it has made them, get the chosen format too.
after_setup_logger.connect(_root_format, weak=False)
after_setup_task_logger.connect(_task_format, weak=False)
