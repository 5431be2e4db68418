"""Signed-in desk sessions: a row per sign-in, so signing out ends it everywhere at once.

The browser holds a random key (in a signed cookie, see web/desk/session.py); the table
holds only its SHA-256, so reading the database lets nobody sign in as anyone.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsroom.deskmodels import DeskSession, DeskUser


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(
    session: Session, user: DeskUser, now: datetime, lifetime: timedelta
) -> tuple[str, DeskSession]:
    """A new session for ``user``: the key for the cookie, and the row."""
    # Expired rows go here, a few at a time, rather than in a sweeper of their own.
    session.execute(delete(DeskSession).where(DeskSession.expires_at <= now))
    key = secrets.token_urlsafe(32)
    row = DeskSession(
        key_hash=_hash(key),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return key, row


def lookup(session: Session, key: str, now: datetime) -> tuple[DeskSession, DeskUser] | None:
    """The live session of an enabled user with this key, else None."""
    found = session.execute(
        select(DeskSession, DeskUser)
        .join(DeskUser, DeskUser.id == DeskSession.user_id)
        .where(
            DeskSession.key_hash == _hash(key),
            DeskSession.expires_at > now,
            DeskUser.disabled_at.is_(None),
        )
    ).first()
    return (found[0], found[1]) if found else None


def close(session: Session, key: str) -> None:
    session.execute(delete(DeskSession).where(DeskSession.key_hash == _hash(key)))
