"""The front page (the latest news, the topics, the languages) and each article's page."""

from __future__ import annotations

import json
import unicodedata
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from config import Settings, get_settings
from feeds.keys import FeedKey
from feeds.query import article_url_for
from newsroom import listing, urls
from newsroom.db import read_scope
from newsroom.languages import language_name
from newsroom.models import Article, ArticleStatus, utcnow
from newsroom.tagcloud import CloudTag, tag_cloud
from web import sitepage
from web.assets import READ
from web.sitepage import error_page, etag_for, feed_links, is_slug, matches, reader_language

router = APIRouter(include_in_schema=False)

HOME_SIZE = 13  # the lead story and a grid of twelve (2, 3 or 4 across)
CLOUD_SIZE = 30


@router.api_route("/", methods=READ, response_model=None)
def home(request: Request) -> Response:
    settings = get_settings()
    language, chosen = reader_language(request, settings)
    with read_scope() as session:
        latest = listing.latest(session, HOME_SIZE)
        since = utcnow() - timedelta(days=settings.tag_cloud_days)
        cloud = tag_cloud(session, since=since, limit=CLOUD_SIZE)
    shown: list[object] = [(article.id, article.version) for article in latest]
    etag = etag_for(language, [*shown, *cloud])
    headers = sitepage.cache_headers(language, etag, chosen)
    if matches(request, etag):
        return sitepage.not_modified(headers)
    # The lead story: the newest with a picture, as a front page would have it.
    lead = next((a for a in latest if a.image_url), latest[0] if latest else None)
    return sitepage.render(
        request, "home.html", language, etag=etag, chosen=chosen, section="home",
        lead=lead, articles=[article for article in latest if article is not lead],
        cloud=collated(cloud, language), languages=settings.subscribe_language_codes,
    )  # fmt: skip


def collated(cloud: list[CloudTag], language: str) -> list[CloudTag]:
    """The cloud in the reader's alphabetical order: Å, Ä and Ö after Z in Swedish."""
    return sorted(cloud, key=lambda tag: (alphabet_key(tag.label, language), tag.slug))


# Letters that sort after z, in order, per language (CLDR's Nordic collations, simplified:
# other accented letters sort with their base letter).
_AFTER_Z = {
    "sv": "åäæöø", "fi": "åäæöø", "da": "æøå", "nb": "æøå", "is": "þæö",
}  # fmt: skip


def alphabet_key(text: str, language: str) -> tuple[tuple[int, str], ...]:
    after = _AFTER_Z.get(language, "")
    key = []
    for char in text.casefold():
        if char in after:
            key.append((1, str(after.index(char))))
            continue
        base = unicodedata.normalize("NFD", char)[0]
        key.append((0, base))
    return tuple(key)


@router.api_route(urls.ARTICLES_PATH + "/{slug}", methods=READ, response_model=None)
def article_page(request: Request, slug: str) -> Response:
    settings = get_settings()
    language, chosen = reader_language(request, settings)
    if not is_slug(slug):
        return error_page(request, 404, "article")
    with read_scope() as session:
        row = session.execute(
            select(Article.id, Article.status, Article.body_html, Article.updated_at)
            .where(Article.slug == slug)
        ).first()  # fmt: skip
        if row is None or row.status not in (ArticleStatus.PUBLISHED, ArticleStatus.RETRACTED):
            return error_page(request, 404, "article")
        if row.status is ArticleStatus.RETRACTED:
            # 410: the page existed and is gone on purpose (RFC 9110 §15.5.11).
            return error_page(request, 410, "gone")
        [article] = listing.by_ids(session, [row.id])
    etag = etag_for(language, [(article.id, article.version)])
    headers = sitepage.cache_headers(language, etag, chosen)
    if matches(request, etag):
        return sitepage.not_modified(headers)
    modified = max(row.updated_at, article.published_at)
    canonical = article_url_for(article.canonical_url, article.slug, settings)
    return sitepage.render(
        request, "article.html", language, etag=etag, chosen=chosen,
        article=article, body_html=row.body_html, canonical=canonical, modified=modified,
        updated=article.version > 1,  # changed since it was published, not merely backdated
        og_locale=og_locale(article.language),
        json_ld=json_ld(article, canonical, modified, settings),
        page_feeds=feed_links(
            FeedKey("lang", article.language), language_name(article.language), settings
        ),
    )  # fmt: skip


# Open Graph wants language_TERRITORY; the Nordic languages' home countries.
_OG_LOCALES = {
    "sv": "sv_SE", "fi": "fi_FI", "nb": "nb_NO", "nn": "nn_NO", "no": "nb_NO", "da": "da_DK",
    "is": "is_IS", "se": "se_NO", "en": "en_GB",
}  # fmt: skip


def og_locale(language: str) -> str:
    return _OG_LOCALES.get(language, language)


def json_ld(article: listing.Listed, canonical: str, modified: Any, settings: Settings) -> str:
    """schema.org NewsArticle, as search engines read it from a page."""
    publisher: dict[str, Any] = {
        "@type": "NewsMediaOrganization",
        "name": settings.publisher_name or settings.site_name,
        "url": urls.home_url(settings),
    }
    if settings.logo_url:
        publisher["logo"] = {"@type": "ImageObject", "url": settings.logo_url}
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": canonical,
        "headline": article.title,
        "description": article.summary,
        "inLanguage": article.language,
        "datePublished": article.published_at.isoformat(),
        "dateModified": modified.isoformat(),
        "author": [{"@type": "Person", "name": name} for name in article.authors],
        "publisher": publisher,
        "keywords": [label for _, label in article.tags],
    }
    if article.image_url:
        data["image"] = [article.image_url]
    text = json.dumps(data, ensure_ascii=False)
    # Inside <script>, "</script>" or "<!--" in a headline would end or bend the element.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
