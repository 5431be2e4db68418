"""Every public URL of the site, built in one place.

Pages, feeds, emails and partner payloads all link to the same few places; building the
addresses here keeps a page's route and every link to it from drifting apart. The
personal, signed links of an email (confirm, preferences, unsubscribe) are in
newsroom.links; the routes that answer these URLs are in web/.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlencode

from config import Settings

ARTICLES_PATH = "/articles"
TOPICS_PATH = "/tags"
LANGUAGES_PATH = "/lang"
NEWSLETTER_PATH = "/newsletter"
SUBSCRIBE_PATH = "/subscribe"
FEEDS_PATH = "/feeds"
HUB_PATH = "/websub"


def _segment(value: str) -> str:
    # Slugs are [a-z0-9-] today; quoting keeps a link well-formed whatever comes.
    return quote(value, safe="")


def home_url(settings: Settings) -> str:
    return settings.public_url + "/"


def article_url(slug: str, settings: Settings) -> str:
    return f"{settings.public_url}{ARTICLES_PATH}/{_segment(slug)}"


def topic_url(slug: str, settings: Settings) -> str:
    """The HTML page of a tag: what every tag in a page or an email links to."""
    return f"{settings.public_url}{TOPICS_PATH}/{_segment(slug)}"


def language_url(code: str, settings: Settings) -> str:
    return f"{settings.public_url}{LANGUAGES_PATH}/{_segment(code)}"


def newsletter_url(settings: Settings) -> str:
    """The newsletter archive."""
    return settings.public_url + NEWSLETTER_PATH


def edition_url(segment_id: int, settings: Settings) -> str:
    """One edition segment in a browser ("view in browser")."""
    return f"{settings.public_url}{NEWSLETTER_PATH}/{segment_id}"


def subscribe_url(settings: Settings, *, tags: Iterable[str] = ()) -> str:
    """The signup form, with topics already ticked (a topic page's "follow by email")."""
    chosen = list(tags)
    query = f"?{urlencode([('tags', slug) for slug in chosen])}" if chosen else ""
    return settings.public_url + SUBSCRIBE_PATH + query


def feed_url(path: str, settings: Settings) -> str:
    """A feed document, ``path`` as feeds.keys.FeedKey.path gives it (``tags/x.atom``)."""
    return f"{settings.public_url}{FEEDS_PATH}/{path}"


def hub_url(settings: Settings) -> str:
    """The WebSub hub that every feed names (W3C WebSub 4)."""
    return settings.public_url + HUB_PATH
