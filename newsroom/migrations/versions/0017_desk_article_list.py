"""articles: indexes for the desk's list, newest first, by status or by language

Revision ID: 0017_desk_article_list
Revises: 0016_test_sends
Create Date: 2026-12-05 17:10:00

The desk lists articles newest first (by id), often of one status ("the drafts") or one
language. With only (status, language, published_at) to filter by, SQLite read every
article of that status and sorted them for each page; (status, id) and (language, id) let
it walk back from the page's last id and stop after one page.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_desk_article_list"
down_revision: str | None = "0016_test_sends"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_articles_status_id", "articles", ["status", "id"])
    op.create_index("ix_articles_language_id", "articles", ["language", "id"])


def downgrade() -> None:
    op.drop_index("ix_articles_language_id", table_name="articles")
    op.drop_index("ix_articles_status_id", table_name="articles")
