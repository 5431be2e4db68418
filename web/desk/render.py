"""Desk pages: one Jinja environment, the words of the reader's language, error pages."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from config import get_settings
from web.desk import i18n
from web.desk.session import DeskProblem, NeedsSignIn, Viewer, current_viewer, page_language
from web.files import static_url

# Starlette's Jinja2Templates escapes every {{ value }} in .html templates: a partner
# named "<script>" is shown as text.
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(zone: ZoneInfo, value: datetime | None, never: str) -> str:
    if value is None:
        return never
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    status: int = 200,
    **values: object,
) -> HTMLResponse:
    settings = get_settings()
    language = viewer.language if viewer else page_language(request)
    words = partial(i18n.translate, language)
    context = {
        "t": words,
        "lang": language,
        "viewer": viewer,
        "site_name": settings.site_name,
        "stylesheet": static_url("desk/desk.css"),
        "when": partial(_when, ZoneInfo(settings.time_zone), never=words("never")),
        **values,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status)
    # Pages behind a sign-in are nobody else's: no shared or browser cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response


def see(path: str) -> RedirectResponse:
    """After a POST, show the result with a GET (303, RFC 9110 §15.4.4)."""
    return RedirectResponse(path, status_code=303)


async def problem_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskProblem)
    viewer = current_viewer(request)  # the menu stays, so the way on is one click
    return page(request, "error.html", viewer, exc.status, message_key=exc.key,
                values=exc.values)  # fmt: skip


async def sign_in_first(request: Request, exc: Exception) -> Response:
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return see(f"/desk/login?next={quote(target, safe='')}")
    return page(request, "error.html", None, 401, message_key="error.401", values={})


def is_desk_path(target: str) -> bool:
    """Only back into the desk after signing in: never an open redirect (//evil, /\\evil)."""
    return (
        target.startswith("/desk")
        and not target.startswith("/desk/login")
        and "\\" not in target
        and "//" not in target
        and target.isprintable()
    )


__all__ = ["DeskProblem", "NeedsSignIn", "page", "see"]
