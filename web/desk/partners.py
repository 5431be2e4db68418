"""Partners for operators: the health table, one partner's log, enable, replay, and the
rotation of a partner's signing secret.

Enable and replay call the same newsroom functions as the admin API (web/partners.py),
and ring the same bell after the commit; the desk adds the audit entry to the transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from config import get_settings
from newsroom import audit, partnerhealth, partners
from newsroom.db import read_scope, session_scope
from newsroom.errors import DomainError
from newsroom.models import PartnerDelivery, utcnow
from web.desk import session as desk
from web.desk.render import DeskProblem, page, see
from web.params import MAX_ROW_ID
from web.ratelimit import client_key
from worker.bell import ring_pushes

router = APIRouter(prefix="/desk", include_in_schema=False)
Operator = Annotated[desk.Viewer, Depends(desk.operator)]
OperatorPost = Annotated[desk.Posted, Depends(desk.posted_by_operator)]
LOG_SIZE = 50


def row_id(value: str) -> int:
    """A path's id, or a 404 page (not the API's 422) for anything else."""
    # Past an INTEGER column's range is no row either (PostgreSQL would refuse the query).
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise DeskProblem(404, "error.404")
    if not 1 <= int(value) <= MAX_ROW_ID:
        raise DeskProblem(404, "error.404")
    return int(value)


def refused(exc: DomainError) -> DeskProblem:
    status = exc.status if exc.status in (404, 409, 410, 422) else 400
    return DeskProblem(status, f"error.{status}")


@router.get("/partners")
def partners_table(request: Request, viewer: Operator) -> Response:
    with read_scope() as session:
        rows = partnerhealth.health(session)
    return page(request, "partners.html", viewer, rows=rows)


@router.get("/partners/{partner_id}")
def partner_page(
    request: Request, viewer: Operator, partner_id: str, replayed: str = "", enabled: str = ""
) -> Response:
    notice: tuple[str, dict[str, object]] | None = None
    if replayed.isdigit():
        notice = ("done.replayed", {"id": int(replayed)})
    elif enabled.isdigit():
        notice = ("done.enabled", {"count": int(enabled)})
    return _partner_page(request, viewer, row_id(partner_id), notice=notice)


def _partner_page(
    request: Request, viewer: desk.Viewer, partner_id: int, status: int = 200, **values: object
) -> Response:
    with read_scope() as session:
        found = partnerhealth.health(session, partner_id)
        if not found:
            raise DeskProblem(404, "error.404")
        log = partners.log(session, found[0].partner, LOG_SIZE)
    hours = f"{get_settings().partner_secret_overlap_hours:g}"
    return page(request, "partner.html", viewer, status, row=found[0], log=log, now=utcnow(),
                overlap_hours=hours, **{"errors": {}, "notice": None, **values})  # fmt: skip


@router.post("/partners/{partner_id}/enable")
def enable_partner(request: Request, posted: OperatorPost, partner_id: str) -> Response:
    viewer = posted.viewer
    try:
        with session_scope() as session:
            partner = partners.find(session, row_id(partner_id))
            before = partner.state
            waiting = partners.enable(session, partner)
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, "partner.enable", utcnow(), partner.name,
                         {"partner": partner.id, "was": str(before),
                          "waiting": len(waiting)})  # fmt: skip
            target = partner.id
    except DomainError as exc:
        raise refused(exc) from None
    ring_pushes(waiting)  # after the commit: a rolled-back enable rings nothing
    return see(f"/desk/partners/{target}?enabled={len(waiting)}")


@router.post("/deliveries/{delivery_id}/replay")
def replay_delivery(request: Request, posted: OperatorPost, delivery_id: str) -> Response:
    viewer = posted.viewer
    try:
        with session_scope() as session:
            delivery: PartnerDelivery = partners.replay(session, row_id(delivery_id), utcnow())
            partner = partners.find(session, delivery.partner_id)
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            audit.record(session, actor, "partner.replay", utcnow(), partner.name,
                         {"partner": partner.id, "delivery": delivery.id,
                          "webhook_id": delivery.webhook_id})  # fmt: skip
            ids = (partner.id, delivery.id)
    except DomainError as exc:
        raise refused(exc) from None
    ring_pushes([ids[1]])
    return see(f"/desk/partners/{ids[0]}?replayed={ids[1]}")


@router.post("/partners/{partner_id}/rotate-secret")
def rotate_secret(request: Request, posted: OperatorPost, partner_id: str) -> Response:
    """A new signing secret, shown on this answer's page only (never in a URL or a log)."""
    viewer = posted.viewer
    target = row_id(partner_id)
    # A new secret is a change the partner must act on: only with the box ticked.
    if posted.field("confirm", 10) != "yes":
        return _partner_page(request, viewer, target, 422, errors={"confirm": "error.confirm"})
    try:
        with session_scope() as session:
            partner = partners.find(session, target)
            actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
            rotated = partners.rotate_secret(session, partner, utcnow(), actor)
            shown = {"id": partner.id, "name": partner.name}
    except DomainError as exc:
        raise refused(exc) from None
    # page() marks it no-store: the secret stays in no cache and, after a 200 to a POST,
    # a reload asks before sending the form again rather than showing it from history.
    return page(request, "partner_secret.html", viewer, partner=shown,
                secret=rotated.secret, overlap_ends=rotated.overlap_ends)  # fmt: skip
