"""Rotating a partner's signing secret: a real worker pushes to a real receiver on loopback,
and the partner verifies with the standardwebhooks library, under either secret during the
overlap and only under the new one after it. The admin API, the CLI and the desk each
rotate; the secret never reaches the audit log or a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Select, select, update
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner

from budkavle.cli import app as cli
from config import get_settings
from newsroom.db import session_scope
from newsroom.deskmodels import AuditEntry, Role
from newsroom.models import DeliveryStatus, Partner, PartnerDelivery, utcnow
from tests.desksupport import Desk, add_user
from tests.partnerpeers import Partners, Push
from tests.support import ADMIN, Server, wait_for
from tests.test_partners import SLUG, article, deliveries, publish, register, verified
from worker import http

OVERLAP = timedelta(hours=24)
SLOW = 30  # seconds a push may take on a machine shared by several test runs


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BUDKAVLE_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
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


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log line of the web server, the worker and the CLI (all in this process)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def rotate_by_api(server: Server, partner_id: int | str) -> dict[str, str]:
    answer = server.client.post(f"/api/partners/{partner_id}/rotate-secret", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    rotated: dict[str, str] = answer.json()
    return rotated


def end_overlap(partner_id: int) -> None:
    """Travel in time: the overlap ended a minute ago (the row says so, nobody sleeps)."""
    with session_scope() as session:
        session.execute(
            update(Partner)
            .where(Partner.id == partner_id)
            .values(previous_secret_expires_at=utcnow() - timedelta(minutes=1))
        )


def stored(partner_id: int) -> Partner:
    with session_scope() as session:
        partner = session.get(Partner, partner_id)
        assert partner is not None
        session.expunge(partner)
        return partner


def recorded(partner_id: int) -> PartnerDelivery:
    """The partner's one delivery, once the worker has recorded it delivered."""
    [delivery] = wait_for(
        lambda: [d for d in deliveries(partner_id) if d.status is DeliveryStatus.DELIVERED],
        timeout=SLOW,
        what="the delivery recorded",
    )
    return delivery


def accepts(secret: str, received: Push) -> bool:
    try:
        verified(secret, received)
    except WebhookVerificationError:
        return False
    return True


def rotations() -> Select[tuple[AuditEntry]]:
    return select(AuditEntry).where(AuditEntry.action == "partner.rotate_secret")


def assert_never_written(logs: pytest.LogCaptureFixture, *secrets: str) -> None:
    with session_scope() as session:
        entries = session.scalars(select(AuditEntry)).all()
        audited = json.dumps([[e.actor, e.action, e.target, e.details] for e in entries])
    logged = "\n".join(record.getMessage() for record in logs.records) + logs.text
    for secret in secrets:
        key = secret.removeprefix("whsec_")
        assert key not in audited, "a secret in the audit log"
        assert key not in logged, "a secret in the logs"


# The overlap, pushed by the real worker --------------------------------------------------


@pytest.mark.usefixtures("celery_worker")
def test_during_the_overlap_either_secret_verifies_and_after_it_only_the_new(
    server: Server, peers: Partners, logs: pytest.LogCaptureFixture
) -> None:
    partner = register(server, "Borlänge kommun", peers.endpoint("borlange"))
    partner_id, old = int(partner["id"]), partner["secret"]
    before = utcnow()
    rotated = rotate_by_api(server, partner_id)
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated["id"] == partner_id
    ends = stored(partner_id).previous_secret_expires_at
    assert ends is not None and before + OVERLAP <= ends <= utcnow() + OVERLAP
    assert rotated["previous_secret_valid_until"].startswith(ends.isoformat()[:16])

    publish(server)
    [during] = wait_for(lambda: peers.received("borlange"), SLOW, what="the push in the overlap")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert accepts(new, during), "a partner that switched already accepts"
    assert accepts(old, during), "a partner that has not switched yet accepts"
    third = register(server, "Umeå kommun", None)["secret"]
    assert not accepts(third, during), "any other secret still fails"

    end_overlap(partner_id)
    changed = article(title="Borlänge och Helsingfors fördjupar samarbetet")
    server.client.put(f"/api/articles/{SLUG}", json=changed, headers=ADMIN).raise_for_status()
    pushed = wait_for(lambda: peers.received("borlange")[1:], SLOW, what="the push after")
    after = pushed[0]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert accepts(new, after)
    assert not accepts(old, after), "the old secret stopped signing when the overlap ended"
    assert_never_written(logs, old, new)


