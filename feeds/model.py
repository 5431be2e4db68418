"""What a feed document is made of, as plain values: the renderers never see the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FORMATS = ("atom", "rss", "json")

CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@dataclass(frozen=True)
class Tag:
    slug: str
    label: str


@dataclass(frozen=True)
class Image:
    url: str
    alt: str = ""
    caption: str = ""
    media_type: str = "image/jpeg"


@dataclass(frozen=True)
class Entry:
    uid: str                      # stable id, "urn:uuid:..."; never changes for an article
    url: str                      # the article's canonical page
    title: str                    # one line, XML-safe
    summary: str                  # plain text
    content_html: str             # sanitised HTML, XML-safe
    language: str
    published: datetime           # aware, UTC
    updated: datetime             # aware, UTC
    version: int = 1
    authors: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    image: Image | None = None


@dataclass(frozen=True)
class Tombstone:
    """A retracted article, kept in Atom as an RFC 6721 at:deleted-entry."""

    uid: str
    url: str
    when: datetime                # aware, UTC


@dataclass(frozen=True)
class Links:
    """The URLs a document names: itself (per format), the hub, and RFC 5005 paging."""

    home: str                     # the site's home page (alternate link)
    self_url: dict[str, str]      # format -> URL of this very document
    hub: str                      # WebSub hub
    current: dict[str, str] | None = None        # archive pages: format -> current feed URL
    prev_archive: dict[str, str] | None = None   # format -> URL of the next older archive page
    next_archive: dict[str, str] | None = None   # format -> URL of the next newer archive page


@dataclass(frozen=True)
class FeedDocument:
    feed_id: str                  # stable URL-like id of the feed (same for every format)
    title: str
    subtitle: str
    language: str
    links: Links
    updated: datetime             # from the data, never now(): newest change in the document
    entries: tuple[Entry, ...] = ()          # newest first
    tombstones: tuple[Tombstone, ...] = ()   # newest first
    archive: bool = False         # an RFC 5005 archive page (fh:archive)
    generator: str = "Budkavle"
