"""The desk's tables: its users, their signed-in sessions, the audit log, and editors'
test sends of the next edition."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsroom.models import Base, Frequency, UTCDateTime, _enum_values, utcnow


class Role(enum.StrEnum):
    EDITOR = "editor"  # articles, editions, previews, test sends
    OPERATOR = "operator"  # everything: partners, subscribers' data, users, the audit log


class DeskUser(Base):
    """Someone who signs in to the desk. Never deleted: the audit log names them."""

    __tablename__ = "desk_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # An email address or a plain user name, kept in lower case so one person is one row.
    login: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=_enum_values)
    )
    # Argon2id in PHC string form ("$argon2id$v=19$m=...$salt$hash"): parameters included.
    password_hash: Mapped[str] = mapped_column(String(200))
    # The desk's language for this user; None: the browser's Accept-Language decides.
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeskSession(Base):
    """One sign-in. The cookie carries a random key, signed; only its hash is stored, so a
    copy of the database signs nobody in. Deleting the row signs the browser out."""

    __tablename__ = "desk_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("desk_users.id", ondelete="CASCADE"), index=True
    )
    # The session's CSRF token: every form of the desk carries it in a hidden field.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEntry(Base):
    """Who did what, when: written in the transaction of the action itself, so an action
    that rolled back left no entry and an entry always means it happened."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor", "actor_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The user, when one acted; None for the command line or an unknown sign-in name.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("desk_users.id", ondelete="SET NULL"))
    # As shown: the user's login at the time, or "cli".
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))  # e.g. "sign_in", "partner.replay"
    target: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(64))  # the client's, for web actions


class TestSendStatus(enum.StrEnum):
    __test__ = False  # not a pytest test class, whatever its name
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class TestSend(Base):
    """An editor's "send a test" of the next edition, to any address: the row is what is
    owed, its key names the one message (its Message-ID), and the worker that sends it
    first claims the row, so a second bell sends nothing. It touches no subscriber, no
    delivery and no counter."""

    __tablename__ = "test_sends"
    __test__ = False  # not a pytest test class, whatever its name
    __table_args__ = (Index("ix_test_sends_due", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("desk_users.id", ondelete="SET NULL")
    )
    email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    frequency: Mapped[Frequency] = mapped_column(
        Enum(Frequency, native_enum=False, length=16, values_callable=_enum_values)
    )
    status: Mapped[TestSendStatus] = mapped_column(
        Enum(TestSendStatus, native_enum=False, length=16, values_callable=_enum_values),
        default=TestSendStatus.QUEUED,
    )
    subject: Mapped[str] = mapped_column(String(400), default="")  # as sent
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while a worker sends it: a second bell in that time finds it taken.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
