"""Partners: signed pushes to real endpoints on loopback, retries, order, SSRF, pull API."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from config import get_settings
from newsroom.db import session_scope
from newsroom.models import (
    DeliveryStatus,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
    utcnow,
)
from tests.partnerpeers import HANG, Partners
from tests.support import ADMIN, Server, article, wait_for
from worker import push

SLUG = "personliga-moten-starker-det-nordiska-samarbetet"


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Partners on 127.0.0.1 are internal: the operator allow-lists loopback for tests."""
    from worker import http

    monkeypatch.setenv("BUDKAVLE_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("BUDKAVLE_PUSH_TIMEOUT_SECONDS", "2")  # a HANG lasts longer
    get_settings.cache_clear()
    http.reset_client()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    http.reset_client()


@pytest.fixture
def peers(loopback_allowed: None) -> Iterator[Partners]:
    with Partners.running() as running:
        yield running


def register(server: Server, name: str, url: str | None, **filters: list[str]) -> dict[str, str]:
    body = {"name": name, "webhook_url": url, **filters}
    response = server.client.post("/api/partners", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


def publish(server: Server, **overrides: object) -> dict[str, object]:
    response = server.client.post("/api/articles", json=article(**overrides), headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def verified(secret: str, received: object) -> dict[str, object]:
    """What any Standard Webhooks library makes of a push: the payload, or it raises."""
    headers = received.headers  # type: ignore[attr-defined]
    payload: dict[str, object] = Webhook(secret).verify(received.body, headers)  # type: ignore[attr-defined]
    return payload


def deliveries(partner_id: int) -> list[PartnerDelivery]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(PartnerDelivery)
                .where(PartnerDelivery.partner_id == partner_id)
                .order_by(PartnerDelivery.event_id)
            )
        )


def due_now(partner_id: int) -> None:
    """Travel in time: the next retry of every pending delivery is now."""
    with session_scope() as session:
        session.execute(
            update(PartnerDelivery)
            .where(PartnerDelivery.partner_id == partner_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


# Registration -----------------------------------------------------------------------


def test_registration_shows_secret_and_key_once(server: Server) -> None:
    created = register(server, "Borlänge kommun", None, tags=["Borlänge"], languages=["sv"])
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    assert created["pull_key"].startswith("bkp_")
    assert created["tags"] == ["borlange"]
    listed = server.client.get("/api/partners", headers=ADMIN).json()
    assert listed[0]["name"] == "Borlänge kommun"
    assert "secret" not in listed[0] and "pull_key" not in listed[0]
    with session_scope() as session:
        stored = session.scalars(select(Partner)).one()
        assert stored.pull_key_hash != created["pull_key"]
        assert created["pull_key"] not in json.dumps(stored.tags + stored.languages)
    again = server.client.post("/api/partners", json={"name": "Borlänge kommun"}, headers=ADMIN)
    assert again.status_code == 409


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://127.0.0.1/webhook", id="loopback"),
        pytest.param("https://10.0.0.7/webhook", id="private-10"),
        pytest.param("https://192.168.1.20/webhook", id="private-192"),
        pytest.param("https://[::1]/webhook", id="ipv6-loopback"),
        pytest.param("https://[::ffff:127.0.0.1]/webhook", id="ipv4-mapped"),
        pytest.param("https://[2002:7f00:1::]/webhook", id="6to4-of-loopback"),
        pytest.param("http://169.254.169.254/latest/meta-data", id="metadata"),
        pytest.param("https://localhost/webhook", id="name-resolving-to-loopback"),
        pytest.param("https://0.0.0.0/webhook", id="unspecified"),
        pytest.param("https://224.0.0.1/webhook", id="multicast"),
        pytest.param("http://93.184.215.14/webhook", id="public-but-plain-http"),
        pytest.param("ftp://93.184.215.14/webhook", id="ftp"),
        pytest.param("https://user:lösen@93.184.215.14/", id="credentials"),
        pytest.param("https://93.184.215.14/web hook", id="space"),
    ],
)
def test_push_urls_that_point_inside_are_refused(server: Server, url: str) -> None:
    response = server.client.post(
        "/api/partners", json={"name": "Helsingfors stad", "webhook_url": url}, headers=ADMIN
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == "webhook_url"
    assert server.client.get("/api/partners", headers=ADMIN).json() == []


# Pushes ------------------------------------------------------------------------------


@pytest.mark.usefixtures("celery_worker")
def test_a_publish_is_pushed_signed_to_each_matching_partner(
    server: Server, peers: Partners
) -> None:
    borlange = register(server, "Borlänge kommun", peers.endpoint("borlange"), tags=["Borlänge"])
    umea = register(server, "Umeå kommun", peers.endpoint("umea"), tags=["Umeå"])
    finnish = register(server, "Helsingfors stad", peers.endpoint("helsinki"), languages=["fi"])
    publish(server)

    pushed = wait_for(lambda: peers.received("borlange"), what="the push to Borlänge")
    payload = verified(borlange["secret"], pushed[0])
    assert payload["type"] == "article.published"
    data = payload["data"]
    assert isinstance(data, dict)
    assert data["article"]["title"] == article()["title"]
    assert data["article"]["version"] == 1
    assert [tag["label"] for tag in data["article"]["tags"]] == ["Borlänge", "Nordiskt samarbete"]
    assert data["article"]["image"]["caption"] == "Marcus Hjelm från Borlänge."
    assert pushed[0].headers["webhook-id"].startswith("msg_")

    tampered = type(pushed[0])(pushed[0].headers, pushed[0].body.replace(b"Borl", b"Xorl"), 0)
    with pytest.raises(WebhookVerificationError):
        verified(borlange["secret"], tampered)
    old = dict(pushed[0].headers, **{"webhook-timestamp": str(int(time.time()) - 3600)})
    with pytest.raises(WebhookVerificationError):
        verified(borlange["secret"], type(pushed[0])(old, pushed[0].body, 0))
    with pytest.raises(WebhookVerificationError):
        verified(umea["secret"], pushed[0])

    time.sleep(0.5)
    assert peers.received("umea") == [] and peers.received("helsinki") == []
    assert deliveries(int(umea["id"])) == [] and deliveries(int(finnish["id"])) == []


@pytest.mark.usefixtures("celery_worker")
def test_update_and_retraction_arrive_in_order(server: Server, peers: Partners) -> None:
    partner = register(server, "Borlänge kommun", peers.endpoint("borlange"))
    publish(server)
    changed = article(title="Borlänge och Helsingfors fördjupar samarbetet")
    server.client.put(f"/api/articles/{SLUG}", json=changed, headers=ADMIN).raise_for_status()
    server.client.delete(f"/api/articles/{SLUG}", headers=ADMIN).raise_for_status()

    pushed = wait_for(lambda: len(peers.received("borlange")) == 3 and peers.received("borlange"))
    payloads = [verified(partner["secret"], push_) for push_ in pushed]
    kinds = [(p["type"], p["data"]["article"]["version"]) for p in payloads]  # type: ignore[index]
    assert kinds == [("article.published", 1), ("article.updated", 2), ("article.retracted", 3)]


def test_a_failing_partner_is_retried_with_the_same_webhook_id(
    db: str, server: Server, peers: Partners
) -> None:
    partner = register(server, "Tammerfors stad", peers.endpoint("tampere", 500, 503, 200))
    publish(server)
    delivery_id = _wait_for_delivery(int(partner["id"]))

    push.push(delivery_id)
    (failed,) = deliveries(int(partner["id"]))
    assert (failed.status, failed.attempts, failed.last_status) == ("pending", 1, 500)
    assert failed.next_attempt_at > utcnow(), "waits per the schedule"
    assert push.push(delivery_id) == [] and len(peers.received("tampere")) == 1, "not due yet"

    due_now(int(partner["id"]))
    push.push(delivery_id)
    due_now(int(partner["id"]))
    push.push(delivery_id)
    (done,) = deliveries(int(partner["id"]))
    assert (done.status, done.attempts) == ("delivered", 3)
    ids = {received.headers["webhook-id"] for received in peers.received("tampere")}
    assert ids == {done.webhook_id}
    log = server.client.get(f"/api/partners/{partner['id']}/deliveries", headers=ADMIN).json()
    assert [attempt["status_code"] for attempt in log[0]["log"]] == [200, 503, 500]

    push.push(delivery_id)
    assert len(peers.received("tampere")) == 3, "a delivered row is never sent again"


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        pytest.param(301, 301, "redirect counts as a failure", id="redirect"),
        pytest.param(HANG, None, "Timeout", id="timeout"),
    ],
)
def test_redirects_and_timeouts_are_failures(
    db: str, server: Server, peers: Partners, answer: int, status: int | None, error: str
) -> None:
    partner = register(server, "Mariehamns stad", peers.endpoint("mariehamn", answer))
    publish(server)
    push.push(_wait_for_delivery(int(partner["id"])))
    (delivery,) = deliveries(int(partner["id"]))
    assert (delivery.status, delivery.last_status) == ("pending", status)
    assert error in (delivery.last_error or "")