@pytest.mark.usefixtures("celery_worker")
def test_a_replay_of_a_delivery_from_before_the_rotation_is_signed_with_the_current_secrets(
    server: Server, peers: Partners, logs: pytest.LogCaptureFixture
) -> None:
    partner = register(server, "Umeå kommun", peers.endpoint("umea"))
    partner_id, old = int(partner["id"]), partner["secret"]
    publish(server)
    [first] = wait_for(lambda: peers.received("umea"), SLOW, what="the push before")
    assert accepts(old, first)
    delivery = recorded(partner_id)

    new = rotate_by_api(server, partner_id)["secret"]
    path = f"/api/partners/deliveries/{delivery.id}/replay"
    server.client.post(path, headers=ADMIN).raise_for_status()
    replayed = wait_for(lambda: peers.received("umea")[1:], what="the replay", timeout=SLOW)[0]
    assert replayed.headers["webhook-id"] == first.headers["webhook-id"], "the same message"
    assert accepts(new, replayed) and accepts(old, replayed)
    recorded(partner_id)  # before replaying again: the worker has written its answer

    end_overlap(partner_id)
    server.client.post(path, headers=ADMIN).raise_for_status()
    again = wait_for(lambda: peers.received("umea")[2:], SLOW, what="the replay after")[0]
    assert accepts(new, again) and not accepts(old, again)
    assert_never_written(logs, old, new)


@pytest.mark.usefixtures("celery_worker")
def test_rotating_again_during_the_overlap_stops_the_oldest_secret(
    server: Server, peers: Partners
) -> None:
    partner = register(server, "Tammerfors stad", peers.endpoint("tampere"))
    partner_id, first = int(partner["id"]), partner["secret"]
    second = rotate_by_api(server, partner_id)["secret"]
    third = rotate_by_api(server, partner_id)["secret"]
    publish(server)
    [pushed] = wait_for(lambda: peers.received("tampere"), what="the push", timeout=SLOW)
    assert accepts(third, pushed) and accepts(second, pushed)
    assert not accepts(first, pushed), "two signatures at most: the oldest is dropped"


def test_with_no_overlap_the_old_secret_stops_at_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDKAVLE_PARTNER_SECRET_OVERLAP_HOURS", "0")
    get_settings.cache_clear()
    partner = register(server, "Mariehamns stad", None)
    rotated = rotate_by_api(server, partner["id"])
    assert rotated["previous_secret_valid_until"] is None
    row = stored(int(partner["id"]))
    assert (row.secret, row.previous_secret) == (rotated["secret"], None)
    monkeypatch.undo()
    get_settings.cache_clear()


# The admin API ---------------------------------------------------------------------------


@pytest.mark.parametrize("partner_id", ["0", "999", str(2**31), str(10**30)])
def test_the_api_answers_404_for_a_partner_that_does_not_exist(
    server: Server, partner_id: str
) -> None:
    register(server, "Aarhus Kommune", None)
    answer = server.client.post(f"/api/partners/{partner_id}/rotate-secret", headers=ADMIN)
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"][0]["field"] == "partner"


