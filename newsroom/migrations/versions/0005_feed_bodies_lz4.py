"""feed bodies: lz4 rather than pglz on PostgreSQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:00:00

Every refresh stores three feed documents of ~200 KB; PostgreSQL compresses them when it
moves them out of line (TOAST). lz4 does that in about half the time of the default pglz
(bench/RESULTS.md: the store stage of "all" went from 18-20 to 11 ms), on the path from a
publish to the feed. Only on servers built with lz4 (PostgreSQL 14 and newer, as Debian's
and the official images are); elsewhere, and on SQLite, nothing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LZ4_AVAILABLE = sa.text(
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
    "AND 'lz4' = ANY(enumvals)"
)


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.execute(_LZ4_AVAILABLE).first() is None:
        return
    # Applies to values written from now on; each refresh rewrites the current documents.
    op.execute(f"ALTER TABLE feed_documents ALTER COLUMN body SET COMPRESSION {method}")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
