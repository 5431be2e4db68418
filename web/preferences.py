"""The preferences page of one subscriber, reached by the link in every email: change
language, frequency, topics and time zone; download everything kept (JSON); erase it all."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from config import Settings, get_settings
from newsroom import subscribers
from newsroom.db import session_scope
from newsroom.errors import DomainError
from newsroom.models import Subscriber, utcnow
from newsroom.subscription import SubscriptionIn
from newsroom.tokens import BadToken, Purpose
from web.subscribeform import FormError, FormValues, field_errors, page_language
from web.subscribepage import (
    PRIVATE,
    choices,
    dead_link,
    domain,
    form_error,
    language_for,
    page,
    read_form,
    refuse_cross_site,
)

router = APIRouter(include_in_schema=False)


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str, lang: str | None = None) -> Response:
    settings = get_settings()
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(session, Purpose.PREFERENCES, token, settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.PREFERENCES, lang)
        values = FormValues(
            email=subscriber.email, language=subscriber.language,
            frequency=str(subscriber.frequency), tags=list(subscriber.tags),
            time_zone=subscriber.time_zone,
        )  # fmt: skip
        language = language_for(request, subscriber, lang)
        return _preferences_form(request, session, settings, token, subscriber, language, values)


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save_preferences(request: Request, token: str, lang: str | None = None) -> Response:
    return await _posted(_save_preferences, request, token, lang)


def _save_preferences(
    request: Request, settings: Settings, token: str, body: bytes, lang: str | None
) -> Response:
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(session, Purpose.PREFERENCES, token, settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.PREFERENCES, lang)
        try:
            values, _ = FormValues.parse(body)
        except FormError:
            return form_error(request, language_for(request, subscriber, lang), 400)
        values.email = subscriber.email
        errors: dict[str, str] = {}
        try:
            data = SubscriptionIn.model_validate(values.model_input(email=subscriber.email))
            with session.begin_nested():  # a refused tag leaves the row as it was
                subscribers.update_preferences(session, subscriber, data, now=utcnow())
        except ValidationError as exc:
            errors = field_errors(exc)
        except DomainError as exc:
            errors = domain(exc)
        language = page_language(
            settings, lang, values.language if errors else subscriber.language,
            accept=request.headers.get("accept-language"),
        )  # fmt: skip
        return _preferences_form(
            request, session, settings, token, subscriber, language, values,
            errors=errors, saved=not errors, status=422 if errors else 200,
        )  # fmt: skip


@router.get("/preferences/{token}/export")
def export(request: Request, token: str, lang: str | None = None) -> Response:
    settings = get_settings()
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(session, Purpose.PREFERENCES, token, settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.PREFERENCES, lang)
        data = subscribers.export(session, subscriber)
    # GDPR art. 20: "in a structured, commonly used and machine-readable format".
    body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    headers = {**PRIVATE, "Content-Disposition": 'attachment; filename="subscriber-data.json"'}
    return Response(body, media_type="application/json", headers=headers)


@router.post("/preferences/{token}/erase", response_class=HTMLResponse)
async def erase(request: Request, token: str, lang: str | None = None) -> Response:
    return await _posted(_erase, request, token, lang)


Handler = Callable[[Request, Settings, str, bytes, "str | None"], Response]


async def _posted(handler: Handler, request: Request, token: str, lang: str | None) -> Response:
    """Read the form here, then do the database work in a thread: a bad body is
    answered before any work."""
    refused = refuse_cross_site(request, lang)
    if refused:
        return refused
    settings = get_settings()
    body = await read_form(request)
    if isinstance(body, int):
        language = page_language(settings, lang, accept=request.headers.get("accept-language"))
        return form_error(request, language, body)
    return await run_in_threadpool(handler, request, settings, token, body, lang)


def _erase(
    request: Request, settings: Settings, token: str, body: bytes, lang: str | None
) -> Response:
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(session, Purpose.PREFERENCES, token, settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.PREFERENCES, lang)
        language = language_for(request, subscriber, lang)
        try:
            _, fields = FormValues.parse(body)
        except FormError:
            return form_error(request, language, 400)
        if fields.get("confirm") != "yes":
            values = FormValues(
                email=subscriber.email, language=subscriber.language,
                frequency=str(subscriber.frequency), tags=list(subscriber.tags),
                time_zone=subscriber.time_zone,
            )  # fmt: skip
            return _preferences_form(
                request, session, settings, token, subscriber, language, values,
                errors={"confirm": "confirm"}, status=422,
            )  # fmt: skip
        email = subscriber.email
        subscribers.erase(session, subscriber)
    return page(request, "preferences_erased.html", language, private=True, email=email)


def _preferences_form(
    request: Request,
    session: Session,
    settings: Settings,
    token: str,
    subscriber: Subscriber,
    language: str,
    values: FormValues,
    *,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    unsubscribe_token = subscribers.token_for(subscriber, Purpose.UNSUBSCRIBE, settings)
    return page(
        request, "preferences_form.html", language, status, private=True,
        values=values, errors=errors or {}, saved=saved, subscription=str(subscriber.status),
        choices=choices(session, settings, language, values),
        action=f"/preferences/{token}", unsubscribe=f"/unsubscribe/{unsubscribe_token}",
    )  # fmt: skip
