"""A WebSub (un)subscribe request (§5.1), parsed and checked before anything is stored.

The form is small and its rules are the spec's, so it is parsed here by hand rather than
by a multipart library: bounded size and field count, UTF-8, unknown parameters ignored
(§5.1.1: "Hubs MUST ignore additional request parameters they do not understand").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from config import Settings
from feeds.keys import parse_path
from newsroom import netguard
from newsroom.websub import Mode

MAX_FORM_BYTES = 8 * 1024   # a callback of 2000 characters, percent-encoded, fits
MAX_FIELDS = 50
MAX_SECRET_BYTES = 199      # §5.1: hub.secret "MUST be less than 200 bytes in length"
FORM_TYPE = "application/x-www-form-urlencoded"
_SECONDS = re.compile(r"^[0-9]{1,10}$")
_KNOWN = ("hub.mode", "hub.topic", "hub.callback", "hub.secret", "hub.lease_seconds")


class HubRequestError(ValueError):
    """§5.1.2: a 4xx with a plain-text body saying what is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class HubRequest:
    mode: Mode
    topic: str                  # the feed path, "tags/borlange.atom"
    callback: str
    secret: str | None
    lease_seconds: int | None   # as asked; the hub clamps it


def is_form(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == FORM_TYPE


def parse(body: bytes, settings: Settings) -> HubRequest:
    """Check every parameter; the callback is resolved here (netguard), so call this in a
    thread, not on the event loop."""
    fields = _fields(body)
    mode = fields.get("hub.mode")
    if mode not in (Mode.SUBSCRIBE, Mode.UNSUBSCRIBE):
        raise HubRequestError("hub.mode", "must be subscribe or unsubscribe")
    topic = topic_path(_required(fields, "hub.topic"), settings)
    callback = _callback(_required(fields, "hub.callback"), settings)
    secret = fields.get("hub.secret") or None   # a form field left empty is not given
    if secret is not None and len(secret.encode()) > MAX_SECRET_BYTES:
        raise HubRequestError(
            "hub.secret", f"must be less than 200 bytes (§5.1), got {len(secret.encode())}"
        )
    lease = fields.get("hub.lease_seconds") or None
    if lease is not None and not _SECONDS.match(lease):
        raise HubRequestError(
            "hub.lease_seconds", "must be a whole number of seconds, at most 10 digits"
        )
    return HubRequest(Mode(mode), topic, callback, secret, int(lease) if lease else None)


def topic_path(url: str, settings: Settings) -> str:
    """The feed path of a topic URL; only this hub's own current feeds are topics.

    The URL must be exactly the one the feeds name as rel=self, so that hub.topic in the
    verification (§5.3) is the very URL the subscriber sent. A valid feed that has no
    document yet (a tag nobody has used) may be subscribed to: it is pushed once it has.
    """
    prefix = f"{settings.public_url}/feeds/"
    if not url.startswith(prefix):
        raise HubRequestError("hub.topic", f"not a topic of this hub; its topics are {prefix}…")
    request = parse_path(url.removeprefix(prefix))
    if request is None:
        raise HubRequestError("hub.topic", f"names no feed; for example {prefix}all.atom")
    current = f"{prefix}{request.key.path(request.fmt)}"
    if request.page is not None:
        raise HubRequestError(
            "hub.topic", f"an archive page never changes (RFC 5005); subscribe to {current}"
        )
    if request.key.kind == "lang" and request.key.value not in settings.language_codes:
        raise HubRequestError("hub.topic", f"no feed for that language; try {prefix}all.atom")
    return request.key.path(request.fmt)


def _callback(url: str, settings: Settings) -> str:
    if "#" in url:
        raise HubRequestError("hub.callback", "must not have a fragment (#...)")
    try:
        netguard.check(url, settings.allowed_networks)
    except netguard.UnsafeURL as exc:
        raise HubRequestError("hub.callback", str(exc)) from None
    return url


def _fields(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict",
            max_num_fields=MAX_FIELDS,
        )  # fmt: skip
    except UnicodeDecodeError:
        raise HubRequestError("body", "must be form data encoded as UTF-8") from None
    except ValueError:  # parse_qsl's own limit
        raise HubRequestError("body", f"more than {MAX_FIELDS} parameters") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in _KNOWN and name in fields:
            raise HubRequestError(name, "given more than once")
        fields.setdefault(name, value)
    return fields


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise HubRequestError(name, "missing (WebSub §5.1)")
    return value
