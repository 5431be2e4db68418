"""The newsroom desk at /desk: signed-in pages for editors and operators.

Server-rendered Jinja, one route module per page group; every action is a plain POST
form with a CSRF token, so all of it works with JavaScript off.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response

from web.desk import (
    articles,
    auditlog,
    dashboard,
    editions,
    home,
    login,
    partners,
    subscribers,
    users,
)
from web.desk import session as desk
from web.desk.render import DeskProblem, NeedsSignIn, problem_page, see, sign_in_first

_rest = APIRouter(prefix="/desk", include_in_schema=False)


@_rest.get("/")
def trailing_slash() -> Response:
    return see("/desk")


@_rest.get("/{rest:path}")
def not_found(viewer: Annotated[desk.Viewer, Depends(desk.signed_in)]) -> Response:
    # After the sign-in check: an anonymous visitor learns nothing of what exists.
    raise DeskProblem(404, "error.404")


# In this order: the catch-all comes last, as it answers every other /desk path.
ROUTERS = (
    login.router, home.router, articles.router, editions.router, dashboard.router,
    partners.router, subscribers.router, users.router, auditlog.router, _rest,
)  # fmt: skip


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(DeskProblem, problem_page)
    app.add_exception_handler(NeedsSignIn, sign_in_first)
