"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1), by hand: feedgen does not write it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from feeds.links import paging_links, self_url
from feeds.model import Entry, FeedDocument
from feeds.splice import Spliced, before_last

VERSION = "https://jsonfeed.org/version/1.1"


def render_whole_json(doc: FeedDocument, entries: Sequence[Entry]) -> bytes:
    """JSON Feed for ``doc``, with ``entries`` as its items."""
    links = doc.links
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": doc.title,
        "home_page_url": links.home,
        "feed_url": self_url(links, "json"),
    }
    if doc.subtitle:
        feed["description"] = doc.subtitle
    # JSON Feed's next_url leads to older items, which RFC 5005 calls prev-archive.
    older = dict(paging_links(links, "json")).get("prev-archive")
    if older is not None:
        feed["next_url"] = older
    feed["language"] = doc.language
    feed["hubs"] = [{"type": "WebSub", "url": links.hub}]
    feed["items"] = [_item(entry) for entry in entries]  # last, for feeds.splice
    return json.dumps(feed, ensure_ascii=False).encode("utf-8")


def _item(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.uid,
        "url": entry.url,
        "title": entry.title,
        "content_html": entry.content_html,
    }
    if entry.summary:
        item["summary"] = entry.summary
    if entry.image is not None:
        item["image"] = entry.image.url
    item["date_published"] = entry.published.isoformat()
    item["date_modified"] = entry.updated.isoformat()
    if entry.authors:
        item["authors"] = [{"name": name} for name in entry.authors]
    if entry.tags:
        item["tags"] = [tag.label or tag.slug for tag in entry.tags]
    item["language"] = entry.language
    return item


render_json = Spliced(render_whole_json, before_last(b"]}"), separator=b", ")
