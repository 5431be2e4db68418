"""What Atom and RSS share: one feedgen FeedGenerator filled from a FeedDocument."""

from __future__ import annotations

from typing import Any

from feedgen.feed import FeedGenerator

from feeds.ext import MediaEntryExtension, MediaExtension
from feeds.model import Entry, FeedDocument


def new_feed(doc: FeedDocument) -> Any:
    fg = FeedGenerator()
    fg.id(doc.feed_id)
    fg.title(doc.title)
    fg.language(doc.language)  # RSS <language> and xml:lang on the Atom root
    # feedgen stamps now() into atom:updated and lastBuildDate unless told otherwise.
    fg.updated(doc.updated)
    # Name only: feedgen's default adds its own URI and version, which change on upgrade.
    fg.generator(doc.generator)
    fg.register_extension("media", MediaExtension, MediaEntryExtension)
    return fg


def add_entry(fg: Any, entry: Entry) -> Any:
    # feedgen prepends by default; the document is already newest first.
    fe = fg.add_entry(order="append")
    fe.id(entry.uid)  # also the RSS guid, isPermaLink="false": a urn:uuid is no page
    fe.title(entry.title)
    fe.link(href=entry.url, rel="alternate")
    fe.published(entry.published)
    fe.updated(entry.updated)
    if entry.summary:
        fe.summary(entry.summary)  # Atom <summary>, RSS <description>
    fe.content(entry.content_html, type="html")  # Atom <content>, RSS content:encoded
    for tag in entry.tags:
        # Atom term and label; RSS <category> shows the label only.
        fe.category(term=tag.slug, label=tag.label or tag.slug)
    fe.media.image = entry.image
    return fe
