"""Logging for every process: text for people, or one JSON object per line for machines.

``BUDKAVLE_LOG_FORMAT=json`` (``budkavle serve --log-format json``) writes each record as
one JSON object: time, level, logger, message, and whatever the caller passed with
``extra=`` (``article_id``, ``edition_id``, ``partner_id``, ``event_id`` ...), so a log
store can find every line about one article or one partner without parsing sentences.
Hand-written rather than a package: it is these thirty lines, and the lock files stay as
they are.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# What every LogRecord has; anything else on a record came from ``extra=`` (uvicorn's
# color_message is the message again, with terminal colours).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def use_format(log_format: str, *logger_names: str) -> None:
    """Give every handler of these loggers (root: "") the chosen format: for handlers
    that Celery or uvicorn made, which know only their own text formats."""
    if log_format != "json":
        return
    for name in logger_names:
        for handler in logging.getLogger(name or None).handlers:
            handler.setFormatter(JsonFormatter())


def configure(level: str, log_format: str) -> None:
    """Like logging.basicConfig: the root logger gets a handler only if nobody gave it one
    (uvicorn configures only its own loggers; a test runner brings its own)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(log_format))
        root.addHandler(handler)
        root.setLevel(level)
    use_format(log_format, "uvicorn", "uvicorn.error", "uvicorn.access")
