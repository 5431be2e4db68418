"""The subscriber's pages: subscribe, confirm, unsubscribe (and, from web.preferences,
preferences, export and erase).

Plain HTML forms, no JavaScript, in the reader's language (the "pages" catalog). Every
answer a stranger can see is the same whether or not an address is known. Pages reached
by a link from an email carry its token in the path: they are never cached, never
indexed, and never send the token on in a Referer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from config import Settings, get_settings
from newsroom import subscribers
from newsroom.db import session_scope
from newsroom.errors import DomainError
from newsroom.models import Subscriber, SubscriberStatus, utcnow
from newsroom.subscribers import Mail
from newsroom.subscription import SubscriptionIn
from newsroom.tokens import BadToken, Purpose
from newsroom.urls import SUBSCRIBE_PATH
from web import preferences, ratelimit
from web.sitepage import LANG_COOKIE, is_slug
from web.subscribeform import FORM_VERSION, FormError, FormValues, field_errors, page_language
from web.subscribepage import (
    choices,
    dead_link,
    domain,
    form_error,
    language_for,
    page,
    read_form,
    refuse_cross_site,
)
from worker import bell

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class FormPages:
    """The templates a signup form answers with: this site's page, or the compact one that
    other sites frame (web/embed.py). Both take the same fields and the same rules."""

    form: str
    layout: str
    path: str

    @property
    def values(self) -> dict[str, Any]:
        return {"layout": self.layout, "form_path": self.path}


FULL = FormPages("subscribe_form.html", "subscribe_layout.html", SUBSCRIBE_PATH)

MAX_PRESET_TAGS = 30
# The preferences page, export and erase: reached from the same emails, served by this router.
router.include_router(preferences.router)


# --- subscribe ---------------------------------------------------------------------------


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(request: Request, lang: str | None = None) -> Response:
    settings = get_settings()
    # ?lang=, then the site's language switch (its cookie), then the browser's.
    cookie = request.cookies.get(LANG_COOKIE)
    language = page_language(settings, lang, cookie, accept=request.headers.get("accept-language"))
    # ?tags=SLUG: a topic page's "follow by email" comes with its topic ticked.
    wanted = [slug for slug in request.query_params.getlist("tags") if is_slug(slug)]
    values = FormValues(
        language=language, frequency="daily", time_zone=settings.time_zone,
        tags=list(dict.fromkeys(wanted))[:MAX_PRESET_TAGS],
    )  # fmt: skip
    with session_scope() as session:
        return subscribe_form(request, session, settings, language, values, {})


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request, lang: str | None = None) -> Response:
    # A form on another site may post here (README: the partner snippet): all it can do is
    # start double opt-in, which only sends a confirmation email, rate limited per address.
    return await take_form(request, lang, FULL)


async def take_form(request: Request, lang: str | None, pages: FormPages) -> Response:
    """Take a signup form (this page's, the embeddable one's, or a partner's snippet)."""
    settings = get_settings()
    accept = request.headers.get("accept-language")
    wait = await ratelimit.check(request, "subscribe")
    if wait:  # before the form is read: a flood costs a Redis call, not a database write
        language = page_language(settings, lang, accept=accept)
        response = form_error(request, language, 429, **pages.values)
        response.headers["Retry-After"] = ratelimit.retry_after(wait)
        return response
    body = await read_form(request)
    if isinstance(body, int):
        language = page_language(settings, lang, accept=accept)
        return form_error(request, language, body, **pages.values)
    try:
        values, _ = FormValues.parse(body)
    except FormError:
        language = page_language(settings, lang, accept=accept)
        return form_error(request, language, 400, **pages.values)
    ip = request.client.host if request.client else None
    return await run_in_threadpool(_subscribe, request, settings, values, lang, accept, ip, pages)


def _subscribe(
    request: Request,
    settings: Settings,
    values: FormValues,
    lang: str | None,
    accept: str | None,
    ip: str | None,
    pages: FormPages,
) -> Response:
    language = page_language(settings, values.language, lang, accept=accept)
    try:
        data = SubscriptionIn.model_validate(values.model_input())
        outcome = _store(data, ip, settings)
    except (ValidationError, DomainError) as exc:
        errors = field_errors(exc) if isinstance(exc, ValidationError) else domain(exc)
        with session_scope() as session:
            return subscribe_form(request, session, settings, language, values, errors, pages, 422)
    # After the commit: a request that rolled back never rings (the sweeper would not either).
    if outcome.mail is not Mail.NONE:
        bell.ring_notices([outcome.subscriber_id])
    # The same page whatever happened: it must not tell whether the address was known.
    return page(request, "subscribe_sent.html", language, email=data.email, **pages.values)


def _store(data: SubscriptionIn, ip: str | None, settings: Settings) -> subscribers.Outcome:
    for attempt in (1, 2):
        try:
            with session_scope() as session:
                return subscribers.subscribe(
                    session, data, ip=ip, form_version=FORM_VERSION, now=utcnow(),
                    settings=settings,
                )  # fmt: skip
        except IntegrityError:
            # The same new address sent twice at once: the second insert lost the race,
            # and on a second try it finds the row the first one made.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def subscribe_form(
    request: Request,
    session: Session,
    settings: Settings,
    language: str,
    values: FormValues,
    errors: dict[str, str],
    pages: FormPages = FULL,
    status: int = 200,
) -> Response:
    return page(
        request, pages.form, language, status,
        values=values, errors=errors, choices=choices(session, settings, language, values),
        **pages.values,
    )  # fmt: skip


