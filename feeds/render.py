"""A FeedDocument to the bytes of a format; same document, same bytes."""

from __future__ import annotations

from collections.abc import Callable

from feeds.atom import render_atom
from feeds.jsonfeed import render_json
from feeds.model import FORMATS, FeedDocument
from feeds.rss import render_rss

_RENDERERS: dict[str, Callable[[FeedDocument], bytes]] = {
    "atom": render_atom,
    "rss": render_rss,
    "json": render_json,
}


def render(doc: FeedDocument, fmt: str) -> bytes:
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"fmt: must be one of {', '.join(FORMATS)}, got {fmt!r}") from None
    return renderer(doc)


def render_every_format(doc: FeedDocument) -> dict[str, bytes]:
    """All formats of one document, as a refresh stores them."""
    return {fmt: _RENDERERS[fmt](doc) for fmt in FORMATS}
