"""The Celery application: Redis as the broker, JSON ids as messages, the beat schedule."""

from __future__ import annotations

import re
from typing import Any

from celery import Celery

from config import Settings, settings_or_exit
from worker.heartbeat import Heartbeat
from worker.logs import install_quiet_sweeps
from worker.transport import broker

PUSH_QUEUE = "push"
# Pruning the outbox (newsroom/retention.py): often enough that each run is a few batches.
PRUNE_INTERVAL_SECONDS = 60.0
PUSH_TASKS = re.compile(
    r"budkavle\.(push_to_partner|push_batch|push_websub|verify_websub_intent)$"
)


def transport_options(settings: Settings) -> dict[str, object]:
    """Every Redis call of the broker is bounded, so a frozen Redis (it accepts connections
    and never answers) costs a publish about ``redis_timeout_seconds``, never a hang."""
    timeout = settings.redis_timeout_seconds
    return {
        # Redis re-delivers a message unacknowledged this long; keep it above the slowest task.
        "visibility_timeout": settings.task_visibility_timeout,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        # kombu's retries when a publisher (re)connects: one try, then the caller's error.
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.1,
        "interval_max": 0.1,
    }


# A send that is not the bell's (which never retries): one quick retry at most.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def create_app(settings: Settings | None = None) -> Celery:
    """The app; without settings, they are read when Celery first needs its configuration,
    so importing the app (the CLI does) works even when a setting is bad, and the
    `celery -A worker` command prints one line about it instead of a traceback."""
    app = Celery("budkavle", include=["worker.tasks"])
    if settings is None:
        app.add_defaults(lambda: configuration(settings_or_exit()))
    else:
        app.conf.update(configuration(settings))
    app.steps["consumer"].add(Heartbeat)
    return app


def configuration(settings: Settings) -> dict[str, Any]:
    url, transport = broker(settings.broker_url)
    conf: dict[str, Any] = dict(
        broker_url=url,
        broker_transport=transport,
        broker_transport_options=transport_options(settings),
        # Total time to (re)connect a publisher; consumers retry on their own schedule.
        broker_connection_timeout=settings.redis_timeout_seconds,
        task_publish_retry_policy=PUBLISH_RETRY,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        timezone="UTC",
        # Tasks are idempotent (they converge rows), so acknowledge after running: a worker
        # killed mid-task leaves its message to be delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # No task events unless someone watches: Flower turns them on in the workers it
        # monitors (its --enable-events, on by default). Sending them cost 8 of the 67 ms
        # of worker CPU per publish (bench/RESULTS.md).
        worker_send_task_events=False,
        # Calls to other people's servers wait on the network: they get their own queue
        # (and a worker with many threads), so a slow partner never delays a feed.
        task_routes={
            PUSH_TASKS: {"queue": PUSH_QUEUE},
        },
        beat_schedule_filename=str(settings.data_path / "celerybeat-schedule"),
        beat_schedule={
            "sweep-outbox": {
                "task": "budkavle.sweep_outbox",
                "schedule": settings.sweep_interval_seconds,
            },
            "publish-scheduled": {
                "task": "budkavle.publish_scheduled",
                "schedule": settings.sweep_interval_seconds,
            },
            "sweep-partners": {
                "task": "budkavle.sweep_partners",
                "schedule": settings.sweep_interval_seconds,
            },
            "sweep-websub": {
                "task": "budkavle.sweep_websub",
                "schedule": settings.sweep_interval_seconds,
            },
            "sweep-digests": {
                "task": "budkavle.sweep_digests",
                "schedule": settings.sweep_interval_seconds,
            },
            "prune-outbox": {
                "task": "budkavle.prune_outbox",
                "schedule": PRUNE_INTERVAL_SECONDS,
            },
        },
    )
    if settings.bounce_imap_url:
        # The bounce mailbox (worker/bouncebox.py); without one, nothing to read.
        conf["beat_schedule"]["read-bounce-mailbox"] = {
            "task": "budkavle.read_bounce_mailbox",
            "schedule": settings.bounce_imap_interval_seconds,
        }
    return conf


app = create_app()
install_quiet_sweeps()
