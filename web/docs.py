"""The API documentation at /docs: Swagger UI from the site's own files, never a CDN.

FastAPI's recipe for self-hosted docs (https://fastapi.tiangolo.com/how-to/custom-docs-ui-assets/):
the app is made with ``docs_url=None`` and this route renders ``get_swagger_ui_html``
with the JavaScript and CSS that web/files.py serves from the fastapi-offline wheel. The
page's one inline script, which starts Swagger UI, is allowed by its hash
(CSP3 §8.4), so the policy needs no 'unsafe-inline'.
"""

from __future__ import annotations

import re
from functools import cache

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse

from config import get_settings
from web.files import static_url
from web.security import DOCS_POLICY, render, script_hash

DOCS_PATH = "/docs"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH, response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    openapi_url = request.app.openapi_url or "/openapi.json"
    html, policy = _page(request.app.title, openapi_url, get_settings().public_url)
    headers = {"Content-Security-Policy": policy, "Cache-Control": "no-cache"}
    return HTMLResponse(html, headers=headers)


@router.get("/redoc")
def redoc() -> RedirectResponse:
    # FastAPI served ReDoc here too, from a CDN; a bookmark of it lands on /docs instead.
    return RedirectResponse(DOCS_PATH, status_code=308)


@cache
def _page(title: str, openapi_url: str, public_url: str) -> tuple[str, str]:
    response = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} – Swagger UI",
        swagger_js_url=static_url("docs/swagger-ui-bundle.js"),
        swagger_css_url=static_url("docs/swagger-ui.css"),
        swagger_favicon_url=static_url("docs/favicon.png"),
        oauth2_redirect_url=None,
        # No badge that sends the schema to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(response.body).decode("utf-8").replace("<html>", '<html lang="en">', 1)
    hashes = " ".join(script_hash(script) for script in _INLINE_SCRIPT.findall(html))
    policy = render(DOCS_POLICY, public_url, script_src=hashes)
    return html, policy
