"""Digest, confirm and already-subscribed emails: Jinja2 fills in the data, MJML lays it out.

Rendered once per (edition, language, segment). What differs per recipient is left as the
tokens of ``personal``, for the envelope to substitute. No tracking pixels, and links go
straight to where they say: nothing is rewritten through a redirector.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from babel.lists import format_list
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from mjml import mjml2html

from email_templates import personal
from email_templates.i18n import (
    babel_locale,
    best_language,
    format_day,
    format_moment,
    translations,
)
from newsroom.tagcloud import CloudTag
from newsroom.text import one_line

TEMPLATES = Path(__file__).parent / "templates"
# Font size in px per cloud step (newsroom.tagcloud.STEPS): about 1.15x apart, so the
# biggest tag is under twice the smallest and a cloud still reads as a line of text.
TAG_SIZES = {1: 12, 2: 14, 3: 16, 4: 19, 5: 22}
TEXT_WIDTH = 72


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class DigestArticle:
    title: str
    summary: str
    url: str
    image_url: str | None
    image_alt: str
    image_caption: str
    published_at: datetime
    tags: list[tuple[str, str]] = field(default_factory=list)  # (slug, label)
    authors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DigestContent:
    language: str
    site_name: str
    public_url: str
    time_zone: str
    edition_date: datetime
    articles: list[DigestArticle]  # new to this subscriber group
    latest: list[DigestArticle]  # the latest news list: titles and links
    cloud: list[CloudTag]
    view_url: str  # this edition in a browser
    archive_url: str


def http_url(value: str | None) -> str:
    """``value`` if it is an absolute http(s) URL, else "": a ``javascript:`` or ``data:``
    URL from a bad import must not become a link or an image in a reader's mail client."""
    if not value:
        return ""
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in {"http", "https"} and parts.netloc else ""


def _wrap(value: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    # Never break a URL or a token: long words stay whole on their own line.
    return textwrap.fill(
        value, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def _heading(value: str) -> str:
    return f"{value}\n{'=' * len(value)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # MJML is markup: every value is escaped. Text parts are plain text: nothing is.
        autoescape=select_autoescape(enabled_extensions=("mjml",), default=False),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the package; compile each once per process
    )
    # {% trans %} blocks are written across lines; their msgids are the collapsed text.
    env.policies["ext.i18n.trimmed"] = True
    env.filters.update(http_url=http_url, wrap=_wrap, heading=_heading)
    return env


_ENV = _environment()


def _render(name: str, language: str, **data: Any) -> tuple[str, str]:
    catalog = translations(language)
    # The gettext callables go in per render, not installed on the shared environment:
    # two threads rendering two languages at once must not see each other's catalog.
    context = {
        "gettext": catalog.gettext,
        "ngettext": catalog.ngettext,
        "language": language,
        "tokens": {
            "unsubscribe": personal.UNSUBSCRIBE_URL,
            "preferences": personal.PREFERENCES_URL,
            "email": personal.EMAIL,
        },
        **data,
    }
    source = _ENV.get_template(f"{name}.mjml").render(context)
    html = mjml2html(source, fonts={})
    text = _ENV.get_template(f"{name}.txt").render(context)
    return html, text


def render_digest(content: DigestContent, *, personal_links: bool = True) -> RenderedEmail:
    """The digest email. ``personal_links=False`` leaves out the footer's per-subscriber
    links and address, for the public "view in browser" page and the archive."""
    language = best_language(content.language)
    catalog = translations(language)
    site_name = one_line(content.site_name)
    public_url = content.public_url.rstrip("/")
    count = len(content.articles)
    headline = catalog.ngettext("%(num)d new article", "%(num)d new articles", count) % {
        "num": count
    }
    day = format_day(content.edition_date, language, content.time_zone)
    short_day = format_day(content.edition_date, language, content.time_zone, year=False)
    subject = f"{site_name}: {headline} – {short_day}"
    html, text = _render(
        "digest",
        language,
        subject=subject,
        preview=" · ".join(one_line(article.title) for article in content.articles[:3]),
        site_name=site_name,
        public_url=public_url,
        day=day,
        headline=headline,
        articles=content.articles,
        latest=content.latest,
        cloud=content.cloud,
        view_url=http_url(content.view_url),
        archive_url=http_url(content.archive_url),
        personal=personal_links,
        moment=partial(format_moment, language=language, tz=content.time_zone),
        names=_names(language),
        tag_url=partial(tag_feed_url, public_url),
        tag_size=TAG_SIZES.__getitem__,
    )
    return RenderedEmail(subject, html, text)


def render_confirm(
    language: str, site_name: str, confirm_url: str, public_url: str
) -> RenderedEmail:
    return _notice(
        "confirm",
        language,
        site_name,
        public_url,
        _("%(site)s: confirm your subscription"),
        confirm_url=confirm_url,
    )


def render_already_subscribed(
    language: str, site_name: str, preferences_url: str, public_url: str
) -> RenderedEmail:
    """Sent instead of a confirm email when an active address subscribes again: the page
    says the same in both cases, so it tells nobody whether an address is subscribed."""
    return _notice(
        "already_subscribed",
        language,
        site_name,
        public_url,
        _("%(site)s: you are already subscribed"),
        preferences_url=preferences_url,
    )


def _(message: str) -> str:
    """Marks a message for the catalogs; it is translated where it is used."""
    return message


def _notice(
    name: str, language: str, site_name: str, public_url: str, subject: str, **links: str
) -> RenderedEmail:
    language = best_language(language)
    site_name = one_line(site_name)
    subject = translations(language).gettext(subject) % {"site": site_name}
    html, text = _render(
        name,
        language,
        subject=subject,
        preview=subject,
        site_name=site_name,
        public_url=public_url.rstrip("/"),
        day="",
        **links,
    )
    return RenderedEmail(subject, html, text)


def tag_feed_url(public_url: str, slug: str) -> str:
    # The tag's Atom feed: the web app has no tag page, and the feed is what a reader
    # can follow (DESIGN.md, the outside contract: /feeds/tags/{tag-slug}.atom).
    return f"{public_url.rstrip('/')}/feeds/tags/{quote(slug, safe='')}.atom"


def _names(language: str) -> Callable[[Sequence[str]], str]:
    locale = babel_locale(language)
    return lambda authors: format_list([one_line(name) for name in authors], locale=locale)
