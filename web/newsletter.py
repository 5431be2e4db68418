"""The public newsletter archive: every edition's segments, each readable in a browser,
and an Atom feed of them.

The "view in browser" link of a digest points here. An edition page is rendered from the
segment's articles without the footer's personal links, so it can be shared, and an
article retracted since the edition went out is left out of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from feedgen.feed import FeedGenerator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config import Settings, get_settings
from email_templates.content import digest_content, zone_of
from email_templates.render import render_digest
from feeds.store import etag_of
from newsroom import urls
from newsroom.db import read_scope, session_scope
from newsroom.listing import Page
from newsroom.models import Edition, EditionSegment
from newsroom.urls import NEWSLETTER_PATH
from web import sitepage
from web.assets import READ
from web.params import RowId
from web.security import email_policy
from web.sitepage import error_page, etag_for, matches, page_number, reader_language

router = APIRouter(include_in_schema=False)

ARCHIVE_SIZE = 30
FEED_SIZE = 50
FEED_PATH = NEWSLETTER_PATH + ".atom"  # beside the archive; /feeds/ is feeds.keys' alone
ATOM = "application/atom+xml"
_COLUMNS = (
    EditionSegment.id, EditionSegment.language, EditionSegment.subject, EditionSegment.created_at,
)  # fmt: skip


def feed_link(settings: Settings) -> dict[str, str]:
    href = settings.public_url + FEED_PATH
    title = f"{settings.site_name}: newsletter (Atom)"
    return {"type": ATOM, "name": "Atom", "title": title, "href": href}


@router.api_route(NEWSLETTER_PATH, methods=READ, response_model=None)
def archive(request: Request) -> Response:
    settings = get_settings()
    number = page_number(request)
    chosen_filter = request.query_params.get("language", "")
    if number is None or (chosen_filter and chosen_filter not in settings.language_codes):
        return error_page(request, 400, "query")
    language, chosen = reader_language(request, settings)
    with read_scope() as session:
        page = _segments(session, chosen_filter, number)
    if number > page.pages:
        return error_page(request, 404, "page")
    etag = etag_for(language, ["archive", chosen_filter, number, page.total,
                               *(row.id for row in page.articles)])  # fmt: skip
    if matches(request, etag):
        return sitepage.not_modified(sitepage.cache_headers(language, etag, chosen))
    base = urls.newsletter_url(settings)
    filters = [("", None)] + [(code, code) for code in settings.subscribe_language_codes]
    return sitepage.render(
        request, "newsletter_archive.html", language, etag=etag, chosen=chosen,
        section="newsletter", page=page, filters=filters, current_filter=chosen_filter,
        base=base + (f"?language={chosen_filter}" if chosen_filter else ""),
        page_feeds=[feed_link(settings)],
    )  # fmt: skip


def _segments(session: Session, language: str, number: int) -> Page[Any]:
    query = select(*_COLUMNS)
    count = select(func.count()).select_from(EditionSegment)
    if language:
        query = query.where(EditionSegment.language == language)
        count = count.where(EditionSegment.language == language)
    rows: list[Any] = list(
        session.execute(
            query.order_by(EditionSegment.id.desc())
            .limit(ARCHIVE_SIZE)
            .offset((number - 1) * ARCHIVE_SIZE)
        )
    )
    return Page(rows, number, session.scalar(count) or 0, ARCHIVE_SIZE)


@router.api_route(FEED_PATH, methods=READ, response_model=None)
def archive_feed(request: Request) -> Response:
    """Atom (RFC 4287) of the newest editions: each entry one segment, linking to its page."""
    settings = get_settings()
    with read_scope() as session:
        rows = list(
            session.execute(select(*_COLUMNS).order_by(EditionSegment.id.desc()).limit(FEED_SIZE))
        )
    if not rows:
        return error_page(request, 404, "edition")
    body = _atom(rows, settings)
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={sitepage.MAX_AGE}"}
    if matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=ATOM, headers=headers)


def _atom(rows: list[Any], settings: Settings) -> bytes:
    fg = FeedGenerator()
    fg.id(settings.public_url + FEED_PATH)
    fg.title(f"{settings.site_name}: newsletter")
    fg.author(name=settings.publisher_name or settings.site_name)
    fg.language(settings.default_language)
    fg.generator("Budkavle")
    fg.link(href=urls.newsletter_url(settings), rel="alternate", type="text/html")
    fg.link(href=settings.public_url + FEED_PATH, rel="self", type=ATOM)
    fg.updated(rows[0].created_at)  # from the data, not now(): the same editions, the same bytes
    for row in rows:
        entry = fg.add_entry(order="append")
        url = urls.edition_url(row.id, settings)
        entry.id(url)
        entry.title(row.subject)
        entry.link(href=url, rel="alternate", type="text/html", hreflang=row.language)
        entry.published(row.created_at)
        entry.updated(row.created_at)
    body: bytes = fg.atom_str(pretty=False)
    return body


@router.api_route(NEWSLETTER_PATH + "/{segment_id}", methods=READ, response_model=None)
def edition_page(request: Request, segment_id: RowId) -> Response:
    settings = get_settings()
    with session_scope() as session:
        row = session.execute(
            select(EditionSegment, Edition.key)
            .join(Edition, Edition.id == EditionSegment.edition_id)
            .where(EditionSegment.id == segment_id)
        ).first()
        if row is None:
            return error_page(request, 404, "edition")
        segment, key = row
        zone = zone_of(key) or settings.time_zone
        content = digest_content(
            session,
            segment.id,
            segment.language,
            segment.article_ids,
            settings,
            zone,
            segment.created_at,
        )
    rendered = render_digest(content, personal_links=False)
    headers = {
        "Cache-Control": "public, max-age=300",
        "Content-Security-Policy": email_policy(rendered.html, settings.public_url),
    }
    return HTMLResponse(rendered.html, headers=headers)
