"""Bounce and complaint webhooks of sending providers: ``POST /api/bounces/{provider}``.

Each provider module checks that the request is the provider's (a signature, or the
credentials the operator gave it) and reads its payload into the report model of
newsroom/reports.py, keyed by the provider's own event id; newsroom/bounces.py applies
each report once. A request that is not the provider's gets a 401 or 403 and changes
nothing; a provider without settings answers 404 naming the setting to give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from config import get_settings
from newsroom import bounces
from newsroom.db import session_scope
from web.bouncehooks import mailgun, postmark, ses
from web.bouncehooks.common import Context, Reading, Refused, fetch_https
from web.errors import documented, problem
from web.subscribers import AppliedOut, ChangeOut
from worker import tallies
from worker.bell import redis_client

Reader = Callable[[bytes, Mapping[str, str], Context], Reading]
PROVIDERS: dict[str, Reader] = {"ses": ses.read, "postmark": postmark.read, "mailgun": mailgun.read}

# Each provider answers in its own way; what a sender may be told is documented here.
router = APIRouter(
    prefix="/api/bounces", tags=["bounces"], responses=documented(400, 401, 403, 404, 413, 422)
)


class HookOut(BaseModel):
    provider: str
    applied: list[AppliedOut]
    note: str = ""


def fetcher() -> Callable[[str], bytes]:
    """GET of an https URL (SNS signing certificates, subscription confirmations); tests
    put their own in `app.dependency_overrides`, so no test reaches the network."""
    return fetch_https


@router.post("/{provider}", response_model=HookOut)
async def receive(
    provider: str, request: Request, fetch: Annotated[Callable[[str], bytes], Depends(fetcher)]
) -> HookOut | JSONResponse:
    reader = PROVIDERS.get(provider)
    if reader is None:
        return problem(404, "provider", f"unknown {provider!r}: one of {', '.join(PROVIDERS)}")
    body = await request.body()  # the body limit middleware has bounded it
    context = Context(get_settings(), fetch, redis_client)
    try:
        reading = await run_in_threadpool(reader, body, request.headers, context)
    except Refused as refused:
        response = problem(refused.status, refused.field, refused.message)
        if refused.status == 401:
            response.headers["WWW-Authenticate"] = refused.challenge
        return response
    try:
        applied = await run_in_threadpool(_apply, reading)
    except BaseException:
        reading.undo()  # e.g. a Mailgun token, so the provider's retry is not a "replay"
        raise
    return HookOut(provider=provider, applied=applied, note=reading.note)


def _apply(reading: Reading) -> list[AppliedOut]:
    with session_scope() as session:
        applied = [bounces.apply(session, report, get_settings()) for report in reading.reports]
    for one in applied:  # after the commit: counted once it is true
        tallies.count_report(one)
    return [
        AppliedOut(
            kind=str(one.kind), key=one.key, duplicate=one.duplicate,
            unverified=one.unverified,
            changes=[ChangeOut(**vars(change)) for change in one.changes],
        )
        for one in applied
    ]  # fmt: skip
