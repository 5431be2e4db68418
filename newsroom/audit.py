"""The audit log: who did what, when. Written with the action, in its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsroom.deskmodels import AuditEntry, DeskUser

CLI = "cli"  # the actor of a command typed on the server
ADMIN_API = "admin api"  # the actor of a call with the admin token


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    address: str | None = None

    @classmethod
    def of(cls, user: DeskUser, address: str | None = None) -> Actor:
        return cls(user.id, user.login, address)


def record(
    session: Session,
    actor: Actor,
    action: str,
    now: datetime,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor_id=actor.user_id,
        actor=actor.name[:254],
        action=action,
        target=target[:300],
        details=details or {},
        address=actor.address,
    )
    session.add(entry)
    return entry


def page(
    session: Session, before: int | None = None, limit: int = 50
) -> tuple[list[AuditEntry], int | None]:
    """The newest entries older than id ``before``, and the ``before`` of the next page.
    Paged by id, not by offset: a page costs the same however deep it is."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
