"""Every wait on the database is bounded: a server that accepts and never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from newsroom.db import CONNECT_TIMEOUT_SECONDS, make_engine


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port whose backlog accepts connections that nobody ever answers (a frozen
    PostgreSQL looks like this: the kernel completes the handshake, the server is stopped)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("query", ["", "?connect_timeout=1"], ids=["default", "from-url"])
def test_a_silent_postgresql_fails_within_the_connect_timeout(silent_port: int, query: str) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent_port}/test{query}")
    limit = 1 if query else CONNECT_TIMEOUT_SECONDS
    started = time.monotonic()
    with pytest.raises(OperationalError, match="timeout"), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert limit - 0.5 < time.monotonic() - started < limit + 3
    engine.dispose()
