"""Topic pages (``/tags/{slug}``) and language pages (``/lang/{code}``): the articles of a
tag or a language, newest first, twenty a page, with their feeds and "follow by email"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from config import get_settings
from feeds.keys import FeedKey
from newsroom import listing, urls
from newsroom.db import read_scope
from newsroom.languages import language_name
from web import sitepage
from web.assets import READ
from web.sitepage import (
    error_page,
    etag_for,
    feed_links,
    is_slug,
    matches,
    page_number,
    reader_language,
)

router = APIRouter(include_in_schema=False)


@router.api_route(urls.TOPICS_PATH + "/{slug}", methods=READ, response_model=None)
def topic_page(request: Request, slug: str) -> Response:
    settings = get_settings()
    number = page_number(request)
    if number is None:
        return error_page(request, 400, "query")
    if not is_slug(slug):
        return error_page(request, 404, "topic")
    with read_scope() as session:
        found = listing.tag(session, slug)
        if found is None:
            return error_page(request, 404, "topic")
        tag_id, label = found
        page = listing.tag_page(session, tag_id, number)
    base = urls.topic_url(slug, settings)
    feeds = feed_links(FeedKey("tags", slug), label, settings)
    return _listing(request, page, base, feeds, heading=label, tag_slug=slug, kind="topic")


@router.api_route(urls.LANGUAGES_PATH + "/{code}", methods=READ, response_model=None)
def language_page(request: Request, code: str) -> Response:
    settings = get_settings()
    number = page_number(request)
    if number is None:
        return error_page(request, 400, "query")
    if code not in settings.language_codes:
        return error_page(request, 404, "language")
    with read_scope() as session:
        page = listing.language_page(session, code, number)
    base = urls.language_url(code, settings)
    name = language_name(code)
    feeds = feed_links(FeedKey("lang", code), name, settings)
    return _listing(
        request, page, base, feeds, heading=name, content_language=code, kind="language"
    )


def _listing(
    request: Request,
    page: listing.Page[listing.Listed],
    base: str,
    feeds: list[dict[str, str]],
    *,
    heading: str,
    kind: str,
    tag_slug: str | None = None,
    content_language: str | None = None,
) -> Response:
    if page.number > page.pages:
        return error_page(request, 404, "page")
    language, chosen = reader_language(request, get_settings())
    shown = [(article.id, article.version) for article in page.articles]
    etag = etag_for(language, [base, heading, page.number, page.total, *shown])
    if matches(request, etag):
        return sitepage.not_modified(sitepage.cache_headers(language, etag, chosen))
    catalog_kind = {"topic": sitepage.N_("Topic"), "language": sitepage.N_("Language")}[kind]
    return sitepage.render(
        request, "listing.html", language, etag=etag, chosen=chosen,
        page=page, base=base, page_feeds=feeds, heading=heading, tag_slug=tag_slug,
        content_language=content_language, kind_label=catalog_kind,
        canonical=base if page.number == 1 else f"{base}?page={page.number}",
    )  # fmt: skip
