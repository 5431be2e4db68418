"""The next edition for editors: what each language's subscribers get next, shown as it
will be sent (subject, preheader, the HTML in a sandboxed frame, the text part), and a
test of it sent to any address.

A test is a row (newsroom/testsends.py) sent by a worker after the commit, as every side
effect here is; the page shows how it went. It changes no subscriber, delivery or counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from babel import Locale
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from config import Settings, get_settings
from email_templates import content, personal
from email_templates.render import RenderedEmail, render_digest
from newsroom import audit, links, testsends
from newsroom.db import read_scope, session_scope
from newsroom.models import Frequency, utcnow
from newsroom.subscription import normalize_email
from web.desk import session as desk
from web.desk.render import DeskProblem, page, see
from web.ratelimit import RateLimiter, client_key, retry_after
from web.security import SELF, email_policy, frame_ancestors, origin_of, page_policy
from worker.bell import ring_test_sends

router = APIRouter(prefix="/desk", include_in_schema=False)
SignedIn = Annotated[desk.Viewer, Depends(desk.signed_in)]
FREQUENCIES = [frequency.value for frequency in Frequency]
TESTS_SHOWN = 10


def _choice(settings: Settings, language: str, frequency: str) -> tuple[str, Frequency]:
    """The edition asked for; the site's default language and daily when not named."""
    codes = settings.subscribe_language_codes
    language = language or (
        settings.default_language if settings.default_language in codes else codes[0]
    )
    if language not in codes or (frequency or "daily") not in FREQUENCIES:
        raise DeskProblem(404, "error.edition_choice")
    return language, Frequency(frequency or "daily")


def _render(
    language: str, frequency: Frequency, settings: Settings
) -> tuple[content.NextEdition, RenderedEmail | None]:
    """The next edition, rendered as the sender renders it (Gmail's budget included)."""
    with read_scope() as session:
        edition, shown = content.next_edition(session, language, frequency, settings, utcnow())
    if not edition.article_ids:
        return edition, None
    return edition, render_digest(shown)


def _filled(rendered: RenderedEmail, address: str, settings: Settings) -> RenderedEmail:
    """The per-recipient tokens filled in as a test send fills them: links for nobody."""
    inert = links.inert_links(address, settings)

    def fill(text: str, escape: bool) -> str:
        return personal.fill(text, unsubscribe_url=inert.unsubscribe_url,
                             preferences_url=inert.preferences_url, email=address,
                             escape=escape)  # fmt: skip

    return RenderedEmail(rendered.subject, fill(rendered.html, True), fill(rendered.text, False),
                         rendered.preheader)  # fmt: skip


@dataclass(frozen=True)
class Row:
    language: str
    frequency: str
    subscribers: int
    articles: int


def _overview(settings: Settings) -> list[Row]:
    with read_scope() as session:
        return [
            Row(found.language, found.frequency.value, found.subscribers,
                len(found.article_ids))
            for found in content.every_upcoming(
                session, settings.subscribe_language_codes, settings)
        ]  # fmt: skip


def _editions_page(
    request: Request, viewer: desk.Viewer, language: str, frequency: Frequency,
    status: int = 200, **values: object,
) -> Response:  # fmt: skip
    settings = get_settings()
    edition, rendered = _render(language, frequency, settings)
    with read_scope() as session:
        tests = testsends.recent(session, TESTS_SHOWN)
    names = Locale.parse(viewer.language).languages
    response = page(
        request, "editions.html", viewer, status,
        language=language, frequency=frequency.value, edition=edition,
        email=_filled(rendered, viewer.login, settings) if rendered else None,
        overview=_overview(settings), tests=tests, frequencies=FREQUENCIES,
        languages=[(code, names.get(code, code)) for code in settings.subscribe_language_codes],
        language_name=lambda code: names.get(code, code),
        preview_url=f"/desk/editions/{language}/preview.html?frequency={frequency.value}",
        here=_here(language, frequency),
        **{"errors": {}, "typed": {}, "notice": None, **values},
    )  # fmt: skip
    # The page frames its own preview: frames from this site only (CSP3 frame-src).
    own = origin_of(settings.public_url)
    response.headers["Content-Security-Policy"] = (
        f"{page_policy(settings)}; frame-src {SELF} {own}"
    )
    return response


