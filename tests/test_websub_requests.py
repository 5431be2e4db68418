"""Bad WebSub hub requests: a 4xx whose plain-text body names the parameter (§5.1.2), and
nothing recorded; callbacks into internal networks refused unless allow-listed (SSRF)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hubpeers import PUBLIC, allow_loopback, hub_request, intent_statuses, topic
from tests.support import Server


@pytest.fixture
def loopback() -> Iterator[None]:
    with allow_loopback():
        yield


CALLBACK = "http://127.0.0.1:9/inbox"
GOOD = {"hub.mode": "subscribe", "hub.topic": topic(), "hub.callback": CALLBACK}


def _without(name: str) -> dict[str, str]:
    return {key: value for key, value in GOOD.items() if key != name}


BAD_FORMS: dict[str, tuple[dict[str, str], str]] = {
    "no hub.mode": (_without("hub.mode"), "hub.mode"),
    "unknown hub.mode": ({**GOOD, "hub.mode": "publish"}, "hub.mode"),
    "no hub.topic": (_without("hub.topic"), "hub.topic"),
    "topic on another host": ({**GOOD, "hub.topic": "https://annan.example/feeds/all.atom"},
                              "hub.topic"),
    "topic over http": ({**GOOD, "hub.topic": "http://nyheter.example/feeds/all.atom"},
                        "hub.topic"),
    "topic not a feed": ({**GOOD, "hub.topic": f"{PUBLIC}/articles/snon-i-umea"}, "hub.topic"),
    "topic of no format": ({**GOOD, "hub.topic": topic("all.xml")}, "hub.topic"),
    "topic an archive page": ({**GOOD, "hub.topic": topic("all/archive/1.atom")}, "hub.topic"),
    "topic with a query": ({**GOOD, "hub.topic": topic("all.atom?sida=2")}, "hub.topic"),
    "topic of a language not served": ({**GOOD, "hub.topic": topic("lang/de.atom")},
                                       "hub.topic"),
    "no hub.callback": (_without("hub.callback"), "hub.callback"),
    "callback ftp://": ({**GOOD, "hub.callback": "ftp://127.0.0.1/inbox"}, "hub.callback"),
    "callback not a URL": ({**GOOD, "hub.callback": "inkorgen"}, "hub.callback"),
    "callback with a password": ({**GOOD, "hub.callback": "http://a:b@127.0.0.1/"},
                                 "hub.callback"),
    "callback with a fragment": ({**GOOD, "hub.callback": f"{CALLBACK}#x"}, "hub.callback"),
    "callback too long": ({**GOOD, "hub.callback": f"{CALLBACK}?q={'x' * 2000}"},
                          "hub.callback"),
    "secret of 200 bytes": ({**GOOD, "hub.secret": "å" * 100}, "hub.secret"),
    "lease not a number": ({**GOOD, "hub.lease_seconds": "tio dagar"}, "hub.lease_seconds"),
    "lease negative": ({**GOOD, "hub.lease_seconds": "-60"}, "hub.lease_seconds"),
    "lease of many digits": ({**GOOD, "hub.lease_seconds": "9" * 5000}, "hub.lease_seconds"),
}


@pytest.mark.parametrize(("form", "field"), BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_bad_hub_requests_are_refused(
    loopback: None, server: Server, form: dict[str, str], field: str
) -> None:
    response = server.client.post("/websub", data=form)
    assert response.status_code in (400, 413), response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(f"{field}: "), response.text
    assert intent_statuses() == []


RAW_BODIES: dict[str, tuple[str, bytes, int]] = {
    "JSON instead of a form": ("application/json", b'{"hub.mode": "subscribe"}', 415),
    "no content type": ("", b"hub.mode=subscribe", 415),
    "a 1 MB form": ("application/x-www-form-urlencoded",
                    b"hub.mode=subscribe&pad=" + b"x" * 1_000_000, 413),
    "not UTF-8": ("application/x-www-form-urlencoded",
                  b"hub.mode=subscribe&hub.topic=%FF%FE", 400),
    "too many fields": ("application/x-www-form-urlencoded",
                        b"&".join(b"f%d=1" % n for n in range(60)), 400),
    "hub.mode twice": ("application/x-www-form-urlencoded",
                       b"hub.mode=subscribe&hub.mode=unsubscribe", 400),
}


@pytest.mark.parametrize(("content_type", "body", "status"), RAW_BODIES.values(),
                         ids=RAW_BODIES.keys())  # fmt: skip
def test_malformed_hub_requests_are_refused(
    loopback: None, server: Server, content_type: str, body: bytes, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = server.client.post("/websub", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.text.split(":")[0] in ("body", "hub.mode"), response.text
    assert intent_statuses() == []


@pytest.mark.parametrize(
    ("callback", "reason"),
    [
        ("http://127.0.0.1:9/inbox", "BUDKAVLE_WEBHOOK_ALLOW_NETWORKS"),
        ("https://10.1.2.3/inbox", "internal address"),
        ("https://[::1]/inbox", "internal address"),
        ("http://93.184.215.14/inbox", "must use https"),
    ],
    ids=["loopback", "private", "ipv6-loopback", "public-over-http"],
)
def test_internal_callbacks_are_refused_without_the_allow_list(
    server: Server, callback: str, reason: str
) -> None:
    response = hub_request(server, callback)
    assert response.status_code == 400
    assert response.text.startswith("hub.callback: ") and reason in response.text
    assert intent_statuses() == []


def test_the_hub_explains_itself_to_a_browser(server: Server) -> None:
    response = server.client.get("/websub")
    assert response.status_code == 200
    assert "hub.mode=subscribe" in response.text and topic() in response.text
