"""The article form: what an editor typed, read into the API's own ArticleIn, and every
rule it breaks named against its field in the reader's language.

The form is checked by the same model as POST /api/articles (newsroom/schemas.py), so the
desk can save nothing the API would refuse, and refuses nothing the API would save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request

from config import get_settings
from newsroom.models import Article
from newsroom.schemas import ArticleIn
from web.desk.session import DeskProblem

FIELDS = (
    "title", "language", "summary", "body", "tags", "authors", "image_url", "image_alt",
    "image_caption", "canonical_url", "published_at",
)  # fmt: skip
FLAGS = ("lead", "keep_out_of_email")
# Echoed back into the form at most this long: a refused 5 MB title is not sent back whole.
ECHO = {"body": 2 * 1024 * 1024, "summary": 4000}
ECHO_DEFAULT = 2500
MAX_FIELDS = 50
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows and sends

# A pydantic error's location -> the form field it belongs to.
_LOCATIONS = {
    "body_markdown": "body",
    "image.url": "image_url",
    "image.alt": "image_alt",
    "image.caption": "image_caption",
}


@dataclass
class Typed:
    """The form as typed: strings for the fields, booleans for the two flags."""

    values: dict[str, str] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def from_form(form: FormData) -> Typed:
    values = {}
    for name in FIELDS:
        value = form.get(name, "")
        values[name] = value if isinstance(value, str) else ""
    return Typed(values, {name: form.get(name) == "on" for name in FLAGS})


def from_article(article: Article) -> Typed:
    zone = get_settings().zone
    when = article.published_at
    values = {
        "title": article.title,
        "language": article.language,
        "summary": article.summary,
        # An article sent to the API as HTML has no Markdown; Markdown passes HTML through.
        "body": article.body_markdown if article.body_markdown is not None else article.body_html,
        "tags": ", ".join(tag.label for tag in article.tags),
        "authors": ", ".join(article.authors),
        "image_url": article.image_url or "",
        "image_alt": article.image_alt,
        "image_caption": article.image_caption,
        "canonical_url": article.canonical_url or "",
        "published_at": when.astimezone(zone).strftime(TIME_FORMAT) if when else "",
    }
    flags = {"lead": article.lead, "keep_out_of_email": article.keep_out_of_email}
    return Typed(values, flags)


def echo(typed: Typed) -> Typed:
    values = {k: v[: ECHO.get(k, ECHO_DEFAULT)] for k, v in typed.values.items()}
    return Typed(values, dict(typed.flags))


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def payload(typed: Typed, status: str, published_at: str | None) -> dict[str, Any]:
    """The API's JSON body for what was typed."""
    data: dict[str, Any] = {
        "title": typed.get("title"),
        "language": typed.get("language"),
        "summary": typed.get("summary"),
        "body_markdown": typed.get("body"),
        "tags": _list(typed.get("tags")),
        "authors": _list(typed.get("authors")),
        "canonical_url": typed.get("canonical_url").strip() or None,
        "published_at": published_at or None,
        "status": status,
        "lead": typed.flags.get("lead", False),
        "keep_out_of_email": typed.flags.get("keep_out_of_email", False),
    }
    image = {name: typed.get(f"image_{name}") for name in ("url", "alt", "caption")}
    if any(value.strip() for value in image.values()):
        data["image"] = image  # alt or caption without a URL: ImageIn says the URL is missing
    return data


def check(data: dict[str, Any]) -> tuple[ArticleIn | None, dict[str, str]]:
    """The validated article, or the error key of each field that broke a rule."""
    try:
        return ArticleIn.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            location = [str(part) for part in error["loc"] if not isinstance(part, int)]
            dotted = ".".join(location) or "body_markdown"
            name = _LOCATIONS.get(dotted, location[0] if location else "body")
            if name == "image":  # the image object itself: its URL is what is missing
                name = "image_url"
            errors.setdefault(name if name in FIELDS else "body", f"error.article.{name}")
        return None, errors


def scheduling(typed: Typed, now: datetime) -> bool:
    """True if the typed publication time is in the future (the button says Schedule)."""
    value = typed.get("published_at").strip()
    if not value:
        return False
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=get_settings().zone)
    return when > now


def same_minute(typed: str, stored: datetime | None) -> bool:
    """The form shows a time to the minute; sent back unchanged it means "keep it"."""
    if stored is None:
        return False
    return typed.strip() == stored.astimezone(get_settings().zone).strftime(TIME_FORMAT)


async def read_utf8_form(request: Request) -> FormData:
    """The form, if it is url-encoded UTF-8; a 4xx page if it is anything else.

    Read here rather than by Starlette's form parser, which decodes bytes as Latin-1 and a
    bad %-escape as U+FFFD (either would store text the editor never typed), and stops a
    field at 1 MB of %-escapes: a Swedish body of 400 kB is that, well under ArticleIn's
    1 MiB. Browsers send a plain form url-encoded in the page's encoding, UTF-8 (HTML
    §4.10.21.7), so anything else is a client's bug or an attack. BodyLimit
    (BUDKAVLE_MAX_REQUEST_BYTES) has already bounded the whole body.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise DeskProblem(415, "error.form_kind")
    raw = await request.body()
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FIELDS)  # fmt: skip
    except UnicodeDecodeError:  # raw bytes above 127, or %-escapes that are not UTF-8
        raise DeskProblem(400, "error.encoding") from None
    except ValueError:  # more fields than any form of the desk has
        raise DeskProblem(400, "error.400") from None
    return FormData([(name, value) for name, value in pairs])
