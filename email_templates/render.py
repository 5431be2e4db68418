"""Digest, welcome, confirm and already-subscribed emails: Jinja2 fills in the data, MJML
lays it out, in the newsroom's look (Brand: masthead, accent colour, publisher footer).

Rendered once per (edition, language, segment). What differs per recipient is left as the
tokens of ``personal``, for the envelope to substitute. No tracking pixels, and links go
straight to where they say: nothing is rewritten through a redirector.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.lists import format_list
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from mjml import mjml2html

from config import Settings
from email_templates import budget, collation, personal
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
    preheader: str = ""  # the line an inbox shows after the subject (a digest's)


@dataclass(frozen=True)
class Brand:
    """The newsroom's identity in every email: masthead and publisher footer."""

    site_name: str
    public_url: str
    logo_url: str = ""
    accent_color: str = "#9b1c1c"
    publisher_name: str = ""  # empty: the site's name
    publisher_address: str = ""  # CAN-SPAM (15 U.S.C. 7704(a)(5)): a valid postal address

    @classmethod
    def from_settings(cls, settings: Settings) -> Brand:
        return cls(
            site_name=settings.site_name,
            public_url=settings.public_url,
            logo_url=settings.logo_url,
            accent_color=settings.accent_color,
            publisher_name=settings.publisher_name,
            publisher_address=settings.publisher_address,
        )

    def context(self) -> dict[str, Any]:
        site_name = one_line(self.site_name)
        return {
            "site_name": site_name,
            "public_url": self.public_url.rstrip("/"),
            "logo_url": http_url(self.logo_url),
            "accent": self.accent_color if _COLOUR.fullmatch(self.accent_color) else "#9b1c1c",
            "publisher": one_line(self.publisher_name) or site_name,
            "address": [one_line(line) for line in self.publisher_address.splitlines()
                        if line.strip()],
        }  # fmt: skip


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


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
    lead: bool = False  # an editor made it the lead story


@dataclass(frozen=True)
class DigestContent:
    language: str
    brand: Brand
    time_zone: str
    edition_date: datetime
    articles: list[DigestArticle]  # new to this subscriber group, newest first
    latest: list[DigestArticle]  # the latest news list: titles and links
    cloud: list[CloudTag]
    view_url: str  # this edition in a browser
    archive_url: str
    # Where a tag links: its HTML topic page (newsroom.urls.topic_url), never a feed.
    topic_url: Callable[[str], str]


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


def _(message: str) -> str:
    """Marks a message for the catalogs; it is translated where it is used."""
    return message


def render_digest(
    content: DigestContent, *, personal_links: bool = True, max_bytes: int = budget.HTML_BYTES
) -> RenderedEmail:
    """The digest email: the lead story first, then as many of the rest as keep the HTML
    under ``max_bytes`` once personalised (Gmail clips bigger mail, and the part it cuts
    holds the unsubscribe link); the rest are counted and linked to the browser version.
    ``personal_links=False`` is that browser version (and the archive's): every article,
    no per-subscriber links."""
    language = best_language(content.language)
    articles = lead_first(content.articles)

    def attempt(count: int) -> RenderedEmail:
        return _render_digest(content, language, articles, count, personal_links)

    if not personal_links:
        return attempt(len(articles))
    return budget.fit(attempt, len(articles), max_bytes)


def lead_first(articles: Sequence[DigestArticle]) -> list[DigestArticle]:
    """The lead story first: the newest an editor marked as lead, else the newest with an
    image, else the newest; the others keep their order (newest first)."""
    marked = [i for i, article in enumerate(articles) if article.lead]
    pictured = [i for i, article in enumerate(articles) if http_url(article.image_url)]
    lead = (marked or pictured or [0])[0]
    return [*articles[lead : lead + 1], *articles[:lead], *articles[lead + 1 :]]


def _render_digest(
    content: DigestContent,
    language: str,
    articles: list[DigestArticle],
    count: int,
    personal_links: bool,
) -> RenderedEmail:
    catalog = translations(language)
    brand = content.brand.context()
    subject = _subject(catalog, articles, brand["site_name"])
    total = len(articles)
    headline = catalog.ngettext("%(num)d new article", "%(num)d new articles", total) % {
        "num": total
    }
    shown = articles[:count]
    preview = " · ".join(one_line(article.title) for article in shown[1:4]) or subject
    html, text = _render(
        "digest",
        language,
        **brand,
        **_article_helpers(language, content.time_zone, content.topic_url),
        subject=subject,
        preview=preview,
        day=format_day(content.edition_date, language, content.time_zone),
        headline=headline,
        lead=shown[0] if shown else None,
        articles=shown[1:],
        more=total - len(shown),
        latest=content.latest,
        cloud=collation.sorted_by(language, content.cloud, lambda tag: tag.label),
        view_url=http_url(content.view_url),
        archive_url=http_url(content.archive_url),
        personal=personal_links,
        tag_size=TAG_SIZES.__getitem__,
    )
    return RenderedEmail(subject, html, text, preview)


