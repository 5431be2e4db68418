"""`budkavle articles`: the newest articles, as a table that fits the terminal or as JSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from budkavle.tables import Column, JsonOption, print_json, show, when
from newsroom import articles
from newsroom.db import migrate, session_scope
from newsroom.models import Article, ArticleStatus

SLUG = Column("slug", lambda a: a["slug"])  # the handle to copy into the next command
STATUS = Column("status", lambda a: a["status"])
VERSION = Column("v", lambda a: str(a["version"]), right=True)
LANGUAGE = Column("lang", lambda a: a["language"])
PUBLISHED = Column("published", lambda a: when(a["published_at"]))
TITLE = Column("title", lambda a: a["title"], fold=True, least=30)
TAGS = Column("tags", lambda a: ", ".join(a["tags"]), fold=True)
# Long slugs leave no room beside them: the title goes under its slug.
ARTICLE = Column("slug / title", lambda a: f"{a['slug']}\n{a['title']}", fold=True,
                 keep=lambda a: a["slug"])  # fmt: skip

# Widest first; the terminal's width picks the first that fits. Slug, status and title
# are in every one.
LAYOUTS = (
    (SLUG, STATUS, VERSION, LANGUAGE, PUBLISHED, TITLE, TAGS),
    (SLUG, STATUS, LANGUAGE, PUBLISHED, TITLE),
    (SLUG, STATUS, LANGUAGE, TITLE),
    (SLUG, STATUS, TITLE),
    (ARTICLE, STATUS, LANGUAGE),
    (ARTICLE, STATUS),
)


def articles_command(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    status: Annotated[ArticleStatus | None, typer.Option(help="Only this status.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The newest articles, with their status and version."""
    migrate()
    with session_scope() as session:
        records = [record(a) for a in articles.listing(session, status=status, limit=limit)]
    if as_json:
        print_json(records)
    else:
        show(records, LAYOUTS)


def record(article: Article) -> dict[str, Any]:
    """One article as `budkavle articles --json` gives it."""
    return {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "status": str(article.status),
        "version": article.version,
        "language": article.language,
        "tags": article.tag_slugs,
        "authors": list(article.authors),
        "published_at": article.published_at,
        "updated_at": article.updated_at,
    }
