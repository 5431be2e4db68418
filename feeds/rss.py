"""RSS 2.0 with content:encoded, dc:creator, WebSub and RFC 5005 links as atom:link."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from feeds.ext import AtomLinksExtension, HistoryExtension
from feeds.links import paging_links, self_url
from feeds.model import Entry, FeedDocument
from feeds.splice import Spliced, before_last
from feeds.xmlfeed import add_entry, new_feed


def render_whole_rss(doc: FeedDocument, entries: Sequence[Entry]) -> bytes:
    """feedgen's RSS for ``doc``, with ``entries`` written."""
    fg = new_feed(doc)
    # RSS 2.0 requires a channel description; the title stands in for an empty subtitle.
    fg.description(doc.subtitle or doc.title)
    fg.link(href=self_url(doc.links, "rss"), rel="self", type="application/rss+xml")
    # Last: feedgen takes the channel <link> from the last link given.
    fg.link(href=doc.links.home, rel="alternate")
    # WebSub §4 discovery and RFC 5005 paging, which feedgen leaves out of RSS.
    links = [("hub", doc.links.hub), *paging_links(doc.links, "rss")]
    fg.register_extension("atom_links", partial(AtomLinksExtension, links), atom=False)
    fg.register_extension("history", partial(HistoryExtension, doc.archive), atom=False)
    fg.load_extension("dc", atom=False)

    for entry in entries:
        fe = add_entry(fg, entry)
        # feedgen writes RSS <author> only with an email address; a byline is a name.
        if entry.authors:
            fe.dc.dc_creator(list(entry.authors))
        fe.dc.dc_language(entry.language)
    body: bytes = fg.rss_str()
    return body


render_rss = Spliced(render_whole_rss, before_last(b"</channel>"))
