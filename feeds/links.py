"""Which URL a document names for a link relation, per output format."""

from __future__ import annotations

from feeds.model import Links

# RFC 5005 §4: an archive page points at the subscription document and its neighbours.
PAGING_RELS = ("current", "prev-archive", "next-archive")


def _pick(urls: dict[str, str], fmt: str, field: str) -> str:
    try:
        return urls[fmt]
    except KeyError:
        raise ValueError(
            f"links.{field}: has no {fmt!r} URL, only {', '.join(sorted(urls)) or 'none'}"
        ) from None


def self_url(links: Links, fmt: str) -> str:
    return _pick(links.self_url, fmt, "self_url")


def paging_links(links: Links, fmt: str) -> list[tuple[str, str]]:
    """(rel, href) for each RFC 5005 link the document has, in PAGING_RELS order."""
    urls = {
        "current": links.current,
        "prev-archive": links.prev_archive,
        "next-archive": links.next_archive,
    }
    return [
        (rel, _pick(by_fmt, fmt, rel.replace("-", "_")))
        for rel in PAGING_RELS
        if (by_fmt := urls[rel]) is not None
    ]
