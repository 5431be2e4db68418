"""/embed/subscribe: the signup form, compact, for a partner's page to frame.

The same fields, rules and answers as /subscribe (web/subscribe.py takes both forms),
in the reader's language. Only the origins in BUDKAVLE_EMBED_ORIGINS may frame it
(CSP3 frame-ancestors, https://www.w3.org/TR/CSP3/#directive-frame-ancestors); with none
listed, no one may, like every other page. Inside the frame the form posts to its own
origin, and what it can do is what any stranger can do on /subscribe: start double
opt-in, which sends one confirmation email, within the same rate limit.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from config import get_settings
from newsroom.db import session_scope
from web.security import frame_ancestors, page_policy
from web.subscribe import FormPages, subscribe_form, take_form
from web.subscribeform import FormValues, page_language

EMBED_PATH = "/embed/subscribe"
EMBED = FormPages("embed_form.html", "embed_layout.html", EMBED_PATH)

router = APIRouter(include_in_schema=False)


@router.get(EMBED_PATH, response_class=HTMLResponse)
def embed_page(request: Request, lang: str | None = None) -> Response:
    settings = get_settings()
    language = page_language(settings, lang, accept=request.headers.get("accept-language"))
    values = FormValues(language=language, frequency="daily")
    with session_scope() as session:
        response = subscribe_form(request, session, settings, language, values, {}, EMBED)
    return _framable(response)


@router.post(EMBED_PATH, response_class=HTMLResponse)
async def embed_subscribe(request: Request, lang: str | None = None) -> Response:
    # Every answer (sent, a field's error, 400/413/415/429) shows inside the same frame.
    return _framable(await take_form(request, lang, EMBED))


def _framable(response: Response) -> Response:
    settings = get_settings()
    policy = frame_ancestors(page_policy(settings), settings.embed_origin_list)
    response.headers["Content-Security-Policy"] = policy
    return response
