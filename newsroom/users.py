"""Desk accounts: adding, checking passwords, roles, disabling.

Passwords are hashed with Argon2id (RFC 9106) by argon2-cffi, whose defaults are the
RFC's second recommended option (64 MiB, 3 passes). A sign-in that names no account
still checks a password against a hash, so the time taken does not tell who exists.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsroom.deskmodels import DeskSession, DeskUser, Role
from newsroom.errors import DomainError
from newsroom.text import line_count, one_line

FIRST_OPERATOR = "operator"  # the login `budkavle serve` makes on a fresh data folder
PASSWORD_MIN = 10
PASSWORD_MAX = 1000  # Argon2 takes any length; this bounds the work one request can ask
LOGIN_MAX = 254  # an email address's longest (RFC 5321 §4.5.3.1.3)
_LOGIN = re.compile(r"^[^\s<>\"'`]+$")

_hasher = PasswordHasher()
# Checked when no account matches, so that a miss costs what a hit does.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(DomainError):
    pass


class UserNotFound(UserError):
    status = 404


class UserExists(UserError):
    status = 409


class LastOperator(UserError):
    status = 409


def clean_login(value: str) -> str:
    """An email address or a user name, in lower case: one person is one row."""
    value = value.strip().lower()
    if not 1 <= len(value) <= LOGIN_MAX:
        raise UserError("login", f"must be 1 to {LOGIN_MAX} characters")
    if not _LOGIN.match(value):
        raise UserError("login", "must be one word: no spaces, quotes or angle brackets")
    return value


def clean_name(value: str, login: str) -> str:
    if line_count(value) > 1:
        raise UserError("display_name", "must be one line")
    value = one_line(value)
    if len(value) > 200:
        raise UserError("display_name", "must be at most 200 characters")
    return value or login.split("@")[0]


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise UserError("password", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return password


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 120 bits, 20 characters to copy


def add(
    session: Session,
    login: str,
    role: Role,
    now: datetime,
    display_name: str = "",
    password: str | None = None,
) -> tuple[DeskUser, str]:
    """The new user and its password (the one given, or a new one to show this once)."""
    login = clean_login(login)
    name = clean_name(display_name, login)
    password = check_password(password) if password is not None else new_password()
    if session.scalar(select(DeskUser.id).where(DeskUser.login == login)) is not None:
        raise UserExists("login", f"a user {login!r} exists")
    user = DeskUser(
        login=login,
        display_name=name,
        role=role,
        password_hash=_hasher.hash(password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user, password


def authenticate(session: Session, login: str, password: str) -> DeskUser | None:
    """The active user with this login and password, else None, in about the same time."""
    try:
        login = clean_login(login)
    except UserError:
        login = ""
    user = session.scalar(select(DeskUser).where(DeskUser.login == login)) if login else None
    usable = user is not None and user.disabled_at is None
    stored = user.password_hash if usable and user is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password[:PASSWORD_MAX])
    except (VerificationError, InvalidHashError):
        return None
    if not usable or user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)  # parameters raised since it was set
    return user


def find(session: Session, id_or_login: int | str) -> DeskUser:
    if isinstance(id_or_login, int):
        user = session.get(DeskUser, id_or_login)
    else:
        user = session.scalar(select(DeskUser).where(DeskUser.login == id_or_login.lower()))
    if user is None:
        raise UserNotFound("user", f"no user {id_or_login!r}")
    return user


def listing(session: Session) -> Sequence[DeskUser]:
    return session.scalars(select(DeskUser).order_by(DeskUser.login)).all()


def any_user(session: Session) -> bool:
    return session.scalar(select(DeskUser.id).limit(1)) is not None


def _other_operators(session: Session, user: DeskUser) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(DeskUser)
            .where(
                DeskUser.role == Role.OPERATOR,
                DeskUser.disabled_at.is_(None),
                DeskUser.id != user.id,
            )
        )
        or 0
    )


def disable(session: Session, user: DeskUser, now: datetime) -> None:
    """Signs the user out everywhere at once; the row stays for the audit log."""
    if (
        user.role is Role.OPERATOR
        and user.disabled_at is None
        and not _other_operators(session, user)
    ):
        raise LastOperator("user", "the last active operator cannot be disabled")
    user.disabled_at = user.disabled_at or now
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id))


def enable(user: DeskUser) -> None:
    user.disabled_at = None


def set_role(session: Session, user: DeskUser, role: Role) -> None:
    if (
        user.role is Role.OPERATOR
        and role is not Role.OPERATOR
        and not _other_operators(session, user)
    ):
        raise LastOperator("role", "the last active operator must stay an operator")
    user.role = role


def first_operator(session: Session, now: datetime) -> tuple[str, str] | None:
    """On a desk with no users: an operator account, and its password to print once."""
    if any_user(session):
        return None
    user, password = add(session, FIRST_OPERATOR, Role.OPERATOR, now, "Operator")
    return user.login, password
