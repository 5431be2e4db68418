"""What a reader (or an operator importing readers) may ask for, and the rules it must pass.

Addresses are checked for syntax only (no DNS: a form must answer at once and the
tests have no network) and normalised, so one person is one row. Internationalised
local parts are refused: without SMTPUTF8 everywhere along the way they would bounce.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import get_settings
from newsroom.errors import DomainError
from newsroom.models import Frequency, Tag

MAX_TAGS = 30
MAX_EMAIL = 254


def normalize_email(value: str) -> str:
    """The one spelling of an address we store and compare; ValueError says what is wrong."""
    if len(value) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters")
    try:
        checked = validate_email(
            value.strip(), check_deliverability=False, allow_smtputf8=False
        )
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    # The ASCII (IDNA) form of the domain: it is what SMTP and our headers carry, and
    # "bücher.de" and "xn--bcher-kva.de" are one address.
    return (checked.ascii_email or checked.normalized).lower()


def _language(value: str) -> str:
    codes = get_settings().subscribe_language_codes
    value = value.strip().lower()
    if value not in codes:
        raise ValueError(f"must be one of {', '.join(codes)}, got {value[:20]!r}")
    return value


def _time_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"unknown time zone {value[:64]!r} (e.g. Europe/Helsinki)")
    return value


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


_ZONES: frozenset[str] | None = None


def _tags(value: Any) -> Any:
    # A form sends "a, b" or repeated fields; JSON sends a list.
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    return value


def _default_zone() -> str:
    return get_settings().time_zone


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_EMAIL)

    email: Annotated[str, AfterValidator(normalize_email)]
    language: Annotated[str, AfterValidator(_language)] = Field(
        default_factory=lambda: get_settings().default_language
    )
    frequency: Frequency = Frequency.DAILY
    tags: Annotated[
        list[Annotated[str, Field(max_length=80)]],
        BeforeValidator(_tags),
        Field(max_length=MAX_TAGS),
    ] = Field(default_factory=list)
    time_zone: Annotated[str, AfterValidator(_time_zone)] = Field(default_factory=_default_zone)


def check_tags(session: Session, tags: list[str]) -> list[str]:
    """The tag slugs, sorted and unique; a tag the newsroom never used is refused."""
    wanted = sorted({tag.strip().lower() for tag in tags})
    known = set(session.scalars(select(Tag.slug).where(Tag.slug.in_(wanted)))) if wanted else set()
    unknown = [tag for tag in wanted if tag not in known]
    if unknown:
        raise DomainError("tags", f"unknown tag {unknown[0][:80]!r}")
    return wanted
