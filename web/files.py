"""The site's own static files under /static/: the pages' style sheets (web/static/), the
desk's (web/desk/static/, under /static/desk/) and Swagger UI's files for /docs (from the
fastapi-offline wheel, under /static/docs/).

Pages link each file as ``static_url(name)``, whose ``?v=`` is a hash of its bytes: a
browser may keep a versioned URL for a year (RFC 9111 §5.2.2.1; "immutable", RFC 8246),
and a new release of the file is a new URL. An unversioned or outdated request still
gets the file, cached briefly.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

STATIC_PATH = "/static"
ROOTS = {
    "": Path(__file__).parent / "static",
    "desk/": Path(__file__).parent / "desk" / "static",
    "docs/": Path(fastapi_offline.__file__).parent / "static",
}
# Only these kinds are served, each with its own type (nosniff is on every answer).
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
}
LONG = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"

router = APIRouter(include_in_schema=False)


@cache
def _files() -> dict[str, Path]:
    """Every file that may be served, by its name under /static/: a fixed list, so no
    path a client sends is ever joined to a folder."""
    found = {}
    for prefix, root in ROOTS.items():
        for path in sorted(root.iterdir()):
            if path.is_file() and path.suffix in MEDIA_TYPES:
                found[prefix + path.name] = path
    return found


@cache
def version(name: str) -> str:
    return hashlib.sha256(_files()[name].read_bytes()).hexdigest()[:16]


def static_url(name: str) -> str:
    """The path a page links ``name`` by; a name that is not a static file fails loudly."""
    return f"{STATIC_PATH}/{name}?v={version(name)}"


@router.api_route(STATIC_PATH + "/{name:path}", methods=["GET", "HEAD"])
def static_file(name: str, v: str | None = None) -> Response:
    path = _files().get(name)
    if path is None:
        return PlainTextResponse(f"no file at {STATIC_PATH}/{name}\n", status_code=404)
    cache_control = LONG if v == version(name) else SHORT
    return FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": cache_control}
    )