def test_retry_after_is_honoured(db: str, server: Server, peers: Partners) -> None:
    endpoint = peers.endpoint("aarhus", (429, {"Retry-After": "7200"}))
    partner = register(server, "Aarhus Kommune", endpoint)
    publish(server)
    push.push(_wait_for_delivery(int(partner["id"])))
    (delivery,) = deliveries(int(partner["id"]))
    assert delivery.next_attempt_at >= utcnow() + timedelta(seconds=7100)


def test_410_disables_the_partner_and_nothing_is_lost(
    db: str, server: Server, peers: Partners
) -> None:
    partner = register(server, "Tromsø kommune", peers.endpoint("tromso", 410))
    partner_id = int(partner["id"])
    publish(server)
    push.push(_wait_for_delivery(partner_id))
    with session_scope() as session:
        stored = session.get(Partner, partner_id)
        assert stored is not None
        assert stored.state is PartnerState.DISABLED
        assert "410" in (stored.disabled_reason or "")
    listed = server.client.get("/api/partners", headers=ADMIN).json()
    assert listed[0]["state"] == "disabled"

    enabled = server.client.post(f"/api/partners/{partner_id}/enable", headers=ADMIN)
    assert enabled.json()["state"] == "active"
    push.push(deliveries(partner_id)[0].id)
    assert deliveries(partner_id)[0].status == DeliveryStatus.DELIVERED


