"""Logs: one JSON object per line with the ids, and sweeps that found nothing kept quiet.

The records come from Celery's own logging calls (celery.app.trace.info, the beat's
logger), as a worker makes them.
"""

from __future__ import annotations

import json
import logging
import sys

import pytest
from celery.app import trace

from config.logs import JsonFormatter
from worker.logs import install_quiet_sweeps


def test_a_json_line_carries_the_ids_and_the_exception() -> None:
    log = logging.getLogger("worker.push")
    try:
        raise ValueError("Borlänge svarade 500")
    except ValueError:
        record = log.makeRecord(
            log.name, logging.WARNING, __file__, 1, "push %s to partner %s: retry", (7, 3),
            exc_info=sys.exc_info(), extra={"partner_id": 3, "event_id": 41, "article_id": 12},
        )  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "push 7 to partner 3: retry"
    assert (entry["level"], entry["logger"]) == ("WARNING", "worker.push")
    assert (entry["partner_id"], entry["event_id"], entry["article_id"]) == (3, 41, 12)
    assert "ValueError: Borlänge svarade 500" in entry["exception"]


def _success(name: str, returned: str) -> None:
    trace.info(trace.LOG_SUCCESS, {"id": "c0ffee", "name": name, "return_value": returned,
                                   "runtime": 0.01, "args": "()", "kwargs": "{}"})  # fmt: skip


@pytest.mark.parametrize(
    ("emit", "shown_at_info"),
    [
        pytest.param(lambda: _success("budkavle.sweep_partners", "0"), False, id="idle-sweep"),
        pytest.param(lambda: _success("budkavle.sweep_outbox", "3"), True, id="busy-sweep"),
        pytest.param(lambda: _success("budkavle.push_to_partner", "None"), True, id="a-push"),
        pytest.param(
            lambda: logging.getLogger("celery.beat").info(
                "Scheduler: Sending due task %s (%s)", "sweep-websub", "budkavle.sweep_websub"
            ),
            False, id="beat-rings-a-sweep",
        ),
    ],
)  # fmt: skip
def test_sweeps_that_found_nothing_log_at_debug(
    caplog: pytest.LogCaptureFixture, emit: object, shown_at_info: bool
) -> None:
    install_quiet_sweeps()
    caplog.set_level(logging.INFO)
    emit()  # type: ignore[operator]
    assert bool(caplog.records) == shown_at_info
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    emit()  # type: ignore[operator]
    (record,) = caplog.records
    assert record.levelname == ("INFO" if shown_at_info else "DEBUG")
