"""What the site's pages share: the reader's language, the masthead and footer, dates,
conditional GETs, and the error page.

The language is, in order: ``?lang=`` (the switch on every page, which also sets a
cookie), the cookie, the browser's Accept-Language, the site's default. Strings come
from the "site" gettext catalog (email_templates/locale/*/LC_MESSAGES/site.po).

Caching like the feeds (RFC 9110 §8.8.3, §13.1.2): a page's ETag is a hash of what it
shows (each article's id and version, the page's counts), its language, the settings
it prints and TEMPLATE_VERSION. Computing it costs the page's queries but not its
rendering; a publish, update or retraction that changes what a page shows changes its
ETag, as it changes the feeds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.dates import get_timezone_location
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from config import Settings, get_settings
from email_templates.i18n import babel_locale, format_moment, translations, zone
from feeds.keys import FeedKey
from newsroom import urls
from newsroom.languages import language_name
from web.assets import stylesheet_url
from web.subscribeform import page_language

# Bump when a template changes what a page shows, so that no 304 keeps an old layout.
TEMPLATE_VERSION = "site-2"
LANG_COOKIE = "lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
MAX_AGE = 60  # as the feeds' current documents (web/feeds.py)
FEED_FORMATS = (
    ("rss", "application/rss+xml", "RSS"),
    ("atom", "application/atom+xml", "Atom"),
    ("json", "application/feed+json", "JSON Feed"),
)
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.add_extension("jinja2.ext.i18n")
templates.env.policies["ext.i18n.trimmed"] = True
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def is_slug(value: str) -> bool:
    """A tag or article slug as newsroom makes them; anything else names nothing."""
    return len(value) <= 120 and _SLUG.fullmatch(value) is not None


def reader_language(request: Request, settings: Settings) -> tuple[str, bool]:
    """The page's language, and whether the reader chose it with ``?lang=`` just now."""
    asked = request.query_params.get("lang")
    cookie = request.cookies.get(LANG_COOKIE)
    accept = request.headers.get("accept-language")
    language = page_language(settings, asked, cookie, accept=accept)
    return language, asked is not None and language == asked.strip().lower()


def page_number(request: Request) -> int | None:
    """``?page=``: 1 when absent; None when it is not a page number at all."""
    raw = request.query_params.get("page")
    if raw is None:
        return 1
    if not re.fullmatch(r"[1-9][0-9]{0,5}", raw):
        return None
    return int(raw)


def feed_links(key: FeedKey, title: str, settings: Settings) -> list[dict[str, str]]:
    return [
        {"type": content_type, "name": name, "title": f"{title} ({name})",
         "href": urls.feed_url(key.path(fmt), settings)}
        for fmt, content_type, name in FEED_FORMATS
    ]  # fmt: skip


def etag_for(language: str, parts: Iterable[object]) -> str:
    settings = get_settings()
    printed = (
        settings.site_name, settings.public_url, settings.logo_url, settings.accent_color,
        settings.publisher_name, settings.publisher_address, settings.time_zone,
        settings.subscribe_language_codes,
    )  # fmt: skip
    seed = repr((TEMPLATE_VERSION, printed, language, tuple(parts)))
    return '"' + hashlib.sha256(seed.encode()).hexdigest()[:32] + '"'


def matches(request: Request, etag: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match compares weakly; "*" matches any current page.
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def cache_headers(language: str, etag: str, chosen: bool) -> dict[str, str]:
    # A page whose language came from the cookie or Accept-Language varies with them; the
    # answer that sets the cookie is the reader's own, for no shared cache.
    scope = "private" if chosen else "public"
    return {
        "ETag": etag,
        "Cache-Control": f"{scope}, max-age={MAX_AGE}",
        "Vary": "Accept-Language, Cookie",
        "Content-Language": language,
    }


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=304, headers=headers)


def render(
    request: Request,
    name: str,
    language: str,
    status: int = 200,
    *,
    etag: str | None = None,
    chosen: bool = False,
    **values: Any,
) -> Response:
    """The page ``name`` in ``language``, with the masthead's, footer's and switch's data."""
    settings = get_settings()
    context = {**site_context(request, settings, language), **values}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    if etag is not None:
        response.headers.update(cache_headers(language, etag, chosen))
    else:
        response.headers["Content-Language"] = language
        response.headers["Cache-Control"] = "no-store" if status >= 400 else "no-cache"
    if chosen:
        response.set_cookie(
            LANG_COOKIE, language, max_age=LANG_COOKIE_SECONDS, samesite="lax",
            secure=request.url.scheme == "https", httponly=True,
        )  # fmt: skip
    return response


