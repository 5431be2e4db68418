"""Security headers of every answer, and the same-origin check of the subscriber's forms.

Each HTML page gets a Content-Security-Policy (CSP Level 3, https://www.w3.org/TR/CSP3/)
that lets it load nothing but this site's own files: no inline script or style can run,
so markup slipped into a page could neither run script nor restyle it. A route that
needs another policy (the API documentation, the embeddable signup form, an edition
rendered from an email) sets its own header, and this middleware leaves it alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings

SELF = "'self'"

# The policy of every HTML page, directive by directive. Sources marked SELF also allow
# the public URL's origin (pages link their style sheet through it).
PAGE_POLICY: tuple[tuple[str, str], ...] = (
    # https://www.w3.org/TR/CSP3/#directive-default-src: whatever is not named below
    # (fonts, media, fetch, workers, plugins...) loads from nowhere.
    ("default-src", "'none'"),
    # https://www.w3.org/TR/CSP3/#directive-script-src: script only as files from this
    # site, never inline (no 'unsafe-inline'); today no page has any.
    ("script-src", SELF),
    # https://www.w3.org/TR/CSP3/#directive-style-src: style sheets only as files under
    # /static/; a <style> block or a style="" attribute is refused.
    ("style-src", SELF),
    # https://www.w3.org/TR/CSP3/#directive-img-src: articles' images and the logo live
    # on the newsroom's CMS, anywhere on https.
    ("img-src", f"{SELF} https:"),
    # https://www.w3.org/TR/CSP3/#directive-form-action: forms post to this site only.
    ("form-action", SELF),
    # https://www.w3.org/TR/CSP3/#directive-base-uri: no <base> may send relative links
    # elsewhere.
    ("base-uri", "'none'"),
    # https://www.w3.org/TR/CSP3/#directive-frame-ancestors: no site may frame a page
    # (clickjacking: the erase button under someone else's page). The embeddable form
    # (web/embed.py) names the origins that may.
    ("frame-ancestors", "'none'"),
)

# The API documentation (/docs, web/docs.py): Swagger UI's own files, the one inline
# script that starts it (allowed by its hash, web/docs.py), its data: icons, and the
# fetch of /openapi.json.
DOCS_POLICY: tuple[tuple[str, str], ...] = (
    ("default-src", "'none'"),
    ("script-src", SELF),  # + the init script's 'sha256-...'
    ("style-src", SELF),
    ("img-src", f"{SELF} data:"),
    # https://www.w3.org/TR/CSP3/#directive-connect-src: "Try it out" and the schema.
    ("connect-src", SELF),
    ("form-action", "'none'"),
    ("base-uri", "'none'"),
    ("frame-ancestors", "'none'"),
)

# An edition in a browser (/newsletter/{id}): the email's own HTML, whose CSS is inline
# because mail clients read no style sheet. Its <style> blocks are allowed by their hashes
# (email_policy); style="" attributes, which no hash can name without 'unsafe-hashes' per
# attribute, are allowed by style-src-attr alone, while no script of any kind may run.
EMAIL_POLICY: tuple[tuple[str, str], ...] = (
    ("default-src", "'none'"),
    ("script-src", "'none'"),
    # https://www.w3.org/TR/CSP3/#directive-style-src-elem: the hashed <style> blocks.
    ("style-src-elem", SELF),
    # https://www.w3.org/TR/CSP3/#directive-style-src-attr
    ("style-src-attr", "'unsafe-inline'"),
    ("img-src", f"{SELF} https:"),
    ("form-action", "'none'"),
    ("base-uri", "'none'"),
    ("frame-ancestors", "'none'"),
)
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)

# Pages whose path carries a subscriber's token: the token must never leave in a Referer,
# whatever the page links to (https://www.w3.org/TR/referrer-policy/#referrer-policy-no-referrer).
TOKEN_PATHS = ("/preferences/", "/subscribe/confirm/", "/unsubscribe/")
# Elsewhere another site learns only that a reader came from this one
# (https://www.w3.org/TR/referrer-policy/#referrer-policy-strict-origin-when-cross-origin).
REFERRER_POLICY = "strict-origin-when-cross-origin"
# RFC 6797 §6.1.1: a year; subdomains are the operator's to decide, so not included.
HSTS = "max-age=31536000"
FEEDS_PREFIX = "/feeds/"


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, the way a browser's Origin header writes it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def render(policy: Iterable[tuple[str, str]], public_url: str, **extra: str) -> str:
    """The header value: SELF also names the public URL's origin, and ``extra`` adds
    sources to a directive (``script_src="'sha256-...'"``)."""
    own = f"{SELF} {origin_of(public_url)}"
    parts = []
    for directive, sources in policy:
        value = sources.replace(SELF, own)
        added = extra.get(directive.replace("-", "_"))
        if added:
            value = f"{value} {added}"
        parts.append(f"{directive} {value}")
    return "; ".join(parts)


def page_policy(settings: Settings) -> str:
    """PAGE_POLICY for this site; a logo on plain http is allowed by its own origin."""
    logo = settings.logo_url
    return render(
        PAGE_POLICY,
        settings.public_url,
        img_src=origin_of(logo) if logo.startswith("http://") else "",
    )


def frame_ancestors(policy: str, origins: Iterable[str]) -> str:
    """``policy`` with its frame-ancestors replaced by ``origins`` ('none' when empty)."""
    sources = " ".join(origins) or "'none'"
    kept = [part for part in policy.split("; ") if not part.startswith("frame-ancestors ")]
    return "; ".join([*kept, f"frame-ancestors {sources}"])


def script_hash(script: str) -> str:
    """A CSP hash source for an inline script or style block (CSP3 §8.4: the sha256 of its
    UTF-8 text)."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def email_policy(html: str, public_url: str) -> str:
    """EMAIL_POLICY for this HTML: its <style> blocks' hashes."""
    hashes = sorted({script_hash(block) for block in _STYLE_BLOCK.findall(html)})
    return render(EMAIL_POLICY, public_url, style_src_elem=" ".join(hashes))


