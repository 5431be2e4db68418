"""Engines, sessions and migrations; the same code on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings

CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10


def make_engine(url: str, *, writes: bool = True) -> Engine:
    """An engine for ``url``; on SQLite, ``writes=False`` gives one for transactions that
    only read, which then never queue for the write lock (see read_scope)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Bounded waits: a server that accepts the TCP connection and never answers (frozen,
        # or a full backlog) fails a new connection after CONNECT_TIMEOUT_SECONDS, and a
        # checkout from a full pool after POOL_TIMEOUT_SECONDS, instead of hanging a request.
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            # One given in the URL (?connect_timeout=2) wins.
            connect_args={"connect_timeout": parsed.query.get("connect_timeout",
                                                              CONNECT_TIMEOUT_SECONDS)},
        )

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    # pysqlite's own transaction handling begins too late (only before DML), and a
    # deferred transaction that read first fails at once ("database is locked") when it
    # then writes after another writer committed. SQLAlchemy's documented recipe: turn
    # pysqlite's handling off and BEGIN ourselves; IMMEDIATE takes SQLite's one write lock
    # up front, so transactions queue (busy timeout) instead of failing.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


_engines: list[Engine] = []


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    engine = make_engine(url)
    _engines.append(engine)
    return engine


@lru_cache(maxsize=8)
def _reader_for(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return engine_for(url)  # only SQLite makes a reader queue behind the writers
    engine = make_engine(url, writes=False)
    _engines.append(engine)
    return engine


def _forget_inherited_connections() -> None:
    # A forked child (a Celery prefork worker) must not use the parent's sockets; drop
    # them without closing them, so the parent's stay good (SQLAlchemy's advice).
    for engine in _engines:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def get_engine() -> Engine:
    return engine_for(get_settings().sqlalchemy_url)


@lru_cache(maxsize=8)
def _sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit if the block ends normally, roll back if it raises."""
    session = _sessionmaker(engine or get_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope() -> Iterator[Session]:
    """One transaction that only reads: the last committed state, at once.

    On SQLite, session_scope's BEGIN IMMEDIATE waits for the one write lock, which the
    worker holds feed after feed while it refreshes; in WAL mode a plain BEGIN reads the
    last commit without waiting. Never write here: a write may fail as "database is
    locked" instead of queueing.
    """
    with session_scope(_reader_for(get_settings().sqlalchemy_url)) as session:
        yield session


def lock(session: Session, name: str) -> None:
    """Hold an exclusive lock on ``name`` until the session's transaction ends.

    Call it first in the transaction: what is read after it is at least as new as
    what the previous holder wrote. PostgreSQL: a transaction-scoped advisory lock.
    SQLite: every transaction already holds the database's one write lock (BEGIN
    IMMEDIATE above), which is stronger still.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("newsroom") / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def migrate(engine: Engine | None = None) -> None:
    """Bring the schema to the newest Alembic revision (safe to run every start)."""
    engine = engine or get_engine()
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