# --- confirm (double opt-in) ---------------------------------------------------------------


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, lang: str | None = None) -> Response:
    # A GET only shows a button. Mail scanners and link previewers fetch every link in an
    # email; if a GET confirmed, they would confirm addresses whose owners never clicked.
    settings = get_settings()
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(
                session, Purpose.CONFIRM, token, settings,
                max_age=settings.confirm_max_age_seconds,
            )  # fmt: skip
        except BadToken:
            return dead_link(request, session, token, Purpose.CONFIRM, lang)
        language = language_for(request, subscriber, lang)
        if subscriber.status is SubscriberStatus.ACTIVE:
            return _confirmed(request, subscriber, language)
        if subscriber.status is not SubscriberStatus.PENDING:
            return dead_link(request, session, token, Purpose.CONFIRM, lang)
        return page(request, "confirm_ask.html", language, private=True, email=subscriber.email)


@router.post("/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str, lang: str | None = None) -> Response:
    refused = refuse_cross_site(request, lang)
    if refused:
        return refused
    settings = get_settings()
    with session_scope() as session:
        try:
            subscriber = subscribers.confirm(session, token, now=utcnow(), settings=settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.CONFIRM, lang)
        response = _confirmed(request, subscriber, language_for(request, subscriber, lang))
        owed = subscriber.notice_requested_at != subscriber.notice_sent_at
        subscriber_id = subscriber.id
    # After the commit, the welcome email's bell (a second confirm rings for nothing: the
    # row says it was sent, or is being sent).
    if owed:
        bell.ring_notices([subscriber_id])
    return response


def _confirmed(request: Request, subscriber: Subscriber, language: str) -> Response:
    token = subscribers.token_for(subscriber, Purpose.PREFERENCES, get_settings())
    return page(
        request, "confirm_done.html", language, private=True,
        email=subscriber.email, preferences=f"/preferences/{token}",
    )  # fmt: skip


# --- unsubscribe (RFC 8058) ----------------------------------------------------------------


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, lang: str | None = None) -> Response:
    # RFC 8058 3.2: a GET must not unsubscribe (scanners follow links); it shows a button.
    settings = get_settings()
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(session, Purpose.UNSUBSCRIBE, token, settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.UNSUBSCRIBE, lang)
        subscribed = subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
        language = language_for(request, subscriber, lang)
        name = "unsubscribe_ask.html" if subscribed else "unsubscribe_done.html"
        return page(request, name, language, private=True, **_leaving(subscriber, settings))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, lang: str | None = None) -> Response:
    # RFC 8058 3.1: mail clients POST "List-Unsubscribe=One-Click" here, without cookies
    # and without anything a CSRF token could come from; the signed token in the URL is
    # the whole proof. The body is not read: whatever it says, the answer is the same, so
    # the page's own button (a plain form) and a mail client's POST both work. Idempotent.
    # A mail provider's POST comes from its servers, not a browser: only a browser's
    # cross-site form is refused.
    refused = refuse_cross_site(request, lang)
    if refused:
        return refused
    settings = get_settings()
    with session_scope() as session:
        try:
            subscriber = subscribers.from_token(session, Purpose.UNSUBSCRIBE, token, settings)
        except BadToken:
            return dead_link(request, session, token, Purpose.UNSUBSCRIBE, lang)
        subscribers.unsubscribe(session, subscriber, now=utcnow())
        language = language_for(request, subscriber, lang)
        return page(
            request, "unsubscribe_done.html", language, private=True,
            **_leaving(subscriber, settings),
        )  # fmt: skip


def _leaving(subscriber: Subscriber, settings: Settings) -> dict[str, Any]:
    token = subscribers.token_for(subscriber, Purpose.PREFERENCES, settings)
    return {"email": subscriber.email, "preferences": f"/preferences/{token}"}