# Characters of the lead headline in a subject: a whole title is at most 300, and the
# subject column and a phone's inbox line are shorter.
SUBJECT_TITLE = 120


def _subject(catalog: NullTranslations, articles: list[DigestArticle], site_name: str) -> str:
    """"Borlänge får ny bro – och 4 andra nyheter": the lead headline first, as a
    newsroom's own newsletter reads in an inbox; the plural form is the language's."""
    if not articles:
        return site_name
    title = one_line(articles[0].title)
    if len(title) > SUBJECT_TITLE:
        title = title[: SUBJECT_TITLE - 1].rsplit(" ", 1)[0] + "…"
    others = len(articles) - 1
    if not others:
        return title
    return catalog.ngettext(
        "%(title)s – and %(num)d other story", "%(title)s – and %(num)d other stories", others
    ) % {"title": title, "num": others}


def _article_helpers(
    language: str, time_zone: str, tag_url: Callable[[str], str]
) -> dict[str, Any]:
    """What the article cards of _articles.mjml and _articles.txt call."""
    return {
        "moment": partial(format_moment, language=language, tz=time_zone, named=True),
        "names": _names(language),
        "tag_url": tag_url,
    }


@dataclass(frozen=True)
class WelcomeContent:
    language: str
    brand: Brand
    time_zone: str
    topics: list[str]  # labels of the topics they follow; [] = every topic
    frequency: str  # immediate, daily or weekly
    news_languages: list[str]  # codes of the articles' languages
    articles: list[DigestArticle]  # the newest that match, newest first
    topic_url: Callable[[str], str]
    archive_url: str


def render_welcome(content: WelcomeContent, *, max_bytes: int = budget.HTML_BYTES) -> RenderedEmail:
    """Sent once, right after the reader confirms: what they chose, how to change it or
    leave, and the newest articles that match, so nobody waits a day to see them."""
    language = best_language(content.language)
    catalog = translations(language)
    brand = content.brand.context()
    subject = catalog.gettext("Welcome to %(site)s") % {"site": brand["site_name"]}
    locale = babel_locale(language)
    articles = lead_first(content.articles)

    def attempt(count: int) -> RenderedEmail:
        html, text = _render(
            "welcome",
            language,
            **brand,
            **_article_helpers(language, content.time_zone, content.topic_url),
            subject=subject,
            preview=subject,
            day="",
            topics=collation.sorted_by(language, content.topics, str),
            frequency=catalog.gettext(_FREQUENCIES.get(content.frequency, content.frequency)),
            news_languages=format_list(
                [locale.languages.get(code, code) for code in content.news_languages],
                locale=locale,
            ),
            lead=articles[0] if count and articles else None,
            articles=articles[1:count],
            more=len(articles) - min(count, len(articles)),
            archive_url=http_url(content.archive_url),
        )
        return RenderedEmail(subject, html, text)

    return budget.fit(attempt, len(articles), max_bytes)


_FREQUENCIES = {
    "immediate": _("as soon as news is published"),
    "daily": _("once a day"),
    "weekly": _("once a week"),
}


def render_confirm(language: str, brand: Brand, confirm_url: str) -> RenderedEmail:
    return _notice(
        "confirm", language, brand, _("%(site)s: confirm your subscription"),
        confirm_url=confirm_url,
    )  # fmt: skip


def render_already_subscribed(language: str, brand: Brand, preferences_url: str) -> RenderedEmail:
    """Sent instead of a confirm email when an active address subscribes again: the page
    says the same in both cases, so it tells nobody whether an address is subscribed."""
    return _notice(
        "already_subscribed", language, brand, _("%(site)s: you are already subscribed"),
        preferences_url=preferences_url,
    )  # fmt: skip


def _notice(name: str, language: str, brand: Brand, subject: str, **links: str) -> RenderedEmail:
    language = best_language(language)
    context = brand.context()
    subject = translations(language).gettext(subject) % {"site": context["site_name"]}
    html, text = _render(name, language, **context, subject=subject, preview=subject, day="",
                         **links)  # fmt: skip
    return RenderedEmail(subject, html, text)


def _names(language: str) -> Callable[[Sequence[str]], str]:
    locale = babel_locale(language)
    return lambda authors: format_list([one_line(name) for name in authors], locale=locale)
