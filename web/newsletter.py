"""The public newsletter archive: every edition's segments, each readable in a browser.

The "view in browser" link of a digest points here. The page is rendered from the
segment's articles without the footer's personal links, so it can be shared, and an
article retracted since the edition went out is left out of it.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from config import get_settings
from email_templates.content import digest_content, zone_of
from email_templates.render import render_digest
from newsroom.db import session_scope
from newsroom.models import Edition, EditionSegment
from newsroom.urls import NEWSLETTER_PATH
from web.pages import templates
from web.params import RowId

router = APIRouter(include_in_schema=False)

ARCHIVE_SIZE = 100


@router.get(NEWSLETTER_PATH, response_class=HTMLResponse)
def archive(request: Request) -> HTMLResponse:
    settings = get_settings()
    with session_scope() as session:
        segments = session.execute(
            select(
                EditionSegment.id,
                EditionSegment.language,
                EditionSegment.subject,
                EditionSegment.created_at,
            )
            .order_by(EditionSegment.id.desc())
            .limit(ARCHIVE_SIZE)
        ).all()
    return templates.TemplateResponse(
        request,
        "newsletter_archive.html",
        {
            "site_name": settings.site_name,
            "public_url": settings.public_url,
            "lang": settings.default_language,
            "segments": segments,
        },
    )


@router.get(NEWSLETTER_PATH + "/{segment_id}", response_class=HTMLResponse)
def edition_page(segment_id: RowId) -> HTMLResponse:
    settings = get_settings()
    with session_scope() as session:
        row = session.execute(
            select(EditionSegment, Edition.key)
            .join(Edition, Edition.id == EditionSegment.edition_id)
            .where(EditionSegment.id == segment_id)
        ).first()
        if row is None:
            raise HTTPException(404, "no such edition")
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
    return HTMLResponse(rendered.html, headers={"Cache-Control": "public, max-age=300"})
