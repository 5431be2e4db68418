"""Which feeds exist, which ones a change touches, and where each one lives.

A feed key names a selection of articles: ``all``, ``tags/{slug}`` or ``lang/{code}``.
Each is served in every format at ``/feeds/{key}.{format}``, and its RFC 5005 archive
pages at ``/feeds/{key}/archive/{n}.{format}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from feeds.model import FORMATS

_KEY = re.compile(r"^(all|tags/[a-z0-9]+(?:-[a-z0-9]+)*|lang/[a-z]{2,3})$")
_PATH = re.compile(
    r"^(?P<key>all|tags/[a-z0-9-]{1,80}|lang/[a-z]{2,3})"
    r"(?:/archive/(?P<page>[1-9][0-9]{0,6}))?\.(?P<fmt>atom|rss|json)$"
)


@dataclass(frozen=True)
class FeedKey:
    kind: str            # "all", "tags" or "lang"
    value: str = ""      # the tag slug or language code

    @classmethod
    def parse(cls, key: str) -> FeedKey:
        if not _KEY.match(key):
            raise ValueError(f"not a feed key: {key!r}")
        kind, _, value = key.partition("/")
        return cls(kind, value)

    def __str__(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}/{self.value}"

    def path(self, fmt: str, page: int | None = None) -> str:
        """The document's path below /feeds/."""
        return f"{self}.{fmt}" if page is None else f"{self}/archive/{page}.{fmt}"

    def urls(self, feeds_base: str, page: int | None = None) -> dict[str, str]:
        return {fmt: f"{feeds_base}/{self.path(fmt, page)}" for fmt in FORMATS}


@dataclass(frozen=True)
class FeedRequest:
    key: FeedKey
    fmt: str
    page: int | None     # None: the current (subscription) document


def parse_path(path: str) -> FeedRequest | None:
    """``tags/borlange.atom`` -> what to serve, or None for a path that names no feed."""
    match = _PATH.match(path)
    if not match or not _KEY.match(match["key"]):
        return None
    page = int(match["page"]) if match["page"] else None
    return FeedRequest(FeedKey.parse(match["key"]), match["fmt"], page)


def keys_for(state: dict[str, Any]) -> set[FeedKey]:
    """The feeds an article appears in, given its state as recorded in an outbox event."""
    if not state.get("visible"):
        return set()
    keys = {FeedKey("all"), FeedKey("lang", state["language"])}
    keys.update(FeedKey("tags", slug) for slug in state.get("tags", []))
    return keys


def touched_by(payload: dict[str, Any]) -> list[FeedKey]:
    """Old and new feeds of a change, "all" first: it is the most read."""
    keys = keys_for(payload.get("before", {})) | keys_for(payload.get("after", {}))
    return sorted(keys, key=lambda key: (key.kind != "all", key.kind, key.value))
