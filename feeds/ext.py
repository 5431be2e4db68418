"""feedgen extensions for the elements feedgen cannot write itself.

Each feed-level extension declares its namespace on the root whether or not the
document uses it, so a feed's namespace set depends on its format only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from feeds.model import Image, Tombstone

ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
AT_NS = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721
MEDIA_NS = "http://search.yahoo.com/mrss/"  # Media RSS 1.5.1
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Neither lxml nor feedgen ships type hints: elements are Any to mypy, and so are the
# base classes (hence the ignore on each class below).
Element = Any


def _channel(rss: Element) -> Element:
    # feedgen hands RSS feed extensions the <rss> root; channel metadata goes one level down.
    return rss.find("channel")


class AtomLinksExtension(BaseExtension):  # type: ignore[misc]
    """atom:link elements in RSS 2.0: feedgen writes rel="self" there and drops every other rel."""

    def __init__(self, links: Sequence[tuple[str, str]]) -> None:
        self.links = links

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS}

    def extend_rss(self, rss: Element) -> Element:
        channel = _channel(rss)
        for rel, href in self.links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel=rel, href=href)
        return rss


class HistoryExtension(BaseExtension):  # type: ignore[misc]
    """RFC 5005 §4: fh:archive marks a page whose entries will not change."""

    def __init__(self, archive: bool) -> None:
        self.archive = archive

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS}

    def extend_atom(self, feed: Element) -> Element:
        if self.archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        return feed

    def extend_rss(self, rss: Element) -> Element:
        self.extend_atom(_channel(rss))
        return rss


class TombstonesExtension(BaseExtension):  # type: ignore[misc]
    """RFC 6721 §3: an at:deleted-entry per retracted article, so readers drop their copy."""

    def __init__(self, tombstones: Sequence[Tombstone]) -> None:
        # §3: a feed MUST NOT repeat an at:deleted-entry with the same ref and when.
        self.refs = list(dict.fromkeys((t.uid, t.when) for t in tombstones))

    def extend_ns(self) -> dict[str, str]:
        return {"at": AT_NS}

    def extend_atom(self, feed: Element) -> Element:
        # No atom:link child, though §3 allows one: feedparser lifts a link nested in an
        # unknown element up to the feed and reports the retracted page as the feed's link.
        for ref, when in self.refs:
            etree.SubElement(feed, f"{{{AT_NS}}}deleted-entry", ref=ref, when=when.isoformat())
        return feed


class MediaExtension(BaseExtension):  # type: ignore[misc]
    def extend_ns(self) -> dict[str, str]:
        return {"media": MEDIA_NS}


class MediaEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """media:content for the article image.

    feedgen's own media extension writes only attributes; the caption and alt text need
    media:description and media:title children. No RSS <enclosure>: it requires a length.
    """

    def __init__(self) -> None:
        self.image: Image | None = None

    def extend_atom(self, entry: Element) -> Element:
        image = self.image
        if image is None:
            return entry
        content = etree.SubElement(
            entry, f"{{{MEDIA_NS}}}content", url=image.url, medium="image", type=image.media_type
        )
        if image.alt:
            etree.SubElement(content, f"{{{MEDIA_NS}}}title").text = image.alt
        if image.caption:
            etree.SubElement(content, f"{{{MEDIA_NS}}}description").text = image.caption
        return entry

    def extend_rss(self, item: Element) -> Element:
        return self.extend_atom(item)


class LanguageEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """xml:lang on each Atom entry (RFC 4287 §2), so an entry copied out of the feed keeps it."""

    def __init__(self) -> None:
        self.language = ""

    def extend_atom(self, entry: Element) -> Element:
        if self.language:
            entry.set(XML_LANG, self.language)
        return entry
