"""The desk's overview: what needs attention now; and the user's own language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from config import get_settings
from newsroom import audit, partnerhealth, users
from newsroom.db import read_scope, session_scope
from newsroom.models import PartnerState, utcnow
from web.desk import i18n
from web.desk import session as desk
from web.desk.render import DeskProblem, page, see
from web.ratelimit import client_key

router = APIRouter(prefix="/desk", include_in_schema=False)


def _attention(language: str) -> tuple[list[tuple[str, str | None]], float]:
    """(message, link) for each thing that needs a look, and the outbox's lag."""
    items: list[tuple[str, str | None]] = []
    now = utcnow()
    with read_scope() as session:
        partners = partnerhealth.health(session)
        lag = partnerhealth.outbox_lag_seconds(session, now)
    for found in partners:
        partner = found.partner
        link = f"/desk/partners/{partner.id}"
        if partner.state is PartnerState.DISABLED:
            reason = partner.disabled_reason or "–"
            items.append((i18n.translate(language, "home.partner_disabled",
                                         name=partner.name, reason=reason), link))  # fmt: skip
        elif partner.failing_since is not None:
            since = partner.failing_since.strftime("%Y-%m-%d %H:%M UTC")
            text = i18n.translate(language, "home.partner_failing", name=partner.name,
                                  count=found.failures_in_a_row, since=since)  # fmt: skip
            items.append((text, link))
        if found.failed:
            text = i18n.translate(language, "home.partner_failed", name=partner.name,
                                  count=found.failed)  # fmt: skip
            items.append((text, link))
    return items, lag


@router.get("")
def home(request: Request, viewer: Annotated[desk.Viewer, Depends(desk.signed_in)]) -> Response:
    items, lag = _attention(viewer.language)
    if not viewer.is_operator:
        items = [(text, None) for text, _ in items]  # the partner pages are operators'
    return page(
        request, "home.html", viewer, items=items, lag=round(lag),
        # As /readyz judges the outbox: a wait under its limit is a busy outbox, not a stall.
        stall=get_settings().ready_outbox_stall_seconds,
        languages=[(code, i18n.LANGUAGE_NAMES[code]) for code in i18n.LANGUAGES],
    )  # fmt: skip


@router.post("/account/language")
def set_language(
    request: Request, posted: Annotated[desk.Posted, Depends(desk.posted)]
) -> Response:
    chosen = posted.field("language", 8)
    if chosen not in ("", *i18n.LANGUAGES):
        raise DeskProblem(422, "error.422")
    viewer = posted.viewer
    with session_scope() as session:
        user = users.find(session, viewer.user_id)
        before = user.language
        user.language = chosen or None
        actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
        audit.record(session, actor, "account.language", utcnow(), viewer.login,
                     {"from": before, "to": user.language})  # fmt: skip
    return see("/desk")
