"""The subscriber pages' forms: read the body, pick the page's language, word the errors.

The form is small, so it is parsed here by hand (as web/hubform.py does for WebSub): a
bounded size and field count, strict UTF-8 (a browser that was told ``charset=utf-8``
sends nothing else, so other bytes are a broken or hostile client), unknown fields ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import get_timezone_location
from pydantic import ValidationError

from config import Settings
from email_templates.i18n import DEFAULT_LANGUAGE, babel_locale, best_language
from newsroom.languages import language_name
from newsroom.subscription import MAX_EMAIL

# The consent text a subscriber agreed to, by version: a new wording gets a new version,
# and the version is stored with each subscription as proof of consent (GDPR art. 7(1)).
FORM_VERSION = "subscribe-2026-11"
MAX_FORM_BYTES = 16 * 1024  # 30 tags of 80 characters, percent-encoded, fit easily
MAX_FIELDS = 60
FIELDS = ("email", "language", "frequency", "tags", "time_zone")
FREQUENCIES = ("immediate", "daily", "weekly")
# The zones a Nordic reader picks from; any other valid zone (from the API) is kept.
ZONES = (
    "Europe/Stockholm", "Europe/Helsinki", "Europe/Oslo", "Europe/Copenhagen",
    "Atlantic/Reykjavik", "Europe/Mariehamn", "UTC",
)  # fmt: skip


def N_(message: str) -> str:  # noqa: N802 (the name Babel looks for)
    """Marks a message for extraction (Babel's default keyword); translated when shown."""
    return message


ERRORS = {
    "email": N_("Enter a valid email address, such as name@example.com."),
    "email.missing": N_("Enter your email address."),
    "email.long": N_("An email address has at most 254 characters."),
    "language": N_("Choose a language from the list."),
    "frequency": N_("Choose how often you want the news."),
    "tags": N_("Choose topics from the list only."),
    "time_zone": N_("Choose a time zone from the list."),
    "confirm": N_("Tick the box to confirm that everything should be erased."),
}


class FormError(ValueError):
    """A body that is not a form we can read at all (not a field's mistake)."""


@dataclass
class FormValues:
    """What the reader sent (or what is stored), as strings, to fill the form in again."""

    email: str = ""
    language: str = ""
    frequency: str = "daily"
    tags: list[str] = field(default_factory=list)
    time_zone: str = ""

    @classmethod
    def parse(cls, body: bytes) -> tuple[FormValues, dict[str, str]]:
        """The known fields and every field as sent (the first value of each)."""
        try:
            pairs = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, errors="strict",
                max_num_fields=MAX_FIELDS,
            )  # fmt: skip
        except UnicodeDecodeError:
            raise FormError("the form must be sent as UTF-8") from None
        except ValueError:  # parse_qsl's own limit
            raise FormError(f"more than {MAX_FIELDS} fields") from None
        first: dict[str, str] = {}
        tags: list[str] = []
        for name, value in pairs:
            if name == "tags":
                tags.extend(value.replace(",", " ").split())
            first.setdefault(name, value)
        values = cls(
            email=first.get("email", ""),
            language=first.get("language", ""),
            frequency=first.get("frequency", ""),
            tags=tags,
            time_zone=first.get("time_zone", ""),
        )
        return values, first

    def model_input(self, email: str | None = None) -> dict[str, object]:
        """The fields for SubscriptionIn; an empty choice is left to its default."""
        data: dict[str, object] = {"email": self.email if email is None else email}
        if self.language:
            data["language"] = self.language
        if self.frequency:
            data["frequency"] = self.frequency
        if self.time_zone:
            data["time_zone"] = self.time_zone
        data["tags"] = self.tags
        return data


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Field name -> key of ERRORS; the message is translated where the page is rendered."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "email"
        if name not in FIELDS:
            continue
        key = name
        if name == "email" and (error["type"] == "missing" or not str(error["input"]).strip()):
            key = "email.missing"
        elif name == "email" and (
            error["type"] == "string_too_long" or f"at most {MAX_EMAIL}" in str(error["msg"])
        ):
            key = "email.long"
        errors.setdefault(name, key)
    return errors


def page_language(settings: Settings, *wanted: str | None, accept: str | None = None) -> str:
    """The first of ``wanted`` (e.g. ?lang=, the form's or the subscriber's language), then
    the browser's Accept-Language (RFC 9110 12.5.4), that the site offers; else its default."""
    codes = settings.subscribe_language_codes
    for code in (*wanted, *_accepted(accept or "")):
        found = _offered(code, codes)
        if found:
            return found
    return _offered(settings.default_language, codes) or codes[0]


def _offered(code: str | None, codes: tuple[str, ...]) -> str | None:
    primary = (code or "").strip().lower().replace("_", "-").split("-")[0]
    if not primary:
        return None
    if primary in codes:
        return primary
    nearest = best_language(primary)  # "nn" and "no" read Bokmål; "xx" falls to English
    return nearest if nearest in codes and nearest != DEFAULT_LANGUAGE else None


def _accepted(header: str) -> list[str]:
    """Accept-Language ranges, best first; "q=0" means "not this one"."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def language_choices(codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, endonym): each language named in itself, as a reader looks for their own."""
    return [(code, language_name(code)) for code in codes]


def zone_choices(language: str, current: str | None = None) -> list[tuple[str, str]]:
    """(zone, city in the page's language): "Helsingfors" in Swedish, "Tukholma" in Finnish."""
    zones = list(ZONES)
    if current and current not in zones and _is_zone(current):
        zones.insert(0, current)  # kept from the API or an import; an invalid one is not shown
    locale = babel_locale(language)
    return [(zone, _city(zone, locale)) for zone in zones]


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _city(zone: str, locale: Locale) -> str:
    if zone == "UTC":
        return "UTC"
    try:
        return str(get_timezone_location(zone, locale=locale, return_city=True))
    except LookupError:
        return zone
