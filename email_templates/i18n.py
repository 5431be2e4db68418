"""Translations and dates in the subscriber's language (Babel).

The catalogs are the ``.po`` files themselves, compiled in memory on first use: there is
no build step and no ``.mo`` file to forget. One catalog per (domain, language):
``email`` for the messages here, ``pages`` for the web subscriber pages.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from functools import lru_cache
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_location
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"
# Fully translated, in the order a language menu shows them.
LANGUAGES = ("sv", "fi", "en", "nb", "da", "is")
# Readers of these read one of the above well: Nynorsk and unspecified Norwegian read
# Bokmål; Northern Sami readers in Sweden and Finland read Swedish far more often than
# English (a guess worth revisiting when a Sami catalog exists).
_NEAREST = {"nn": "nb", "no": "nb", "se": "sv"}
# English dates in the British order ("Thursday, 26 November 2026"), the one Nordic
# readers expect; the US default would put the month first.
_BABEL_LOCALES = {"en": "en_GB"}
_YEAR = re.compile(r"[\s,.]*\by+\b\.?")


def best_language(code: str | None) -> str:
    """The supported language closest to ``code`` ("sv-FI" -> "sv", "nn" -> "nb", "xx" -> "en")."""
    primary = (code or "").strip().lower().replace("_", "-").split("-")[0]
    primary = _NEAREST.get(primary, primary)
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def translations(language: str | None, domain: str = "email") -> NullTranslations:
    """The catalog of ``domain`` in the best language; untranslated messages fall back to
    English, and a missing catalog to the English source strings themselves."""
    return _translations(best_language(language), domain)


@lru_cache(maxsize=64)
def _translations(language: str, domain: str) -> NullTranslations:
    catalog = _load(language, domain)
    if language == DEFAULT_LANGUAGE:
        return catalog or NullTranslations()
    english = _translations(DEFAULT_LANGUAGE, domain)
    if catalog is None:
        return english
    catalog.add_fallback(english)
    return catalog


def _load(language: str, domain: str) -> Translations | None:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return None
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=domain)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy and empty translations are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def babel_locale(language: str | None) -> Locale:
    code = best_language(language)
    return Locale.parse(_BABEL_LOCALES.get(code, code))


def zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


@lru_cache(maxsize=1024)
def format_day(dt: datetime, language: str | None, tz: str | tzinfo, *, year: bool = True) -> str:
    """The local day in words: "torsdag 26 november 2026", "torstai 26. marraskuuta 2026";
    without the year ("torsdag 26 november") for subject lines."""
    if dt.tzinfo is None:
        raise ValueError("dt: must be an aware datetime, got a naive one")
    locale = babel_locale(language)
    local = dt.astimezone(zone(tz))
    pattern = locale.date_formats["full"].pattern
    if not year:
        pattern = _YEAR.sub("", pattern).strip(" ,.")
    return format_date(local.date(), pattern, locale=locale)


@lru_cache(maxsize=4096)  # a digest names the same few dates many times, in every edition
def format_moment(
    dt: datetime, language: str | None, tz: str | tzinfo, *, named: bool = False
) -> str:
    """Day and local time, short ("26 nov. 08:30", "26.11. 8.30"), for article bylines;
    ``named``: with the zone's city in the reader's language ("4 dec. 09:00
    (Helsingfors)"), for a reader who may not live where the newsroom does."""
    if dt.tzinfo is None:
        raise ValueError("dt: must be an aware datetime, got a naive one")
    locale = babel_locale(language)
    local = dt.astimezone(zone(tz))
    day = format_skeleton("MMMd", local, locale=locale)
    moment = f"{day} {format_time(local.time(), 'short', locale=locale)}"
    return f"{moment} ({zone_name(tz, language)})" if named else moment


@lru_cache(maxsize=256)
def zone_name(tz: str | tzinfo, language: str | None) -> str:
    """The zone as a reader names it: its city in their language (CLDR exemplar city:
    "Helsingfors" in Swedish, "Helsinki" in Finnish), or "UTC"."""
    key = tz if isinstance(tz, str) else str(tz)
    if key in ("UTC", "Etc/UTC", "GMT"):
        return "UTC"
    city: str = get_timezone_location(zone(tz), locale=babel_locale(language), return_city=True)
    return city