class SecurityHeaders:
    """Adds the headers to each answer FastAPI gives (pure ASGI, as web/middleware.py says
    why), except feeds: their fields are web/feeds.py's, so that a cache hit, answered
    before FastAPI (web/front.py), and a miss carry the same ones."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.page_policy = page_policy(settings)
        self.hsts = settings.public_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(FEEDS_PREFIX):
            await self.app(scope, receive, send)
            return
        token_page = scope["path"].startswith(TOKEN_PATHS)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), token_page)
            await send(message)

        await self.app(scope, receive, secured)

    def _add(self, headers: MutableHeaders, token_page: bool) -> None:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if self.hsts:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if token_page:
            headers["Referrer-Policy"] = "no-referrer"
        if not headers.get("content-type", "").startswith("text/html"):
            return
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        policy = headers.setdefault("Content-Security-Policy", self.page_policy)
        if "frame-ancestors 'none'" in policy:
            # The same rule for browsers that predate frame-ancestors (RFC 7034).
            headers.setdefault("X-Frame-Options", "DENY")


def cross_site(request: Request, public_url: str) -> bool:
    """True when a browser sent this request from another site's page.

    Browsers say where a request comes from in Sec-Fetch-Site (Fetch Metadata,
    https://www.w3.org/TR/fetch-metadata/); older ones, or plain http to a host that is
    not loopback, send only Origin (RFC 6454 §7). A request with neither is not from a
    browser's cross-site form: a mail provider's RFC 8058 one-click POST, or curl.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")  # "none": the reader typed or bookmarked
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = {origin_of(str(request.base_url)), origin_of(public_url)}
    return origin.lower() not in own  # "null" (a sandboxed or privacy-hidden origin) too
