"""The desk's list of articles: newest first, searched by title or slug, filtered by
status and language, one page at a time; and the tag labels an editor may pick from.

Paged by id (a keyset), not by offset: the query walks the primary key backwards from
``before`` and stops after one page of matches, so page 400 of a year's archive costs what
page 1 does. A search without a match still reads every article once; at 10,000 articles
that is a few milliseconds, and a title index would not help a substring search anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from newsroom.models import Article, ArticleStatus, Tag
from newsroom.text import make_slug

PAGE_SIZE = 50
MAX_QUERY = 200
TAG_SUGGESTIONS = 500


@dataclass(frozen=True)
class Filters:
    query: str = ""
    status: ArticleStatus | None = None
    language: str | None = None


def _like(value: str) -> str:
    # The user's % and _ are letters to find, not wildcards.
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page(
    session: Session, filters: Filters, before: int | None = None, limit: int = PAGE_SIZE
) -> tuple[Sequence[Article], int | None]:
    """One page of articles older (by id) than ``before``, and the ``before`` of the next."""
    rows = list(session.scalars(query(filters, before, limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def query(filters: Filters, before: int | None, limit: int) -> Select[Any]:
    query = select(Article).order_by(Article.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Article.id < before)
    if filters.status is not None:
        query = query.where(Article.status == filters.status)
    if filters.language:
        query = query.where(Article.language == filters.language)
    words = " ".join(filters.query.split())[:MAX_QUERY]
    if words:
        # The title as typed (case folds for ASCII on SQLite, for all on PostgreSQL), or the
        # slug, which is the title folded to ASCII: "möten" finds "Personliga Möten".
        matches = [Article.title.ilike(_like(words), escape="\\")]
        slug = make_slug(words)
        if slug:
            matches.append(Article.slug.like(_like(slug), escape="\\"))
        query = query.where(or_(*matches))
    return query


def tag_labels(session: Session, limit: int = TAG_SUGGESTIONS) -> list[str]:
    """Existing tags to suggest, by label; bounded, so the form stays small."""
    return list(session.scalars(select(Tag.label).order_by(Tag.label).limit(limit)))
