"""Alembic environment: runs on the connection handed over by newsroom.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from newsroom.models import Base

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` run by hand: open our own connection
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        try:
            with engine.begin() as own:
                _run_on(own)
        finally:
            engine.dispose()
        return
    _run_on(connection)


def _run_on(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
