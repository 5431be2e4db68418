"""Signing in and out of the desk."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from config import get_settings
from newsroom import audit, desksessions, users
from newsroom.db import session_scope
from newsroom.models import utcnow
from web.desk import session as desk
from web.desk.render import DeskProblem, is_desk_path, page, see
from web.ratelimit import RateLimiter, client_key, retry_after

router = APIRouter(prefix="/desk", include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str = "/desk", out: str = "") -> Response:
    if desk.current_viewer(request) is not None:
        return see(next if is_desk_path(next) else "/desk")
    return _form_page(request, next, notice="login.signed_out" if out else None)


def _form_page(
    request: Request, next_path: str, status: int = 200, error: str | None = None,
    notice: str | None = None, **values: object,
) -> Response:  # fmt: skip
    settings = get_settings()
    nonce, new = desk.login_nonce(request)
    response = page(
        request, "login.html", None, status,
        csrf=desk.login_token(nonce, settings),
        next=next_path if is_desk_path(next_path) else "/desk",
        error=error, notice=notice, values=values,
    )  # fmt: skip
    if new:
        desk.set_login_cookie(response, nonce, settings)
    return response


@router.post("/login")
async def sign_in(request: Request) -> Response:
    form = await desk.read_form(request)
    if not desk.login_token_ok(request, form.get("csrf")):
        raise DeskProblem(403, "error.csrf")
    login = _text(form.get("login"), 300)
    password = _text(form.get("password"), users.PASSWORD_MAX + 1)
    next_path = _text(form.get("next"), 500)
    wait = await _limited(request, login)
    if wait:
        response = _form_page(request, next_path, 429, "login.limited",
                              seconds=retry_after(wait))  # fmt: skip
        response.headers["Retry-After"] = retry_after(wait)
        return response
    # Argon2 takes tens of milliseconds of CPU: off the event loop.
    key = await run_in_threadpool(_check, login, password, client_key(request))
    if key is None:
        return _form_page(request, next_path, 401, "login.wrong")
    response = see(next_path if is_desk_path(next_path) else "/desk")
    desk.set_session_cookie(response, key, get_settings())
    response.delete_cookie(desk.LOGIN_COOKIE, path=desk.PATH)
    return response


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


async def _limited(request: Request, login: str) -> float:
    """Seconds to wait: per client address, and per account named, whoever asks (so a
    botnet of addresses gets no more guesses at one account)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    account = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
    by_address = await limiter.wait("desk_login", client_key(request))
    by_account = await limiter.wait("desk_login_account", account)
    return max(by_address, by_account)


def _check(login: str, password: str, address: str) -> str | None:
    """A new session's key, or None; either way the audit log has the attempt."""
    now = utcnow()
    settings = get_settings()
    with session_scope() as session:
        user = users.authenticate(session, login, password)
        if user is None:
            named = login.strip().lower()[:254]
            actor = audit.Actor(None, named or "?", address)
            audit.record(session, actor, "sign_in.failed", now, named)
            return None
        key, _ = desksessions.open_session(
            session, user, now, timedelta(hours=settings.desk_session_hours)
        )
        user.last_sign_in_at = now
        audit.record(session, audit.Actor.of(user, address), "sign_in", now, user.login)
        return key


@router.post("/logout")
def sign_out(request: Request, posted: desk.Posted = Depends(desk.posted)) -> Response:  # noqa: B008
    viewer = posted.viewer
    with session_scope() as session:
        desksessions.close(session, viewer.key)
        actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
        audit.record(session, actor, "sign_out", utcnow(), viewer.login)
    response = see("/desk/login?out=1")
    desk.forget_session_cookie(response, get_settings())
    return response