def test_the_api_needs_the_admin_token_and_keeps_the_pull_key(server: Server) -> None:
    partner = register(server, "Tromsø kommune", None)
    path = f"/api/partners/{partner['id']}/rotate-secret"
    assert server.client.post(path).status_code == 401
    assert server.client.post("/api/partners/abc/rotate-secret", headers=ADMIN).status_code == 422
    assert stored(int(partner["id"])).secret == partner["secret"], "nothing changed"
    rotate_by_api(server, partner["id"])
    pull = {"Authorization": f"Bearer {partner['pull_key']}"}
    assert server.client.get("/api/partner/articles", headers=pull).status_code == 200

    documented = server.client.get("/openapi.json").json()["paths"]
    operation = documented["/api/partners/{partner_id}/rotate-secret"]["post"]
    assert "overlap" in operation["description"].lower()
    assert {"200", "401", "404"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/SecretRotated")


# The CLI ---------------------------------------------------------------------------------


def test_the_cli_prints_the_new_secret_once_and_audits(
    server: Server, logs: pytest.LogCaptureFixture
) -> None:
    partner = register(server, "Reykjavíkurborg", None)
    result = CliRunner().invoke(cli, ["partners", "rotate-secret", "Reykjavíkurborg"])
    assert result.exit_code == 0, result.output
    row = stored(int(partner["id"]))
    assert row.secret is not None and row.secret in result.output
    assert row.previous_secret == partner["secret"]
    assert "not shown again" in result.output
    assert partner["secret"] not in result.output, "the old secret is not printed"
    with session_scope() as session:
        entry = session.scalars(rotations()).one()
        assert (entry.actor, entry.action, entry.target) == ("cli", "partner.rotate_secret",
                                                             "Reykjavíkurborg")  # fmt: skip
    assert_never_written(logs, partner["secret"], row.secret)

    missing = CliRunner().invoke(cli, ["partners", "rotate-secret", "999"])
    assert missing.exit_code == 1 and "no partner" in missing.output


# The desk --------------------------------------------------------------------------------


@pytest.fixture
def operator(server: Server) -> Desk:
    add_user("chef@example.se", Role.OPERATOR, "Åsa Lindqvist")
    desk = Desk(server)
    assert desk.sign_in("chef@example.se").status_code == 303
    return desk


def test_an_operator_rotates_on_the_desk_and_sees_the_secret_once(
    server: Server, operator: Desk, logs: pytest.LogCaptureFixture
) -> None:
    partner = register(server, "Borlänge kommun", None)
    page = operator.get(f"/desk/partners/{partner['id']}")
    assert 'action="/desk/partners/{}/rotate-secret"'.format(partner["id"]) in page.text
    path = f"/desk/partners/{partner['id']}/rotate-secret"

    shown = operator.post(path, {"confirm": "yes"})
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    row = stored(int(partner["id"]))
    assert row.secret is not None and row.secret != partner["secret"]
    assert row.secret in shown.text and partner["secret"] not in shown.text
    assert row.previous_secret_expires_at is not None
    assert row.previous_secret_expires_at.strftime("%Y-%m-%d") in shown.text
    assert "not shown again" in shown.text

    after = operator.get(f"/desk/partners/{partner['id']}")
    assert row.secret not in after.text, "the partner page never shows a secret"
    assert "rotation is under way" in after.text
    with session_scope() as session:
        entry = session.scalars(rotations()).one()
        assert (entry.actor, entry.action) == ("chef@example.se", "partner.rotate_secret")
        assert entry.details["partner"] == int(partner["id"])
    audit_page = operator.get("/desk/audit")
    assert "partner.rotate_secret" in audit_page.text
    assert row.secret.removeprefix("whsec_") not in audit_page.text
    assert_never_written(logs, partner["secret"], row.secret)


def test_the_desk_refuses_without_the_box_ticked_or_the_right_token(
    server: Server, operator: Desk
) -> None:
    partner = register(server, "Helsingfors stad", None)
    path = f"/desk/partners/{partner['id']}/rotate-secret"
    unticked = operator.post(path)
    assert unticked.status_code == 422
    assert "Tick the box first" in unticked.text and 'aria-invalid="true"' in unticked.text
    for token in ("", "fel", operator.csrf + "x"):
        refused = operator.post(path, {"confirm": "yes", "csrf": token})
        assert refused.status_code == 403 and "not from this desk" in refused.text
    assert operator.post(path, {"confirm": "yes"}, csrf=False).status_code == 403
    for other in ("99999", "x1", str(2**31), "9" * 30):
        missing = operator.post(f"/desk/partners/{other}/rotate-secret", {"confirm": "yes"})
        assert missing.status_code == 404, other
    row = stored(int(partner["id"]))
    assert (row.secret, row.previous_secret) == (partner["secret"], None), "nothing changed"
    with session_scope() as session:
        assert session.scalars(rotations()).all() == []


def test_the_desk_speaks_swedish_and_an_editor_may_not_rotate(server: Server) -> None:
    add_user("chef@example.se", Role.OPERATOR, "Åsa Lindqvist")
    add_user("redaktor@example.se", Role.EDITOR, "Erik Redaktör")
    partner = register(server, "Umeå kommun", None)
    path = f"/desk/partners/{partner['id']}/rotate-secret"
    swedish = Desk(server, language="sv")
    signed = swedish.sign_in("chef@example.se")
    assert signed.status_code == 303, signed.text[-3000:]
    assert "Byt signeringsnyckel" in swedish.get(f"/desk/partners/{partner['id']}").text
    assert "Kryssa i rutan först" in swedish.post(path).text
    shown = swedish.post(path, {"confirm": "yes"})
    assert "Ny signeringsnyckel: Umeå kommun" in shown.text and "visas inte igen" in shown.text

    editor = Desk(server)
    editor.sign_in("redaktor@example.se")
    before = stored(int(partner["id"])).secret
    assert editor.post(path, {"confirm": "yes"}).status_code == 403
    assert stored(int(partner["id"])).secret == before
