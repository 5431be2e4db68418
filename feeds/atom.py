"""Atom 1.0 (RFC 4287) with WebSub, RFC 5005 history and RFC 6721 tombstones."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from feedgen.ext.base import BaseExtension

from feeds.ext import HistoryExtension, LanguageEntryExtension, TombstonesExtension
from feeds.links import paging_links, self_url
from feeds.model import Entry, FeedDocument
from feeds.splice import Spliced, before_last
from feeds.xmlfeed import add_entry, new_feed

ATOM_TYPE = "application/atom+xml"


def render_whole_atom(doc: FeedDocument, entries: Sequence[Entry]) -> bytes:
    """feedgen's Atom for ``doc``, with ``entries`` written."""
    fg = new_feed(doc)
    if doc.subtitle:
        fg.subtitle(doc.subtitle)
    fg.link(href=doc.links.home, rel="alternate", type="text/html")
    fg.link(href=self_url(doc.links, "atom"), rel="self", type=ATOM_TYPE)
    fg.link(href=doc.links.hub, rel="hub")  # WebSub §4: discovery
    for rel, href in paging_links(doc.links, "atom"):
        fg.link(href=href, rel=rel, type=ATOM_TYPE)
    # RFC 4287 §4.1.1: a feed names an author unless every entry names its own.
    if any(not entry.authors for entry in doc.entries):
        fg.author(name=doc.title)

    fg.register_extension("history", partial(HistoryExtension, doc.archive), rss=False)
    fg.register_extension("tombstones", partial(TombstonesExtension, doc.tombstones), rss=False)
    fg.register_extension("lang", BaseExtension, LanguageEntryExtension, rss=False)
    for entry in entries:
        fe = add_entry(fg, entry)
        for name in entry.authors:
            fe.author(name=name)
        fe.lang.language = entry.language
    body: bytes = fg.atom_str()
    return body


render_atom = Spliced(render_whole_atom, before_last(b"</feed>"))
