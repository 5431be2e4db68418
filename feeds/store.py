"""Stored feed documents: the bytes readers get, with an ETag that is the hash of the bytes.

Converge, don't replay: storing the same bytes again is a no-op, so a refresh can run
any number of times and only a real change moves the ETag and Last-Modified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsroom.models import FeedDocumentRow, utcnow

# Redis channel on which the worker names the paths whose bytes changed (after commit),
# so that web processes drop them from their memory cache at once.
CHANGES_CHANNEL = "budkavle:feeds:changed"


@dataclass(frozen=True)
class StoredFeed:
    path: str
    content_type: str
    body: bytes
    etag: str
    last_modified: datetime


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def get(session: Session, path: str) -> StoredFeed | None:
    row = session.get(FeedDocumentRow, path)
    if row is None:
        return None
    return StoredFeed(row.path, row.content_type, row.body, row.etag, row.last_modified)


def put_if_changed(
    session: Session, path: str, content_type: str, body: bytes, last_modified: datetime
) -> bool:
    """Store ``body`` unless the same bytes are there already; True when they changed."""
    etag = etag_of(body)
    row = session.scalar(select(FeedDocumentRow).where(FeedDocumentRow.path == path))
    if row is not None and row.etag == etag:
        return False
    last_modified = last_modified.replace(microsecond=0)
    if row is not None and last_modified <= row.last_modified:
        # HTTP dates count whole seconds, and a change may not move the data's newest
        # timestamp (an entry leaving a tag feed; two publishes in one second). Step the
        # date on, or If-Modified-Since would answer 304 for bytes the reader lacks.
        last_modified = row.last_modified + timedelta(seconds=1)
    if row is None:
        row = FeedDocumentRow(path=path)
        session.add(row)
    row.content_type = content_type
    row.body = body
    row.etag = etag
    row.last_modified = last_modified
    row.stored_at = utcnow()
    return True


def etags(session: Session, paths: list[str]) -> dict[str, str]:
    """The ETags of these documents, without loading their bodies."""
    rows = session.execute(
        select(FeedDocumentRow.path, FeedDocumentRow.etag).where(FeedDocumentRow.path.in_(paths))
    )
    return {path: etag for path, etag in rows}


def paths(session: Session) -> list[str]:
    return list(session.scalars(select(FeedDocumentRow.path).order_by(FeedDocumentRow.path)))
