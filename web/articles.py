"""The admin API for articles: publish, update, retract, list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from config import get_settings
from feeds.query import article_url
from newsroom import articles
from newsroom.db import session_scope
from newsroom.models import Article, ArticleStatus, OutboxEvent, utcnow
from newsroom.schemas import ArticleIn
from web import errors
from web.auth import require_admin
from web.params import Offset
from worker.bell import ring_events

router = APIRouter(
    prefix="/api/articles",
    tags=["articles"],
    dependencies=[Depends(require_admin)],
    responses=errors.documented(400, 401, 404, 409, 413, 422),
)


class ImageOut(BaseModel):
    url: str
    alt: str
    caption: str


class ArticleOut(BaseModel):
    id: int
    slug: str
    version: int
    status: ArticleStatus
    url: str
    title: str
    language: str
    summary: str
    tags: list[str]
    authors: list[str]
    image: ImageOut | None
    canonical_url: str | None
    published_at: datetime | None
    updated_at: datetime
    retracted_at: datetime | None
    lead: bool
    keep_out_of_email: bool


class ArticleBody(ArticleOut):
    body_html: str


def _out(article: Article) -> dict[str, object]:
    image = None
    if article.image_url:
        image = ImageOut(
            url=article.image_url, alt=article.image_alt, caption=article.image_caption
        )
    return {
        "id": article.id,
        "slug": article.slug,
        "version": article.version,
        "status": article.status,
        "url": article_url(article, get_settings()),
        "title": article.title,
        "language": article.language,
        "summary": article.summary,
        "tags": [tag.label for tag in article.tags],
        "authors": article.authors,
        "image": image,
        "canonical_url": article.canonical_url,
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "retracted_at": article.retracted_at,
        "lead": article.lead,
        "keep_out_of_email": article.keep_out_of_email,
        "body_html": article.body_html,
    }


def _grace() -> timedelta:
    return timedelta(seconds=get_settings().outbox_grace_seconds)


def _change(apply: Callable[[Session], tuple[Article, OutboxEvent | None]]) -> ArticleOut:
    with session_scope() as session:
        article, event = apply(session)
        out = ArticleOut.model_validate(_out(article))
        event_id = event.id if event else None
    if event_id is not None:
        ring_events([event_id])  # after the commit: a rolled-back change never rings
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ArticleOut)
def publish_article(data: ArticleIn, response: Response) -> ArticleOut:
    out = _change(lambda session: articles.create(session, data, utcnow(), _grace()))
    response.headers["Location"] = f"/api/articles/{out.slug}"
    return out


@router.put("/{slug}", response_model=ArticleOut)
def update_article(slug: str, data: ArticleIn) -> ArticleOut:
    return _change(lambda session: articles.update(session, slug, data, utcnow(), _grace()))


@router.delete("/{slug}", response_model=ArticleOut)
def retract_article(slug: str) -> ArticleOut:
    return _change(lambda session: articles.retract(session, slug, utcnow(), _grace()))


@router.get("/{slug}", response_model=ArticleBody)
def show_article(slug: str) -> ArticleBody:
    with session_scope() as session:
        return ArticleBody.model_validate(_out(articles.get(session, slug)))


@router.get("", response_model=list[ArticleOut])
def list_articles(
    status_: Annotated[ArticleStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list[ArticleOut]:
    with session_scope() as session:
        rows = articles.listing(session, status_, limit, offset)
        return [ArticleOut.model_validate(_out(article)) for article in rows]
