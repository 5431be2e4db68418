"""Feed bytes assembled from entries rendered once per version.

A publish rebuilds whole feeds (all, the article's language, its tags) that share all but
one entry with their last build and with each other, and rendering every entry again was
most of a refresh's CPU. So a format renders the document without entries, and the
entries' bytes are inserted where they belong, each rendered once per (format, entry)
and kept in a bounded memory cache. The entries a document lacks are rendered together,
in one frame, cut apart at a marker entry between them: a rebuild renders thousands of
documents of fifty entries, and a frame of its own per entry cost more than the entry.

This gives byte for byte what the format renders for the whole document, because:
- the entries come last in their parent (feedgen appends them after every other element,
  and JSON Feed's items are the last member), so they go at one insertion point;
- an entry's bytes depend on the entry alone: every namespace is declared on the root,
  and no whitespace separates XML elements.
tests/test_feeds_render.py compares the two for every document it renders.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
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
        self._kept: OrderedDict[Entry, bytes] = OrderedDict()
        self._guard = threading.Lock()  # web processes render in threads
        self.rendered = 0  # entries rendered so far: a kept entry is not counted again

    def __call__(self, doc: FeedDocument) -> bytes:
        pieces = self.entries_bytes(doc.entries)
        # The feed-level fields are cleaned here; the entries were, when first rendered.
        head = replace(clean(replace(doc, entries=()), "doc"), entries=doc.entries)
        body = self._render(head, ())
        at = self._insertion_point(body)
        return body[:at] + self._separator.join(pieces) + body[at:]

    def entries_bytes(self, entries: Sequence[Entry]) -> list[bytes]:
        """The bytes of each of ``entries``: kept ones from memory, the rest rendered."""
        found: dict[Entry, bytes] = {}
        with self._guard:
            for entry in entries:
                if (kept := self._kept.get(entry)) is not None:
                    self._kept.move_to_end(entry)
                    found[entry] = kept
        missing = {entry: i for i, entry in enumerate(entries) if entry not in found}
        if missing:
            made = self._render_entries([_cleaned(entry, i) for entry, i in missing.items()])
            found.update(zip(missing, made, strict=True))
            with self._guard:
                self.rendered += len(made)
                for entry, piece in zip(missing, made, strict=True):
                    self._kept[entry] = piece
                while len(self._kept) > ENTRIES_KEPT:
                    self._kept.popitem(last=False)
        return [found[entry] for entry in entries]

    def forget(self) -> None:
        """Drop every kept entry (tests count renders from here)."""
        with self._guard:
            self._kept.clear()
            self.rendered = 0

    def _render_entries(self, entries: list[Entry]) -> list[bytes]:
        """Cleaned ``entries``' bytes, from one frame that holds them all with the marker
        between each two; one frame per entry if the cut does not give them back."""
        if len(entries) > 1:
            framed: list[Entry] = [entries[0]]
            for entry in entries[1:]:
                framed += [_MARKER, entry]
            pieces = self._framed_bytes(framed).split(self._marker_bytes)
            if len(pieces) == len(entries):
                return pieces
        return [self._framed_bytes([entry]) for entry in entries]

    def _framed_bytes(self, entries: list[Entry]) -> bytes:
        alone = self._render(_FRAME, entries)
        start, end = self._frame_edges
        return alone[start : len(alone) - end]

    @cached_property
    def _marker_bytes(self) -> bytes:
        return self._separator + self._framed_bytes([_MARKER]) + self._separator

    @cached_property
    def _frame_edges(self) -> tuple[int, int]:
        """How many bytes precede and follow the entries in the frame."""
        empty = self._render(_FRAME, ())
        at = self._insertion_point(empty)
        return at, len(empty) - at


# Between two entries rendered in one frame. Its id is new in each process: no entry's
# bytes can hold it (and if one did, the cut would give more pieces than entries, and
# each would be rendered in its own frame instead).
_MARKER = Entry(
    uid=f"urn:budkavle:cut:{uuid.uuid4().hex}",
    url="https://frame.invalid/cut",
    title="cut",
    summary="",
    content_html="cut",
    language="en",
    published=datetime(1970, 1, 1, tzinfo=UTC),
    updated=datetime(1970, 1, 1, tzinfo=UTC),
)


@lru_cache(maxsize=ENTRIES_KEPT)
def _clean_entry(entry: Entry) -> Entry:
    """The entry cleaned, once for all three formats."""
    return clean(entry, "entry")


def _cleaned(entry: Entry, i: int) -> Entry:
    try:
        return _clean_entry(entry)
    except ValueError as exc:
        if not str(exc).startswith("entry."):
            raise
        # Name the entry by its place in the document, as cleaning it there would.
        raise ValueError(f"doc.entries[{i}]{str(exc).removeprefix('entry')}") from None
