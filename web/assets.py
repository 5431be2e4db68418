"""The site's stylesheet, served by the app: no CDN, no inline styles.

One file, web/static/site.css, with the newsroom's accent colour written in when it is
served (the setting is read once per process). Its URL carries a hash of the bytes, so
it can be cached for a year and a new colour or a new stylesheet is a new URL.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from config import Settings, get_settings

router = APIRouter(include_in_schema=False)

STYLESHEET_PATH = "/assets/site.css"
_SOURCE = Path(__file__).parent / "static" / "site.css"
_DEFAULT_ACCENT = "--accent: #9b1c1c;"
YEAR = 365 * 24 * 3600
# The site answers HEAD as GET (uvicorn sends no body), as the feeds do (RFC 9110 §9.3.2).
READ = ["GET", "HEAD"]


@lru_cache(maxsize=8)
def _stylesheet(accent: str) -> tuple[bytes, str]:
    text = _SOURCE.read_text(encoding="utf-8")
    assert _DEFAULT_ACCENT in text, "site.css lost its --accent line"
    body = text.replace(_DEFAULT_ACCENT, f"--accent: {accent};").encode()
    return body, hashlib.sha256(body).hexdigest()[:16]


def stylesheet_url(settings: Settings) -> str:
    _, version = _stylesheet(settings.accent_color)
    # Root-relative, as web/files.py links its files: the page and its style sheet come
    # from the same host, whichever name the reader used to reach it.
    return f"{STYLESHEET_PATH}?v={version}"


@router.api_route(STYLESHEET_PATH, methods=READ)
def stylesheet(request: Request) -> Response:
    body, version = _stylesheet(get_settings().accent_color)
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={YEAR}, immutable"}
    if request.query_params.get("v") != version:
        headers["Cache-Control"] = "public, max-age=300"  # an old or missing version
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/css; charset=utf-8", headers=headers)
