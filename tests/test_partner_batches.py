"""Partners at scale: planning in a few statements, batches sent side by side, pooled
connections (TLS too) that go to the address the guard checked."""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from config import get_settings
from newsroom import netguard, partners
from newsroom.db import get_engine, session_scope
from newsroom.models import DeliveryStatus, OutboxEvent, Partner, PartnerDelivery, utcnow
from tests.partnerpeers import HANG, Partners
from tests.support import ADMIN, Server, article, wait_for
from tests.test_partners import SLUG, deliveries, publish, register
from worker import http, push

# Public addresses (TEST-NET would be refused as reserved): planning never calls them.
PUBLIC = "https://93.184.215.14"


def _events() -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)))


def _plan(event_id: int) -> list[int]:
    with session_scope() as session:
        found = session.get(OutboxEvent, event_id)
        assert found is not None
        return partners.plan_deliveries(session, found, utcnow())


class Statements:
    """Counts the SQL statements the engine runs while it is open."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __enter__(self) -> Statements:
        event.listen(get_engine(), "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(get_engine(), "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        statement = args[2]
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            self.seen.append(statement)


# Planning ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 40])
def test_planning_is_set_based_and_idempotent(db: str, server: Server, count: int) -> None:
    for n in range(count):
        register(server, f"Kommun {n:02d}", f"{PUBLIC}/p{n}", tags=["Borlänge"])
    register(server, "Umeå kommun", f"{PUBLIC}/umea", tags=["Umeå"])  # not this article's
    register(server, "Finska staden", f"{PUBLIC}/fi", languages=["fi"])  # nor this language
    register(server, "Bara pull", None)  # no push endpoint
    disabled = register(server, "Avstängd kommun", f"{PUBLIC}/off")
    with session_scope() as session:
        stopped = session.get(Partner, int(disabled["id"]))
        assert stopped is not None
        partners.disable(stopped, "test", utcnow())
    publish(server)
    [event_id] = _events()

    with session_scope() as session:
        found = session.get(OutboxEvent, event_id)
        assert found is not None
        with Statements() as statements:
            planned = partners.plan_deliveries(session, found, utcnow())
    assert len(statements.seen) <= 3, "a read, one INSERT for every partner, a read"
    with session_scope() as session:
        rows = session.scalars(select(PartnerDelivery).order_by(PartnerDelivery.id)).all()
        names = {row.partner_id: row.webhook_id for row in rows}
        by_name = dict(session.execute(select(Partner.id, Partner.name)).all())
    assert sorted(by_name[partner_id] for partner_id in names) == sorted(
        [f"Kommun {n:02d}" for n in range(count)] + ["Avstängd kommun"]
    ), "one row per partner the event concerns, a disabled one's kept for later"
    assert len(planned) == count and len(set(names.values())) == count + 1
    assert planned == sorted(planned)

    assert _plan(event_id) == planned, "running it again plans nothing new"
    with session_scope() as session:
        query = select(PartnerDelivery.partner_id, PartnerDelivery.webhook_id)
        again = dict(session.execute(query).all())
    assert again == names, "and keeps each webhook-id"


def test_planning_after_a_delivery_went_out_plans_it_no_more(db: str, server: Server) -> None:
    register(server, "Borlänge kommun", f"{PUBLIC}/b")
    publish(server)
    [event_id] = _events()
    [delivery_id] = _plan(event_id)
    with session_scope() as session:
        row = session.get(PartnerDelivery, delivery_id)
        assert row is not None
        row.status = DeliveryStatus.DELIVERED
    assert _plan(event_id) == []


# Batches --------------------------------------------------------------------------------


@pytest.fixture
def peers(loopback_allowed: None) -> Iterator[Partners]:
    with Partners.running() as running:
        yield running


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BUDKAVLE_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("BUDKAVLE_PUSH_TIMEOUT_SECONDS", "2")  # a HANG lasts longer
    get_settings.cache_clear()
    http.reset_client()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    http.reset_client()


def test_a_batch_goes_out_side_by_side_past_a_hanging_partner(
    db: str, server: Server, peers: Partners
) -> None:
    hanging = register(server, "Långsamma kommunen", peers.endpoint("slow", HANG))
    live = [register(server, f"Kommun {n}", peers.endpoint(f"k{n}")) for n in range(12)]
    publish(server)
    planned = _plan(_events()[0])
    assert len(planned) == 13

    started = time.monotonic()
    finished: list[float] = []

    def send() -> None:
        push.push_batch(planned)
        finished.append(time.monotonic())

    sender = threading.Thread(target=send)
    sender.start()
    # Every live partner has its push, and its row says delivered, while the hanging
    # one still holds its sender (the push timeout is 2 s).
    def all_delivered() -> bool:
        return all(deliveries(int(p["id"]))[0].status == "delivered" for p in live)

    while not all_delivered() and time.monotonic() < started + 1.5:
        time.sleep(0.02)
    assert all_delivered() and time.monotonic() - started < 1.5, "recorded as they came"
    assert all(len(peers.received(f"k{n}")) == 1 for n in range(12))
    sender.join(timeout=10)
    assert finished and finished[0] - started >= 1.9, "the batch waited for its hanging push"
    [slow] = deliveries(int(hanging["id"]))
    assert (slow.status, slow.attempts) == ("pending", 1)
    assert "Timeout" in (slow.last_error or "")
    assert push.push_batch(planned) == [], "nothing due twice: delivered rows never go again"
    assert all(len(peers.received(f"k{n}")) == 1 for n in range(12))


def test_a_hanging_partner_holds_only_its_lane_and_the_task_goes_on(
    db: str, server: Server, peers: Partners
) -> None:
    hanging = register(server, "Långsamma kommunen", peers.endpoint("slow", *[HANG] * 4))
    live = register(server, "Snabba kommunen", peers.endpoint("fast"))
    planned = []
    for n in range(4):
        publish(server, title=f"Nordiskt möte nummer {n}", slug=f"mote-{n}")
        planned += _plan(_events()[-1])
    assert len(planned) == 8

    started = time.monotonic()
    push.push_batch(planned, patience=0.5)
    assert time.monotonic() - started < 1.5, "the task went on after its patience"
    assert [d.status for d in deliveries(int(live["id"]))] == ["delivered"] * 4
    assert len(peers.received("fast")) == 4
    assert len(peers.received("slow")) == push.PER_PARTNER, "the rest wait in its lane"

    # Each pair times out after 2 s; the next two go; each is recorded as it ends.
    def all_tried() -> list[PartnerDelivery]:
        rows = deliveries(int(hanging["id"]))
        return rows if all(row.attempts == 1 for row in rows) else []

    tried = wait_for(all_tried, timeout=10, what="every hanging push recorded")
    assert all("Timeout" in (row.last_error or "") for row in tried)
    assert len(peers.received("slow")) == 4
    assert not push._in_flight and not push._queued, "the lanes are empty again"


def test_a_push_that_cannot_be_signed_ends_on_its_row(db: str, server: Server) -> None:
    partner = register(server, "Borlänge kommun", f"{PUBLIC}/b")
    with session_scope() as session:
        stored = session.get(Partner, int(partner["id"]))
        assert stored is not None
        stored.secret = "whsec_not base64!"
    publish(server)
    push.push_batch(_plan(_events()[0]))
    [row] = deliveries(int(partner["id"]))
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Error" in (row.last_error or "")


def test_one_batch_keeps_each_partners_order(db: str, server: Server, peers: Partners) -> None:
    first = register(server, "Borlänge kommun", peers.endpoint("borlange"))
    second = register(server, "Umeå kommun", peers.endpoint("umea"))
    publish(server)
    changed = article(summary="Uppdaterad.")
    server.client.put(f"/api/articles/{SLUG}", json=changed, headers=ADMIN).raise_for_status()
    published, updated = _events()
    planned = _plan(published) + _plan(updated)

    # Version 2 is claimed in the same batch as version 1: it waits for it.
    following = push.push_batch(list(reversed(planned)))
    later = sorted(d.id for p in (first, second) for d in deliveries(int(p["id"]))[1:])
    assert sorted(following) == later, "version 1 through: version 2 is rung next"
    for p in (first, second):
        v1, v2 = deliveries(int(p["id"]))
        assert (v1.status, v2.status, v2.attempts) == ("delivered", "pending", 0)
    push.push_batch(following)
    for name in ("borlange", "umea"):
        versions = [json.loads(p.body)["data"]["article"]["version"]
                    for p in peers.received(name)]  # fmt: skip
        assert versions == [1, 2]


def test_a_blocker_settled_during_the_claim_leaves_the_next_one_due(
    db: str, server: Server, peers: Partners, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(server, "Borlänge kommun", peers.endpoint("borlange"))
    publish(server)
    changed = article(summary="Uppdaterad.")
    server.client.put(f"/api/articles/{SLUG}", json=changed, headers=ADMIN).raise_for_status()
    published, updated = _events()
    [first], [second] = _plan(published), _plan(updated)
    # Between the claim's two reads, version 1 is settled by another worker (which rings
    # version 2): the claim neither fails nor pushes version 2's time back.
    monkeypatch.setattr(push, "_earlier_pending", lambda session, delivery: None)
    assert push._claim_batch([second], utcnow()) == []
    [_, row] = deliveries(push_partner_id(second))
    assert row.next_attempt_at <= utcnow(), "still due: the bell or the sweeper sends it"
    assert first < second


def test_a_batch_claimed_by_a_killed_worker_goes_again_with_the_same_ids(
    db: str, server: Server, peers: Partners
) -> None:
    for n in range(3):
        register(server, f"Kommun {n}", peers.endpoint(f"k{n}"))
    publish(server)
    planned = _plan(_events()[0])
    claimed = push._claim_batch(planned, utcnow())  # the worker dies before it sends
    assert len(claimed) == 3
    assert push.push_batch(planned) == [], "leased: nobody sends them meanwhile"
    assert all(peers.received(f"k{n}") == [] for n in range(3))
    with session_scope() as session:  # the leases run out; the sweeper rings again
        due = partners.due_deliveries(session, claimed[0].lease_until)
    assert sorted(due) == planned
    with session_scope() as session:
        for row in session.scalars(select(PartnerDelivery)):
            row.next_attempt_at = utcnow()
    push.push_batch(planned)
    sent = {peers.received(f"k{n}")[0].headers["webhook-id"] for n in range(3)}
    assert sent == {outgoing.webhook_id for outgoing in claimed}


def test_a_push_whose_lease_is_nearly_out_is_handed_back_unsent(
    db: str, server: Server, peers: Partners, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(server, "Borlänge kommun", peers.endpoint("borlange"))
    publish(server)
    [delivery_id] = _plan(_events()[0])
    [claimed] = push._claim_batch([delivery_id], utcnow())
    # It waited for a sender until its lease had less than one push timeout left.
    later = claimed.lease_until - timedelta(seconds=get_settings().push_timeout_seconds / 2)
    monkeypatch.setattr(push, "utcnow", lambda: later)
    late = push._send(claimed)
    assert late.sent is False
    assert push._record_batch([late], utcnow()) == [delivery_id], "rung again at once"
    [row] = deliveries(push_partner_id(delivery_id))
    assert (row.status, row.attempts) == ("pending", 0) and row.next_attempt_at <= utcnow()
    assert peers.received("borlange") == []


def push_partner_id(delivery_id: int) -> int:
    with session_scope() as session:
        row = session.get(PartnerDelivery, delivery_id)
        assert row is not None
        return row.partner_id


# Pooled TLS to the checked address -------------------------------------------------------

NAME = "kommun.budkavle.test"


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for NAME only (Debian's openssl; the venv has no
    `cryptography`): a connection made for another name fails verification."""
    cert, key = folder / "partner-cert.pem", folder / "partner-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={NAME}", "-keyout", str(key), "-out", str(cert),
            "-addext", f"subjectAltName=DNS:{NAME}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class TLSPartner:
    """An HTTPS endpoint on loopback that notes, per request, the SNI its connection was
    made with, the Host header and the client's port (one port = one connection)."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.requests: list[tuple[str | None, str, int]] = []
        self._sni: dict[int, str | None] = {}
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = self._note_sni
        partner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                port = self.client_address[1]
                partner.requests.append((partner._sni.get(port), self.headers["host"], port))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]

    def _note_sni(self, sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        self._sni[sock.getpeername()[1]] = name

    def __enter__(self) -> TLSPartner:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_partner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loopback_allowed: None
) -> Iterator[tuple[TLSPartner, dict[str, str]]]:
    """The partner, and the DNS the guard sees (a stub: these names exist only here)."""
    cert, key = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted the way an operator would
    http.reset_client()
    dns = {NAME: "127.0.0.1", "annan.budkavle.test": "127.0.0.1"}
    real = netguard._resolve

    def resolve(host: str, port: int) -> tuple[netguard.Address, ...]:
        if host in dns:
            return (ipaddress.ip_address(dns[host]),)
        return real(host, port)

    monkeypatch.setattr(netguard, "_resolve", resolve)
    with TLSPartner(cert, key) as partner:
        yield partner, dns
    http.reset_client()


def test_tls_connections_are_pooled_per_name_and_go_to_the_checked_address(
    tls_partner: tuple[TLSPartner, dict[str, str]],
) -> None:
    partner, dns = tls_partner
    url = f"https://{NAME}:{partner.port}/push"
    for n in range(3):
        answer = http.request(http.client(), "POST", url, content=b"{}")
        assert answer.status_code == 204, n
    host = f"{NAME}:{partner.port}"
    assert [(sni, sent) for sni, sent, _ in partner.requests] == [(NAME, host)] * 3
    assert len({port for _, _, port in partner.requests}) == 1, "one connection, kept"
    assert http.client().keys() == [("https", NAME, partner.port, "127.0.0.1")]

    # Another name on the same address never rides that connection: its own pool, its own
    # handshake, which fails here because the certificate is not for that name.
    with pytest.raises(httpx.ConnectError, match=r"certificate|hostname"):
        http.request(http.client(), "POST", f"https://annan.budkavle.test:{partner.port}/x")
    assert len(partner.requests) == 3

    # The name resolves elsewhere now (DNS rebinding): checked again, and refused.
    dns[NAME] = "10.1.2.3"
    with pytest.raises(netguard.UnsafeURL, match="internal address"):
        http.request(http.client(), "POST", url, content=b"{}")
    assert len(partner.requests) == 3


def test_partner_pushes_over_tls_reuse_connections(
    db: str, server: Server, tls_partner: tuple[TLSPartner, dict[str, str]]
) -> None:
    partner, _ = tls_partner
    ids = [
        int(register(server, name, f"https://{NAME}:{partner.port}/{name}")["id"])
        for name in ("kommunen", "grannen")
    ]
    publish(server)
    push.push_batch(_plan(_events()[0]))
    publish(server, title="Ett andra möte", slug="ett-andra-mote")
    push.push_batch(_plan(_events()[1]))
    assert len(partner.requests) == 4
    assert {sni for sni, _, _ in partner.requests} == {NAME}
    # Two at a time side by side: at most two connections for four pushes.
    assert len({port for _, _, port in partner.requests}) <= 2
    assert [d.status for p in ids for d in deliveries(p)] == ["delivered"] * 4
