"""Real parts: Redis on 127.0.0.1 (db 10), SQLite and PostgreSQL, a Celery worker, uvicorn."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before anything imports the Celery app: it reads its broker URL at import.
_DATA = Path(tempfile.mkdtemp(prefix="budkavle-tests-"))
os.environ.update(
    {
        "BUDKAVLE_REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/10"),
        "BUDKAVLE_DATA_DIR": str(_DATA),
        "BUDKAVLE_ADMIN_TOKEN": "test-admin-token",
        "BUDKAVLE_SECRET_KEY": "test-secret-key",
        "BUDKAVLE_PUBLIC_URL": "https://nyheter.example",
        "BUDKAVLE_OUTBOX_GRACE_SECONDS": "1",
    }
)
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

import pytest  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import text  # noqa: E402

from config import get_settings  # noqa: E402
from newsroom.db import get_engine, migrate  # noqa: E402
from newsroom.models import Base  # noqa: E402
from tests.support import ADMIN, Server  # noqa: E402


def _use_database(url: str) -> None:
    os.environ["BUDKAVLE_DATABASE_URL"] = url
    get_settings.cache_clear()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test that asks for it runs on SQLite and on PostgreSQL."""
    url = f"sqlite:///{_DATA / 'test.db'}" if request.param == "sqlite" else POSTGRES_URL
    _use_database(url)
    engine = get_engine()
    with engine.begin() as connection:  # start from nothing: the migrations make the schema
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate(engine)
    yield request.param
    _use_database(url)


@pytest.fixture
def db(database: str) -> Iterator[str]:
    """Empty tables and an empty test Redis for every test."""
    _use_database(os.environ["BUDKAVLE_DATABASE_URL"])
    engine = get_engine()
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            # AUTOINCREMENT tables (subscribers) count on in sqlite_sequence: start at 1.
            connection.execute(text("DELETE FROM sqlite_sequence"))
    redis.Redis.from_url(get_settings().redis_client_url).flushdb()
    yield database


@pytest.fixture
def server(db: str) -> Iterator[Server]:
    """The real web app on a free loopback port."""
    from web.app import create_app

    with Server.running(create_app()) as running:
        yield running


@pytest.fixture
def celery_worker(db: str) -> Iterator[None]:
    """A real Celery worker (threads, in this process) on the test Redis, on both queues."""
    from celery.contrib.testing.worker import start_worker

    from worker.app import PUSH_QUEUE, app

    # Redis BRPOP waits this long per poll; a worker stops only after its poll returns.
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "polling_interval": 0.1,
    }
    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        queues=["celery", PUSH_QUEUE],
        perform_ping_check=False,
        shutdown_timeout=10,
    ) as worker:
        pool = worker.pool
        yield
    # start_worker stops cold, which leaves the thread pool's running tasks running: wait
    # for them, so that none writes into the next test's database or broker.
    pool.executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def admin() -> dict[str, str]:
    return dict(ADMIN)


from tests.smtpsink import SmtpSink  # noqa: E402


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port, recording every message."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def mail(db: str, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """Settings that send email to the sink, in batches of 10, with no debounce window."""
    monkeypatch.setenv("BUDKAVLE_EMAIL_URL", smtp_sink.url)
    monkeypatch.setenv("BUDKAVLE_DIGEST_BATCH_SIZE", "10")
    monkeypatch.setenv("BUDKAVLE_DIGEST_WINDOW_SECONDS", "0")
    get_settings.cache_clear()
    yield smtp_sink
    monkeypatch.undo()
    get_settings.cache_clear()
