"""Users for operators: list, add (a password is made and shown once), disable, role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsroom import audit, users
from newsroom.db import read_scope, session_scope
from newsroom.deskmodels import Role
from newsroom.models import utcnow
from web.desk import i18n
from web.desk import session as desk
from web.desk.partners import row_id
from web.desk.render import DeskProblem, page, see
from web.ratelimit import client_key

router = APIRouter(prefix="/desk", include_in_schema=False)
Operator = Annotated[desk.Viewer, Depends(desk.operator)]
OperatorPost = Annotated[desk.Posted, Depends(desk.posted_by_operator)]
ROLES = [role.value for role in Role]


def _users_page(
    request: Request, viewer: desk.Viewer, status: int = 200, **values: object
) -> Response:
    with read_scope() as session:
        listed = users.listing(session)
    return page(request, "users.html", viewer, status, users=listed, roles=ROLES,
                **{"errors": {}, "typed": {}, "notice": None, **values})  # fmt: skip


def _field_key(exc: users.UserError) -> str:
    if isinstance(exc, users.UserExists):
        return "error.user_exists"
    return {"display_name": "error.display_name"}.get(exc.field, "error.login")


@router.get("/users")
def users_table(request: Request, viewer: Operator, done: str = "", user: str = "") -> Response:
    notice = None
    if done in ("disabled", "role") and user.isdigit():
        with read_scope() as session:
            try:
                changed = users.find(session, int(user))
            except users.UserNotFound:
                changed = None
            if changed is not None:
                key = "users.disabled" if done == "disabled" else "users.role_changed"
                role = i18n.translate(viewer.language, f"role.{changed.role}")
                notice = (key, {"login": changed.login, "role": role})
    return _users_page(request, viewer, notice=notice)


@router.post("/users")
def add_user(request: Request, posted: OperatorPost) -> Response:
    viewer = posted.viewer
    typed = {name: posted.field(name, 300) for name in ("login", "display_name", "role")}
    if typed["role"] not in ROLES:
        return _users_page(request, viewer, 422, errors={"role": "error.role"}, typed=typed)
    try:
        with session_scope() as session:
            now = utcnow()
            user, password = users.add(session, typed["login"], Role(typed["role"]), now,
                                       typed["display_name"])  # fmt: skip
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, "user.add", now, user.login, {"role": typed["role"]})
            login = user.login
    except users.UserError as exc:
        field = "login" if exc.field not in ("display_name",) else exc.field
        status = 409 if isinstance(exc, users.UserExists) else 422
        return _users_page(request, viewer, status, errors={field: _field_key(exc)}, typed=typed)
    # Shown in this answer only, never in a URL or a log.
    notice = ("users.added", {"login": login, "password": password})
    return _users_page(request, viewer, 201, notice=notice)


@router.post("/users/{user_id}/disable")
def disable_user(request: Request, posted: OperatorPost, user_id: str) -> Response:
    viewer = posted.viewer
    try:
        with session_scope() as session:
            user = users.find(session, row_id(user_id))
            users.disable(session, user, utcnow())
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, "user.disable", utcnow(), user.login)
            changed = user.id
    except users.LastOperator:
        raise DeskProblem(409, "error.last_operator") from None
    except users.UserNotFound:
        raise DeskProblem(404, "error.404") from None
    return see(f"/desk/users?done=disabled&user={changed}")


@router.post("/users/{user_id}/role")
def change_role(request: Request, posted: OperatorPost, user_id: str) -> Response:
    viewer = posted.viewer
    wanted = posted.field("role", 20)
    if wanted not in ROLES:
        raise DeskProblem(422, "error.role")
    try:
        with session_scope() as session:
            user = users.find(session, row_id(user_id))
            before = user.role
            users.set_role(session, user, Role(wanted))
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, "user.role", utcnow(), user.login,
                         {"from": str(before), "to": wanted})  # fmt: skip
            changed = user.id
    except users.LastOperator:
        raise DeskProblem(409, "error.last_operator") from None
    except users.UserNotFound:
        raise DeskProblem(404, "error.404") from None
    return see(f"/desk/users?done=role&user={changed}")