def _here(language: str, frequency: Frequency) -> str:
    return "/desk/editions?" + urlencode({"language": language, "frequency": frequency.value})


@router.get("/editions")
def editions_page(
    request: Request, viewer: SignedIn, language: str = "", frequency: str = "", sent: str = ""
) -> Response:
    chosen, how_often = _choice(get_settings(), language[:20], frequency[:20])
    notice: tuple[str, dict[str, object]] | None = None
    if sent.isascii() and sent.isdigit() and len(sent) < 18:
        notice = ("editions.test_queued", {})
    return _editions_page(request, viewer, chosen, how_often, notice=notice)


@router.get("/editions/{language}/preview.html")
def preview(request: Request, viewer: SignedIn, language: str, frequency: str = "") -> Response:
    """The HTML part alone, for the editions page's sandboxed frame: under the email's own
    policy (no script at all), which lets only this site frame it."""
    settings = get_settings()
    chosen, how_often = _choice(settings, language[:20], frequency[:20])
    _, rendered = _render(chosen, how_often, settings)
    if rendered is None:
        raise DeskProblem(404, "editions.nothing")
    html = _filled(rendered, viewer.login, settings).html
    policy = frame_ancestors(email_policy(html, settings.public_url), [SELF])
    return HTMLResponse(html, headers={
        "Content-Security-Policy": policy,
        "X-Frame-Options": "SAMEORIGIN",  # for browsers that predate frame-ancestors
        "Cache-Control": "no-store",
    })  # fmt: skip


@dataclass(frozen=True)
class Asked:
    posted: desk.Posted
    wait: float  # seconds until this user may send another test; 0: now


async def _asked(request: Request, posted: Annotated[desk.Posted, Depends(desk.posted)]) -> Asked:
    """The CSRF-checked form, and the user's test-send bucket (per user, not per address:
    a newsroom's staff often share one)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = await limiter.wait("desk_test_send", f"user:{posted.viewer.user_id}")
    return Asked(posted, wait)


@router.post("/editions/test")
def send_test(request: Request, asked: Annotated[Asked, Depends(_asked)]) -> Response:
    posted, viewer = asked.posted, asked.posted.viewer
    settings = get_settings()
    typed = {name: posted.field(name, 300) for name in ("email", "language", "frequency")}
    language, frequency = _choice(settings, typed["language"], typed["frequency"])
    if asked.wait:
        seconds = retry_after(asked.wait)
        response = _editions_page(request, viewer, language, frequency, 429, typed=typed,
                                  errors={"email": ("error.test_limited",
                                                    {"seconds": seconds})})  # fmt: skip
        response.headers["Retry-After"] = seconds
        return response
    try:
        address = normalize_email(typed["email"])
    except ValueError:
        return _editions_page(request, viewer, language, frequency, 422, typed=typed,
                              errors={"email": ("error.test_email", {})})  # fmt: skip
    with session_scope() as session:
        if not content.upcoming(session, language, frequency, settings).article_ids:
            raise DeskProblem(409, "error.test_nothing")
        now = utcnow()
        row = testsends.request(session, viewer.user_id, address, language, frequency, now)
        actor = audit.Actor(viewer.user_id, viewer.login, client_key(request))
        audit.record(session, actor, "edition.test_send", now, address,
                     {"test_send": row.id, "language": language,
                      "frequency": frequency.value})  # fmt: skip
        test_id = row.id
    ring_test_sends([test_id])  # after the commit: a rolled-back request rings nothing
    return see(f"{_here(language, frequency)}&sent={test_id}#tests")

