"""Feed bytes assembled from entries rendered once per version.

A publish rebuilds whole feeds (all, the article's language, its tags) that share all but
one entry with their last build and with each other, and rendering every entry again was
most of a refresh's CPU. So a format renders the document without entries, and the
entries' bytes are inserted where they belong, each rendered once per (format, entry)
and kept in a bounded memory cache.

This gives byte for byte what the format renders for the whole document, because:
- the entries come last in their parent (feedgen appends them after every other element,
  and JSON Feed's items are the last member), so they go at one insertion point;
- an entry's bytes depend on the entry alone: every namespace is declared on the root,
  and no whitespace separates XML elements.
tests/test_feeds_render.py compares the two for every document it renders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property, lru_cache

from feeds.clean import clean
from feeds.model import FORMATS, Entry, FeedDocument, Links

# A format's renderer for a whole document: feed-level data from the document (whose
# entries also decide feed-level rules, such as Atom's feed author), ``entries`` written.
Renderer = Callable[[FeedDocument, Sequence[Entry]], bytes]
# Where the entries go in a document rendered without any.
InsertionPoint = Callable[[bytes], int]

# Entries kept per format and process: a publish touches ~5 feeds of 50 entries, mostly
# the same ones. Each kept entry holds its bytes and its Entry, ~10 KB for a news
# article: ~15 MB for the three formats. A miss costs one entry's render, never a wrong byte.
ENTRIES_KEPT = 512

# The feed an entry is rendered in on its own, to cut the entry's bytes out of it.
_FRAME = FeedDocument(
    feed_id="urn:budkavle:frame",
    title="frame",
    subtitle="",
    language="en",
    links=Links(
        home="https://frame.invalid/",
        self_url={fmt: f"https://frame.invalid/feed.{fmt}" for fmt in FORMATS},
        hub="https://frame.invalid/hub",
    ),
    updated=datetime(1970, 1, 1, tzinfo=UTC),
)


def before_last(closing: bytes) -> InsertionPoint:
    """Entries go just before the last ``closing`` (``</feed>``, ``</channel>``, ``]}``)."""
    return lambda body: body.rindex(closing)


class Spliced:
    """``render`` for a whole document, with each entry rendered once and its bytes kept."""

    def __init__(self, render: Renderer, insertion_point: InsertionPoint, separator: bytes = b""):
        self._render = render
        self._insertion_point = insertion_point
        self._separator = separator
        self.entry_bytes = lru_cache(maxsize=ENTRIES_KEPT)(self._entry_bytes)

    def __call__(self, doc: FeedDocument) -> bytes:
        pieces = []
        for i, entry in enumerate(doc.entries):
            try:
                pieces.append(self.entry_bytes(entry))
            except ValueError as exc:
                if not str(exc).startswith("entry."):
                    raise
                # Name the entry by its place in the document, as cleaning it there would.
                raise ValueError(f"doc.entries[{i}]{str(exc).removeprefix('entry')}") from None
        # The feed-level fields are cleaned here; the entries were, when first rendered.
        head = replace(clean(replace(doc, entries=()), "doc"), entries=doc.entries)
        body = self._render(head, ())
        at = self._insertion_point(body)
        return body[:at] + self._separator.join(pieces) + body[at:]

    def _entry_bytes(self, entry: Entry) -> bytes:
        alone = self._render(_FRAME, (clean(entry, "entry"),))
        start, end = self._frame_edges
        return alone[start : len(alone) - end]

    @cached_property
    def _frame_edges(self) -> tuple[int, int]:
        """How many bytes precede and follow the entries in the frame."""
        empty = self._render(_FRAME, ())
        at = self._insertion_point(empty)
        return at, len(empty) - at
