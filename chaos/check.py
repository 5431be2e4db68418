"""Is everything that was accepted delivered, once? Read from the outside where a reader
would look (feeds over HTTP, what the partners and the SMTP server got), and from the
database for what only it knows (events not yet handled, digests behind)."""

from __future__ import annotations

from functools import lru_cache

import httpx
from sqlalchemy import Engine, create_engine, text


@lru_cache(maxsize=4)
def _engine(database_url: str) -> Engine:
    return create_engine(database_url, pool_pre_ping=True)


def scalar(database_url: str, sql: str) -> int:
    with _engine(database_url).connect() as connection:
        return int(connection.execute(text(sql)).scalar() or 0)


def unhandled_events(database_url: str) -> int:
    return scalar(database_url, "SELECT count(*) FROM outbox_events WHERE handled_at IS NULL")


def digests_behind(database_url: str) -> int:
    """Active immediate subscribers whose last digest is older than the last publish."""
    return scalar(
        database_url,
        "SELECT count(*) FROM subscribers WHERE status = 'active' AND frequency = 'immediate' "
        "AND digest_position < (SELECT coalesce(max(position), 0) FROM outbox_events)",
    )


def titles_in_feed(url: str, path: str) -> set[str]:
    """Every title in a JSON feed and its RFC 5005 archive pages (next_url: older)."""
    titles: set[str] = set()
    next_url: str | None = url + path
    with httpx.Client(timeout=10) as client:
        for _ in range(1000):
            if next_url is None:
                break
            answer = client.get(next_url)
            if answer.status_code != 200:
                break
            document = answer.json()
            titles.update(item.get("title", "") for item in document.get("items", []))
            # The feed names the public URL; we may be reading it at another address.
            older, public = document.get("next_url"), document["feed_url"].split("/feeds/")[0]
            next_url = older.replace(public, url) if older else None
    return titles


def newest_titles(url: str, paths: list[str]) -> dict[str, str]:
    """The newest item's title of each current feed document."""
    newest: dict[str, str] = {}
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in paths:
            answer = client.get(path)
            items = answer.json().get("items", []) if answer.status_code == 200 else []
            newest[path] = items[0].get("title", "") if items else ""
    return newest
