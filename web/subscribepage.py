"""What the subscriber pages share: rendering in the reader's language, reading a form,
the choices a form offers, and the page for a link that does not work."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings, get_settings
from email_templates.i18n import translations
from newsroom import subscribers
from newsroom.errors import DomainError
from newsroom.models import Subscriber, Tag, utcnow
from newsroom.tagcloud import tag_cloud
from newsroom.tokens import BadToken, Purpose
from web.bodies import read_at_most
from web.files import static_url
from web.security import cross_site
from web.subscribeform import (
    ERRORS,
    FREQUENCIES,
    MAX_FORM_BYTES,
    FormValues,
    language_choices,
    page_language,
    zone_choices,
)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.add_extension("jinja2.ext.i18n")
templates.env.policies["ext.i18n.trimmed"] = True
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
templates.env.globals["static_url"] = static_url
FORM_TYPE = "application/x-www-form-urlencoded"
# A token is the key to someone's subscription: keep it out of caches, search engines and
# the Referer sent to any other site a page links to.
PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


def choices(
    session: Session, settings: Settings, language: str, values: FormValues
) -> dict[str, Any]:
    return {
        "languages": language_choices(settings.subscribe_language_codes),
        "frequencies": FREQUENCIES,
        "zones": zone_choices(language, values.time_zone),
        "tags": tag_choices(session, settings, values.tags),
    }


def tag_choices(session: Session, settings: Settings, chosen: list[str]) -> list[tuple[str, str]]:
    """The tags of recent news (the tag cloud's), and those the reader already follows."""
    since = utcnow() - timedelta(days=settings.tag_cloud_days)
    labels = {tag.slug: tag.label for tag in tag_cloud(session, since=since, limit=30)}
    missing = [slug for slug in chosen if slug not in labels][:30]
    if missing:
        rows = session.execute(select(Tag.slug, Tag.label).where(Tag.slug.in_(missing)))
        labels.update({slug: label for slug, label in rows})
    return sorted(labels.items(), key=lambda item: (item[1].casefold(), item[0]))


def domain(exc: DomainError) -> dict[str, str]:
    # newsroom's own checks (an unknown tag): shown next to the field they name.
    return {exc.field: exc.field if exc.field in ERRORS else "email"}


def language_for(request: Request, subscriber: Subscriber, lang: str | None) -> str:
    accept = request.headers.get("accept-language")
    return page_language(get_settings(), lang, subscriber.language, accept=accept)


def dead_link(
    request: Request, session: Session, token: str, purpose: Purpose, lang: str | None
) -> Response:
    """404 for a link we never made (or whose subscriber was erased); 410 for one of ours
    that expired or whose subscription has ended: both say how to get a working one."""
    settings = get_settings()
    try:
        subscriber: Subscriber | None = subscribers.from_token(session, purpose, token, settings)
    except BadToken:
        subscriber = None
    status = 404 if subscriber is None else 410
    language = (
        page_language(settings, lang, accept=request.headers.get("accept-language"))
        if subscriber is None
        else language_for(request, subscriber, lang)
    )
    return page(
        request, "subscribe_dead_link.html", language, status, private=True, gone=status == 410
    )


def refuse_cross_site(request: Request, lang: str | None) -> Response | None:
    """403 when another site's page sent this form (web/security.py says how that is told).

    Confirming, saving preferences, erasing and unsubscribing act on the subscription
    whose token is in the URL, and are the subscriber's own act: a page elsewhere must not
    post them on a reader's behalf, even one that somehow learned a token. Signing up is
    not refused (web/subscribe.py): all it can do is send a confirmation email.
    """
    settings = get_settings()
    if not cross_site(request, settings.public_url):
        return None
    language = page_language(settings, lang, accept=request.headers.get("accept-language"))
    return form_error(request, language, 403, private=True)


def form_error(request: Request, language: str, status: int, **values: Any) -> Response:
    """400: a form we cannot read (not UTF-8, too many fields); 403: sent from another
    site's page; 413: too large; 415; 429: too many forms from one address."""
    return page(request, "subscribe_form_error.html", language, status, problem=status, **values)


async def read_form(request: Request) -> bytes | int:
    """The body of a form, or the status to refuse it with. An empty body is an empty form
    whatever its type: a form whose only field is an unticked box sends nothing."""
    body = await read_at_most(request, MAX_FORM_BYTES)
    if body is None:
        return 413
    content_type = request.headers.get("content-type", "")
    if body and content_type.partition(";")[0].strip().lower() != FORM_TYPE:
        return 415
    return body


def page(
    request: Request,
    name: str,
    language: str,
    status: int = 200,
    *,
    private: bool = False,
    **values: Any,
) -> Response:
    settings = get_settings()
    catalog = translations(language, "pages")
    # The gettext callables go in per render, not on the shared environment: two threads
    # rendering two languages at once must not see each other's catalog.
    context = {
        "gettext": catalog.gettext,
        "ngettext": catalog.ngettext,
        "lang": language,
        "site_name": settings.site_name,
        "error_text": lambda key: catalog.gettext(ERRORS[key]),
        "confirm_days": max(1, settings.confirm_max_age_seconds // 86400),
        **values,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Language"] = language
    if private:
        response.headers.update(PRIVATE)
    if status == 413:
        response.headers["Connection"] = "close"  # the rest of the body was not kept
    return response