def test_version_n_never_after_n_plus_one(db: str, server: Server, peers: Partners) -> None:
    partner = register(server, "Umeå kommun", peers.endpoint("umea", 500))
    partner_id = int(partner["id"])
    publish(server)
    first = _wait_for_delivery(partner_id)
    server.client.put(
        f"/api/articles/{SLUG}", json=article(summary="Uppdaterad."), headers=ADMIN
    ).raise_for_status()
    second = _wait_for_delivery(partner_id)

    push.push(first)  # fails: version 1 stays pending
    due_now(partner_id)
    assert push.push(second) == [], "held back behind version 1"
    held = next(d for d in deliveries(partner_id) if d.id == second)
    assert held.next_attempt_at > utcnow(), "not due while it waits: the sweeper skips it"
    assert len(peers.received("umea")) == 1
    assert push.push(first) == [second], "once version 1 is through, version 2 is next"
    push.push(second)
    versions = [json.loads(p.body)["data"]["article"]["version"] for p in peers.received("umea")]
    assert versions == [1, 1, 2]


@pytest.mark.usefixtures("celery_worker")
def test_a_hanging_partner_does_not_slow_a_live_one(server: Server, peers: Partners) -> None:
    slow = register(server, "Långsamma kommunen", peers.endpoint("slow", HANG))
    register(server, "Snabba kommunen", peers.endpoint("fast"))
    publish(server)
    [hanging] = wait_for(lambda: peers.received("slow"), what="the hanging push")
    [fast] = wait_for(lambda: peers.received("fast"), what="the live partner")
    # Behind the hanging push, it would come after its timeout (2 s here), or later.
    assert fast.at - hanging.at < 1.5, "the live partner waited for the hanging one"
    timed_out = wait_for(
        lambda: [d for d in deliveries(int(slow["id"])) if d.attempts], timeout=10
    )
    assert "Timeout" in (timed_out[0].last_error or "")


