"""Who is at the desk: the session cookie, the roles, and the CSRF check of every form.

The cookie holds a random session key signed with itsdangerous (BUDKAVLE_SECRET_KEY), and
is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it; RFC 6265bis
§8.8) and Secure when the public URL is https. The key is looked up in desk_sessions, so
signing out or disabling a user ends the session at once.

Every POST carries the session's CSRF token in a hidden field (the synchroniser token of
OWASP's CSRF cheat sheet), compared in constant time; the sign-in form, before there is a
session, carries an HMAC of a random value in its own cookie (a signed double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData
from starlette.responses import Response

from config import Settings, get_settings
from newsroom import desksessions
from newsroom.db import read_scope
from newsroom.deskmodels import Role
from newsroom.models import utcnow
from web.desk import i18n

COOKIE = "budkavle_desk"
LOGIN_COOKIE = "budkavle_desk_login"
PATH = "/desk"


@dataclass(frozen=True)
class Viewer:
    user_id: int
    login: str
    name: str
    role: Role
    language: str  # what the pages speak to this user
    chosen_language: str | None  # set on the account; None: the browser's
    csrf: str
    key: str

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR


@dataclass(frozen=True)
class Posted:
    viewer: Viewer
    form: FormData

    def field(self, name: str, limit: int = 1000) -> str:
        value = self.form.get(name, "")
        return value[:limit] if isinstance(value, str) else ""


class DeskProblem(Exception):
    """A desk request refused: answered with a page in the reader's language."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


class NeedsSignIn(Exception):
    """No live session: a page redirects to the sign-in, a POST is 401."""


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.resolved_secret_key(), salt="budkavle.desk.session")


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def set_session_cookie(response: Response, key: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps(key),
        max_age=int(settings.desk_session_hours * 3600),
        path=PATH,
        secure=_secure(settings),
        httponly=True,
        samesite="strict",
    )


def forget_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, secure=_secure(settings), httponly=True, samesite="strict"
    )


def session_key(request: Request) -> str | None:
    signed = request.cookies.get(COOKIE)
    if not signed or len(signed) > 300:
        return None
    try:
        key = _serializer(get_settings()).loads(signed)
    except BadSignature:
        return None
    return key if isinstance(key, str) else None


def page_language(request: Request) -> str:
    """The language of the page for whoever asks, signed in or not."""
    chosen = getattr(request.state, "desk_language", None)
    return chosen or i18n.best(accept=request.headers.get("accept-language"))


def current_viewer(request: Request) -> Viewer | None:
    key = session_key(request)
    if key is None:
        return None
    with read_scope() as session:
        found = desksessions.lookup(session, key, utcnow())
        if found is None:
            return None
        row, user = found
        accept = request.headers.get("accept-language")
        viewer = Viewer(
            user_id=user.id,
            login=user.login,
            name=user.display_name,
            role=user.role,
            language=i18n.best(user.language, accept=accept),
            chosen_language=user.language,
            csrf=row.csrf_token,
            key=key,
        )
    request.state.desk_language = viewer.language
    return viewer


# FastAPI dependencies -------------------------------------------------------------------


def signed_in(request: Request) -> Viewer:
    viewer = current_viewer(request)
    if viewer is None:
        raise NeedsSignIn()
    return viewer


def operator(request: Request) -> Viewer:
    viewer = signed_in(request)
    if not viewer.is_operator:
        raise DeskProblem(403, "error.403")
    return viewer


async def posted(request: Request) -> Posted:
    """A signed-in user's form, with its CSRF token checked; nothing runs without it."""
    viewer = current_viewer(request)
    if viewer is None:
        raise NeedsSignIn()
    return checked(viewer, await read_form(request))


def checked(viewer: Viewer, form: FormData) -> Posted:
    """The form, if it carries the session's CSRF token; a 403 page if not."""
    given = form.get("csrf")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), viewer.csrf.encode()):
        raise DeskProblem(403, "error.csrf")
    return Posted(viewer, form)


async def posted_by_operator(request: Request) -> Posted:
    done = await posted(request)
    if not done.viewer.is_operator:
        raise DeskProblem(403, "error.403")
    return done


async def read_form(request: Request) -> FormData:
    try:
        # Only url-encoded fields: no file is ever uploaded to the desk.
        return await request.form(max_files=0, max_fields=50)
    except Exception as exc:  # a body python-multipart cannot parse, or too many fields
        raise DeskProblem(400, "error.400") from exc


# The sign-in form's token, before any session ----------------------------------------


def login_nonce(request: Request) -> tuple[str, bool]:
    """The random value of this browser's sign-in form; True if it is new (set it)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if 20 <= len(nonce) <= 100 and nonce.isascii():
        return nonce, False
    return secrets.token_urlsafe(24), True


def login_token(nonce: str, settings: Settings) -> str:
    secret = settings.resolved_secret_key().encode()
    return hmac.new(secret, b"desk-login:" + nonce.encode(), hashlib.sha256).hexdigest()


def login_token_ok(request: Request, given: Any) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not isinstance(given, str):
        return False
    expected = login_token(nonce, get_settings())
    return hmac.compare_digest(given.encode(), expected.encode())


def set_login_cookie(response: Response, nonce: str, settings: Settings) -> None:
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, path=PATH, secure=_secure(settings),
        httponly=True, samesite="strict",
    )  # fmt: skip
