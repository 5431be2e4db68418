"""The links a subscriber gets: confirm, preferences, unsubscribe (https and mailto).

One place builds them, so the pages that answer them (web/subscribe.py) and the emails
that carry them (worker/notices.py, the digest sender) never disagree on a path.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from newsroom import tokens
from newsroom.models import Subscriber
from newsroom.subscribers import token_for
from newsroom.tokens import Purpose

CONFIRM_PATH = "/subscribe/confirm/"
UNSUBSCRIBE_PATH = "/unsubscribe/"
PREFERENCES_PATH = "/preferences/"


def confirm_url(subscriber: Subscriber, settings: Settings) -> str:
    """Expires after BUDKAVLE_CONFIRM_MAX_AGE_SECONDS (double opt-in must be fresh)."""
    return settings.public_url + CONFIRM_PATH + token_for(subscriber, Purpose.CONFIRM, settings)


def unsubscribe_url(subscriber: Subscriber, settings: Settings) -> str:
    """The RFC 8058 one-click URL: a POST to it unsubscribes, a GET shows a button."""
    token = token_for(subscriber, Purpose.UNSUBSCRIBE, settings)
    return settings.public_url + UNSUBSCRIBE_PATH + token


def preferences_url(subscriber: Subscriber, settings: Settings) -> str:
    token = token_for(subscriber, Purpose.PREFERENCES, settings)
    return settings.public_url + PREFERENCES_PATH + token


def unsubscribe_mailto(subscriber: Subscriber, settings: Settings) -> str:
    """RFC 2369 mailto for clients without one-click (RFC 8058 3.1 keeps it beside the URL)."""
    return _mailto(token_for(subscriber, Purpose.UNSUBSCRIBE, settings), settings)


def _mailto(token: str, settings: Settings) -> str:
    # The token is URL-safe base64 and dots, so it needs no escaping in the subject.
    return f"mailto:unsubscribe@{settings.mail_domain}?subject=unsubscribe%20{token}"


@dataclass(frozen=True)
class PersonalLinks:
    """What every email to a subscriber carries: its headers and footer need all three."""

    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str


def personal_links(subscriber: Subscriber, settings: Settings) -> PersonalLinks:
    unsubscribe = token_for(subscriber, Purpose.UNSUBSCRIBE, settings)  # signed once, used twice
    preferences = token_for(subscriber, Purpose.PREFERENCES, settings)
    return PersonalLinks(
        unsubscribe_url=settings.public_url + UNSUBSCRIBE_PATH + unsubscribe,
        unsubscribe_mailto=_mailto(unsubscribe, settings),
        preferences_url=settings.public_url + PREFERENCES_PATH + preferences,
    )


# No subscriber has id 0 (ids start at 1), so a token for it is a link that leads
# nowhere: the unsubscribe and preferences pages answer it as a dead link, and RFC 8058's
# one-click POST changes nothing, whoever the address belongs to.
NO_SUBSCRIBER = 0


def inert_links(address: str, settings: Settings) -> PersonalLinks:
    """The links of a test email: real-looking and signed, for no subscriber, so a test
    sent to a subscriber's own address cannot unsubscribe them."""
    secret = settings.resolved_secret_key()
    unsubscribe = tokens.make(secret, Purpose.UNSUBSCRIBE, NO_SUBSCRIBER, address)
    preferences = tokens.make(secret, Purpose.PREFERENCES, NO_SUBSCRIBER, address)
    return PersonalLinks(
        unsubscribe_url=settings.public_url + UNSUBSCRIBE_PATH + unsubscribe,
        unsubscribe_mailto=_mailto(unsubscribe, settings),
        preferences_url=settings.public_url + PREFERENCES_PATH + preferences,
    )


def list_id(language: str, settings: Settings) -> str:
    """RFC 2919 List-Id: one list per language, digests and their confirmations alike, so
    a reader's filter catches both."""
    return f"{settings.site_name} <{language}.digest.{settings.mail_domain}>"