def N_(message: str) -> str:  # noqa: N802 (the name Babel looks for)
    """Marks a message for extraction; translated when shown."""
    return message


PROBLEMS = {
    "topic": (N_("No such topic"), N_("We have no topic at this address. It may have been "
              "renamed; the topics in the news are on the front page.")),
    "language": (N_("No such language"), N_("We have no news in a language with this code.")),
    "article": (N_("No such article"), N_("We have no article at this address. Check that "
                "you copied all of the link.")),
    "gone": (N_("This article has been withdrawn"), N_("The newsroom has withdrawn this "
             "article. It is no longer published.")),
    "edition": (N_("No such edition"), N_("We have no newsletter edition at this address.")),
    "page": (N_("No such page"), N_("There is no page with this number. The first page has "
             "the newest articles.")),
    "query": (N_("This address could not be read"), N_("The page number or another part of "
              "the address is not one we can read.")),
}  # fmt: skip


def error_page(request: Request, status: int, problem: str) -> Response:
    """A 4xx page in the reader's language; ``problem`` is a key of PROBLEMS."""
    settings = get_settings()
    language, _ = reader_language(request, settings)
    catalog = translations(language, "site")
    heading, text = (catalog.gettext(message) for message in PROBLEMS[problem])
    return render(request, "site_error.html", language, status, heading=heading, text=text)


def site_context(request: Request, settings: Settings, language: str) -> dict[str, Any]:
    catalog = translations(language, "site")
    # The gettext callables go in per render, not on the shared environment: two threads
    # rendering two languages at once must not see each other's catalog.
    return {
        "gettext": catalog.gettext,
        "ngettext": catalog.ngettext,
        "lang": language,
        "settings": settings,
        "site_name": settings.site_name,
        "publisher": settings.publisher_name or settings.site_name,
        "stylesheet": stylesheet_url(settings),
        "urls": _Urls(settings),
        "switch": _switch(request, settings, language),
        "feeds": feed_links(FeedKey("all"), settings.site_name, settings),
        "moment": lambda dt: when(dt, language, settings),
        "language_name": language_name,
        "site_languages": settings.subscribe_language_codes,
    }


def when(dt: datetime, language: str, settings: Settings) -> str:
    """Day and time in the site's zone, the zone named: "26 nov. 09:30 (Stockholm)"."""
    return (
        f"{format_moment(dt, language, settings.time_zone)} ({_city(settings.time_zone, language)})"
    )


@lru_cache(maxsize=64)
def _city(time_zone: str, language: str) -> str:
    if time_zone == "UTC":
        return "UTC"
    try:
        city = get_timezone_location(
            zone(time_zone), locale=babel_locale(language), return_city=True
        )
    except LookupError:
        return time_zone
    return str(city)


def _switch(request: Request, settings: Settings, language: str) -> list[dict[str, Any]]:
    """The language switch: this page in each language, by ``?lang=`` (other parameters,
    such as the page number, kept)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in ("page", "language")]
    links = []
    for code in settings.subscribe_language_codes:
        query = urlencode([*kept, ("lang", code)])
        links.append(
            {"code": code, "name": language_name(code), "href": f"{request.url.path}?{query}",
             "current": code == language}
        )  # fmt: skip
    return links


class _Urls:
    """newsroom.urls for templates, with the settings filled in."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def home(self) -> str:
        return urls.home_url(self._settings)

    def article(self, slug: str) -> str:
        return urls.article_url(slug, self._settings)

    def topic(self, slug: str) -> str:
        return urls.topic_url(slug, self._settings)

    def language(self, code: str) -> str:
        return urls.language_url(code, self._settings)

    def newsletter(self) -> str:
        return urls.newsletter_url(self._settings)

    def edition(self, segment_id: int) -> str:
        return urls.edition_url(segment_id, self._settings)

    def subscribe(self, *tags: str) -> str:
        return urls.subscribe_url(self._settings, tags=tags)

    def feed(self, path: str) -> str:
        return urls.feed_url(path, self._settings)
