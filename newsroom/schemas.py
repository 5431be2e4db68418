"""What an editor may send for an article, and every rule it must pass.

A value that breaks a rule raises, and the message names the rule; the API turns it into
a 422 naming the field. Values that pass come out clean: XML-safe, NFC, sanitised HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from config import get_settings
from newsroom.sanitize import clean_html, markdown_to_html, visible_text
from newsroom.text import line_count, make_slug, one_line, xml_safe

MAX_BODY_BYTES = 1024 * 1024
MAX_TITLE = 300
MAX_SUMMARY = 2000
MAX_TAGS = 20
MAX_AUTHORS = 20
MAX_URL = 2000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _line(max_length: int, *, required: bool) -> Any:
    def check(value: str) -> str:
        lines = line_count(xml_safe(value))
        if lines > 1:
            raise ValueError(f"must be one line, got {lines}")
        value = one_line(value)
        if required and not value:
            raise ValueError("must not be empty")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters, got {len(value)}")
        return value

    return AfterValidator(check)


def _url(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    # Not printable: C0/C1 controls, lone surrogates, U+FFFE, bidi overrides. A URL is
    # refused rather than silently changed (a lone surrogate cannot even be stored).
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ValueError("must not contain spaces or control characters")
    return value


def _language(value: str) -> str:
    code = value.strip().lower()
    allowed = get_settings().language_codes
    if code not in allowed:
        raise ValueError(f"unknown language {value!r}; use one of {', '.join(allowed)}")
    return code


def _datetime(value: Any) -> Any:
    # Numbers would be read as Unix timestamps; an editor means a date, so ask for one.
    if isinstance(value, bool | int | float):
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-11-26T09:30:00+01:00")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:  # a naive time is the newsroom's own local time
        value = value.replace(tzinfo=get_settings().zone)
    value = value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970 and 2100")
    return value


def _body(render: Any) -> Any:
    def check(source: str) -> str:
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > MAX_BODY_BYTES:
            raise ValueError(f"must be at most {MAX_BODY_BYTES} bytes, got {size}")
        html: str = render(source)
        if not visible_text(html) and "<img" not in html:
            raise ValueError("has no text left after sanitising")
        return xml_safe(source)  # the source is stored too (body_markdown): no NUL, no surrogates

    return AfterValidator(check)


def _summary(value: str) -> str:
    value = " ".join(xml_safe(value).split())
    if len(value) > MAX_SUMMARY:
        raise ValueError(f"must be at most {MAX_SUMMARY} characters, got {len(value)}")
    return value


def _slug(value: str) -> str:
    slug = make_slug(value)
    if not slug:
        raise ValueError("must contain letters or digits")
    return slug


def _unique_tags(labels: list[str]) -> list[str]:
    """Tags are known by slug: "Borlänge" and "borlange" are one tag; the first label wins."""
    seen: dict[str, str] = {}
    for label in labels:
        slug = make_slug(label, max_length=80)
        if not slug:
            raise ValueError(f"{label!r} has no letters or digits")
        seen.setdefault(slug, label)
    return list(seen.values())


Url = Annotated[str, AfterValidator(_url)]
Label = Annotated[str, _line(60, required=True)]
LanguageCode = Annotated[str, AfterValidator(_language)]
Name = Annotated[str, _line(120, required=True)]


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    alt: Annotated[str, _line(300, required=False)] = ""
    caption: Annotated[str, _line(500, required=False)] = ""


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, _line(MAX_TITLE, required=True)]
    language: LanguageCode
    body_html: Annotated[str, _body(clean_html)] | None = None
    body_markdown: Annotated[str, _body(markdown_to_html)] | None = None
    slug: Annotated[str, AfterValidator(_slug)] | None = None
    summary: Annotated[str, AfterValidator(_summary)] = ""
    tags: Annotated[list[Label], Field(max_length=MAX_TAGS), AfterValidator(_unique_tags)] = []
    authors: Annotated[list[Name], Field(max_length=MAX_AUTHORS)] = []
    image: ImageIn | None = None
    canonical_url: Url | None = None
    published_at: (
        Annotated[datetime, BeforeValidator(_datetime), AfterValidator(_aware)] | None
    ) = None
    status: Literal["published", "draft"] = "published"
    # The email side only (feeds, pages and partners ignore both). JSON true or false,
    # nothing else: "false" as a string would read as true in too many places.
    lead: StrictBool = False
    keep_out_of_email: StrictBool = False

    @model_validator(mode="after")
    def _one_body(self) -> ArticleIn:
        if (self.body_html is None) == (self.body_markdown is None):
            raise ValueError("give exactly one of body_html and body_markdown")
        return self

    @property
    def html(self) -> str:
        """The sanitised body, from ``body_html`` or rendered from ``body_markdown``."""
        if self.body_html is not None:
            return clean_html(self.body_html)
        return markdown_to_html(self.body_markdown or "")
