"""Pages for people: the home page with the latest articles, and each article's page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from config import get_settings
from newsroom import urls
from newsroom.db import session_scope
from newsroom.models import Article, ArticleStatus
from web.files import static_url

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["static_url"] = static_url  # style sheets under /static/ (web/files.py)


def _context(**values: object) -> dict[str, object]:
    settings = get_settings()
    return {
        "site_name": settings.site_name,
        "public_url": settings.public_url,
        "lang": settings.default_language,
        **values,
    }


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    with session_scope() as session:
        latest = session.scalars(
            select(Article)
            .where(Article.status == ArticleStatus.PUBLISHED)
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(get_settings().feed_size)
        ).all()
    return templates.TemplateResponse(request, "home.html", _context(articles=latest))


@router.get(urls.ARTICLES_PATH + "/{slug}", response_class=HTMLResponse)
def article_page(request: Request, slug: str) -> HTMLResponse:
    with session_scope() as session:
        article = session.scalar(select(Article).where(Article.slug == slug))
        if article is None or article.status is not ArticleStatus.PUBLISHED:
            # 410 for a retraction: the page existed and is gone on purpose.
            gone = article is not None and article.status is ArticleStatus.RETRACTED
            raise HTTPException(410 if gone else 404, "no such article")
        return templates.TemplateResponse(
            request, "article.html", _context(article=article, lang=article.language)
        )