def test_a_push_claimed_by_a_killed_worker_goes_again(
    db: str, server: Server, peers: Partners
) -> None:
    partner = register(server, "Reykjavíkurborg", peers.endpoint("reykjavik"))
    publish(server)
    delivery_id = _wait_for_delivery(int(partner["id"]))
    claimed = push._claim(delivery_id, utcnow())  # the worker dies before it sends
    assert claimed is not None
    assert push.push(delivery_id) == [] and peers.received("reykjavik") == [], "leased"
    due_now(int(partner["id"]))  # the lease runs out; the sweeper rings again
    push.push(delivery_id)
    assert [p.headers["webhook-id"] for p in peers.received("reykjavik")] == [claimed.webhook_id]


def _wait_for_delivery(partner_id: int) -> int:
    """The delivery row that the event's handling planned (no worker runs in these tests)."""
    from worker import events

    def planned() -> list[PartnerDelivery]:
        with session_scope() as session:
            pending = session.scalars(
                select(OutboxEvent.id).where(OutboxEvent.handled_at.is_(None))
            ).all()
        for event_id in pending:
            events.handle(event_id, get_settings(), lambda _: None)
        return deliveries(partner_id)

    rows = wait_for(planned, what="the delivery row")
    return rows[-1].id


# Pull ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("celery_worker")
def test_pull_loops_on_the_cursor_and_sees_everything_once(server: Server) -> None:
    partner = register(server, "Helsingfors stad", None, tags=["Nordiskt samarbete"])
    auth = {"Authorization": f"Bearer {partner['pull_key']}"}
    for n in range(5):
        publish(server, title=f"Nordiskt möte nummer {n}", slug=f"mote-{n}")
    publish(server, title="Bara om Umeå", slug="umea", tags=["Umeå"])
    server.client.delete("/api/articles/mote-0", headers=ADMIN).raise_for_status()

    def all_positions() -> int:
        with session_scope() as session:
            return session.scalar(select(func.count(OutboxEvent.position))) or 0

    wait_for(lambda: all_positions() == 7, what="every event handled")
    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(20):
        params = {"limit": "2"} | ({"since": cursor} if cursor else {})
        page = server.client.get("/api/partner/articles", params=params, headers=auth).json()
        seen += [(item["type"], item["article"]["slug"]) for item in page["items"]]
        cursor = page["next"]
        if not page["has_more"]:
            break
    # Articles may interleave (workers handle them side by side); one article's changes
    # come in the order they were made.
    assert sorted(seen) == sorted(
        [("article.published", f"mote-{n}") for n in range(5)] + [("article.retracted", "mote-0")]
    ), "every change once, and only the partner's"
    assert seen.index(("article.published", "mote-0")) < seen.index(("article.retracted", "mote-0"))
    assert not cursor.isdigit(), "the cursor is opaque"  # type: ignore[union-attr]
    later = server.client.get("/api/partner/articles", params={"since": cursor}, headers=auth)
    assert later.json()["items"] == [], "nothing twice"

    basic = httpx.BasicAuth("helsingfors", partner["pull_key"])
    feed = server.client.get("/api/partner/feed.atom", auth=basic)
    assert feed.status_code == 200
    assert "Nordiskt möte nummer 4" in feed.text and "Bara om Umeå" not in feed.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer bkp_fel"}, id="wrong-key"),
        pytest.param({"Authorization": "Bearer test-admin-token"}, id="admin-token"),
        pytest.param({"Authorization": "Basic !!!"}, id="broken-basic"),
    ],
)
def test_pull_refuses_wrong_keys_alike(server: Server, headers: dict[str, str]) -> None:
    register(server, "Borlänge kommun", None)
    response = server.client.get("/api/partner/articles", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid partner key"}


def test_pull_refuses_a_made_up_cursor(server: Server) -> None:
    partner = register(server, "Borlänge kommun", None)
    auth = {"Authorization": f"Bearer {partner['pull_key']}"}
    from web.partners import encode_cursor

    for cursor in ("12", "c1.!!", "c1.LTE", "x" * 101, encode_cursor(10**30)):
        params = {"since": cursor}
        response = server.client.get("/api/partner/articles", params=params, headers=auth)
        assert response.status_code in (400, 422), cursor
        assert "since" in response.text
