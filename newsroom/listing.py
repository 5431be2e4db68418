"""Articles as the site's pages list them: the latest, a tag's and a language's, a page at
a time, newest first.

A page is cut by position in an index that holds the order, and only ids are read from
it: a tag's rows of the tag index (models.TagEntry, the rows its feed reads), a
language's range of ix_articles_language_feed. Skipping to page 400 of a topic walks
8,000 index entries and reads 20 articles (bench/topic_pages.py), where sorting the
tag's articles would read all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from newsroom.models import Article, ArticleStatus, Tag, TagEntry, article_tags

T = TypeVar("T")
PAGE_SIZE = 20
# Beyond any real archive (20 a page: two million articles), and small enough that the
# offset and the page number stay ordinary integers on both databases.
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Listed:
    """An article as a page lists or shows it: what is shown, and what versions it."""

    id: int
    slug: str
    title: str
    summary: str
    language: str
    published_at: datetime
    version: int
    authors: tuple[str, ...]
    image_url: str | None
    image_alt: str
    image_caption: str
    canonical_url: str | None
    tags: tuple[tuple[str, str], ...]  # (slug, label), by slug


@dataclass(frozen=True)
class Page(Generic[T]):
    articles: list[T]  # Listed, or the rows of another listing (newsletter editions)
    number: int
    total: int  # articles in the whole listing
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


_COLUMNS: tuple[Any, ...] = (
    Article.id, Article.slug, Article.title, Article.summary, Article.language,
    Article.published_at, Article.version, Article.authors, Article.image_url,
    Article.image_alt, Article.image_caption, Article.canonical_url,
)  # fmt: skip
_BY_ID = select(*_COLUMNS).where(Article.id.in_(bindparam("ids", expanding=True)))
_TAGS = (
    select(article_tags.c.article_id, Tag.slug, Tag.label)
    .join(Tag, Tag.id == article_tags.c.tag_id)
    .where(article_tags.c.article_id.in_(bindparam("ids", expanding=True)))
    .order_by(Tag.slug)
)

_PUBLISHED = ArticleStatus.PUBLISHED
# Only the index's own columns: the database reads the page's ids from the index alone.
_TAG_IDS = (
    select(TagEntry.article_id)
    .where(TagEntry.tag_id == bindparam("tag"), TagEntry.status == _PUBLISHED)
    .order_by(TagEntry.at.desc(), TagEntry.article_id.desc())
)
_TAG_TOTAL = select(func.count()).where(
    TagEntry.tag_id == bindparam("tag"), TagEntry.status == _PUBLISHED
)
_LANGUAGE_IDS = (
    select(Article.id)
    .where(Article.status == _PUBLISHED, Article.language == bindparam("language"))
    .order_by(Article.published_at.desc(), Article.id.desc())
)
_LANGUAGE_TOTAL = select(func.count()).where(
    Article.status == _PUBLISHED, Article.language == bindparam("language")
)
_LATEST_IDS = (
    select(Article.id)
    .where(Article.status == _PUBLISHED)
    .order_by(Article.published_at.desc(), Article.id.desc())
)


def tag(session: Session, slug: str) -> tuple[int, str] | None:
    """The id and label of the tag ``slug``."""
    row = session.execute(select(Tag.id, Tag.label).where(Tag.slug == slug)).first()
    return (row.id, row.label) if row else None


def tag_page(session: Session, tag_id: int, number: int, size: int = PAGE_SIZE) -> Page[Listed]:
    params = {"tag": tag_id}
    total = session.scalar(_TAG_TOTAL, params) or 0
    shown = _page(session, _TAG_IDS, params, number, size) if _within(number, total, size) else []
    return Page(shown, number, total, size)


def language_page(
    session: Session, language: str, number: int, size: int = PAGE_SIZE
) -> Page[Listed]:
    params = {"language": language}
    total = session.scalar(_LANGUAGE_TOTAL, params) or 0
    within = _within(number, total, size)
    shown = _page(session, _LANGUAGE_IDS, params, number, size) if within else []
    return Page(shown, number, total, size)


def _within(number: int, total: int, size: int) -> bool:
    # A page past the end is not read at all: its offset would walk the whole range.
    return (number - 1) * size < total


def latest(session: Session, size: int) -> list[Listed]:
    return _page(session, _LATEST_IDS, {}, 1, size)


def _page(
    session: Session, ids: Select[Any], params: dict[str, Any], number: int, size: int
) -> list[Listed]:
    paged = ids.limit(size).offset((number - 1) * size)
    found = list(session.scalars(paged, params))
    return by_ids(session, found)


def by_ids(session: Session, ids: list[int]) -> list[Listed]:
    """The articles ``ids``, in that order."""
    if not ids:
        return []
    rows = {row.id: row for row in session.execute(_BY_ID, {"ids": ids})}
    tags: dict[int, list[tuple[str, str]]] = {article_id: [] for article_id in ids}
    for article_id, slug, label in session.execute(_TAGS, {"ids": ids}):
        tags[article_id].append((slug, label))
    return [_listed(rows[i], tags[i]) for i in ids if i in rows]


def _listed(row: Any, tags: list[tuple[str, str]]) -> Listed:
    return Listed(
        id=row.id, slug=row.slug, title=row.title, summary=row.summary,
        language=row.language, published_at=row.published_at, version=row.version,
        authors=tuple(row.authors or ()), image_url=row.image_url,
        image_alt=row.image_alt or "", image_caption=row.image_caption or "",
        canonical_url=row.canonical_url, tags=tuple(tags),
    )  # fmt: skip
