"""The WebSub hub's front door at /websub (W3C WebSub §5.1): record the intent, answer 202.

The subscription only changes once the subscriber has confirmed at its callback (§5.3),
which a worker does after the commit; this endpoint never calls out itself.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from config import get_settings
from newsroom import websub
from newsroom.db import session_scope
from newsroom.models import utcnow
from web import ratelimit
from web.bodies import read_at_most
from web.hubform import FORM_TYPE, MAX_FORM_BYTES, HubRequestError, is_form, parse
from worker.bell import ring_websub_intents

router = APIRouter(tags=["websub"])


@router.post("/websub", status_code=202, response_class=PlainTextResponse)
async def subscription_request(request: Request) -> PlainTextResponse:
    """Subscribe or unsubscribe (form-encoded hub.mode, hub.topic, hub.callback,
    hub.lease_seconds, hub.secret); 202, then intent verification at the callback."""
    wait = await ratelimit.check(request, "websub")
    if wait:
        rule = request.app.state.rate_limiter.rules["websub"]
        message = f"over {rule.per_minute:g} requests a minute from this address"
        response = _refuse(HubRequestError("rate", message, 429))
        response.headers["Retry-After"] = ratelimit.retry_after(wait)
        return response
    if not is_form(request.headers.get("content-type", "")):
        return _refuse(HubRequestError("body", f"must be {FORM_TYPE} (WebSub §5.1)", 415))
    body = await read_at_most(request, MAX_FORM_BYTES)
    if body is None:
        response = _refuse(HubRequestError("body", f"over {MAX_FORM_BYTES} bytes", 413))
        response.headers["connection"] = "close"  # the rest of the body was not kept
        return response
    try:
        await run_in_threadpool(_record, body)
    except HubRequestError as exc:
        return _refuse(exc)
    return PlainTextResponse(
        "Accepted. The hub will verify this request at the callback (WebSub §5.3).\n",
        status_code=202,
    )


@router.get("/websub", response_class=PlainTextResponse)
def about_the_hub() -> str:
    public_url = get_settings().public_url
    return (
        "This is a WebSub hub (https://www.w3.org/TR/websub/).\n"
        f"POST {FORM_TYPE} here with hub.mode=subscribe, hub.callback and hub.topic, one of\n"
        f"the feeds of this site, e.g. {public_url}/feeds/all.atom.\n"
    )


def _record(body: bytes) -> None:
    """Check, store and ring; blocking work (DNS, database, broker), so run in a thread."""
    settings = get_settings()
    asked = parse(body, settings)
    lease = websub.lease_for(
        asked.lease_seconds, settings.websub_lease_seconds, settings.websub_max_lease_seconds
    )
    grace = timedelta(seconds=settings.outbox_grace_seconds)
    with session_scope() as session:
        intent_id = websub.record_intent(
            session, asked.mode, asked.topic, asked.callback, asked.secret, lease,
            utcnow(), grace,
        )  # fmt: skip
    ring_websub_intents([intent_id])  # after the commit: a rolled-back request never rings


def _refuse(error: HubRequestError) -> PlainTextResponse:
    # §5.1.2: "hubs SHOULD return a description of the error in the response body as
    # plain text"; the field comes first, as in every other error of the service.
    return PlainTextResponse(f"{error.field}: {error.message}\n", status_code=error.status)
