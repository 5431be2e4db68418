"""Outbox retention: what is deleted, slimmed or kept, the pull API's 410, replays, beat."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from config import SettingsError, get_settings, load_settings
from newsroom import articles, editions, outbox, retention
from newsroom.db import session_scope
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventKind,
    OutboxEvent,
    OutboxHorizon,
    Partner,
    PartnerDelivery,
    utcnow,
)
from newsroom.schemas import ArticleIn
from tests.support import ADMIN, Server, article
from web.partners import encode_cursor

GRACE = timedelta(seconds=1)
DAY = timedelta(days=1)

WHOLE, SLIM, GONE = "whole", "slim", "gone"


@dataclass(frozen=True)
class Case:
    name: str
    kind: EventKind
    age_days: float
    # (status, age in days) of one partner delivery of the event, if any
    delivery: tuple[DeliveryStatus, float] | None = None
    expected: str = WHOLE
    delivery_kept: bool = True
    handled: bool = True
    positioned: bool = True


P, U, R = EventKind.PUBLISHED, EventKind.UPDATED, EventKind.RETRACTED
DELIVERED, FAILED, PENDING = DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.PENDING

# In position order. Retention 30 days, delivery log 90 (the defaults).
CASES = [
    Case("old update, nothing refers to it", U, 40, expected=GONE),
    Case("old retraction, nothing refers to it", R, 40, expected=GONE),
    Case("old publication, nothing refers to it", P, 40, expected=GONE),
    Case("old update, delivered within the log", U, 40, (DELIVERED, 40), expected=SLIM),
    Case("old update, failed within the log", U, 35, (FAILED, 35), expected=SLIM),
    Case("old update, a push still pending", U, 35, (PENDING, 35), expected=WHOLE),
    Case("old publication, a push still pending", P, 35, (PENDING, 35), expected=WHOLE),
    Case("ancient update, delivery past the log", U, 100, (DELIVERED, 100),
         expected=GONE, delivery_kept=False),
    Case("ancient publication, failed delivery past the log", P, 100, (FAILED, 100),
         expected=GONE, delivery_kept=False),
    Case("ancient retraction, push pending for 100 days", R, 100, (PENDING, 100),
         expected=WHOLE),
    Case("old, positioned, not yet handled: the horizon stops here", U, 40, handled=False),
    Case("old and handled, but after an unhandled one", U, 40),
    Case("recent update", U, 2),
    Case("recent publication, delivered", P, 1, (DELIVERED, 1)),
    Case("the newest position: last_position needs it", U, 40),
]  # fmt: skip
UNPOSITIONED = Case("old, never handled, no position yet", U, 50, handled=False, positioned=False)


def _article_in(n: int) -> ArticleIn:
    return ArticleIn.model_validate(article(title=f"Nordiskt möte nummer {n}", slug=f"mote-{n}"))


def _event(session: Any, n: int, case: Case, partner: Partner, now: datetime) -> int:
    """An event of a real article with a real payload, aged as the case says."""
    created, event = articles.create(session, _article_in(n), now, GRACE)
    assert event is not None
    if case.kind is not EventKind.PUBLISHED:  # its own event, after the publication's
        event = outbox.record(session, created, case.kind, outbox.visibility(created), now, GRACE)
        session.delete(session.scalars(select(OutboxEvent).where(
            OutboxEvent.article_id == created.id, OutboxEvent.kind == EventKind.PUBLISHED
        )).one())  # fmt: skip
        session.flush()
    if case.positioned:
        outbox.assign_position(session, event.id)
    if case.handled:
        outbox.mark_handled(session, event.id, now)
    at = now - case.age_days * DAY
    session.execute(update(OutboxEvent).where(OutboxEvent.id == event.id).values(created_at=at))
    if case.delivery is not None:
        status, age = case.delivery
        delivery = PartnerDelivery(
            event_id=event.id, partner_id=partner.id, article_id=created.id,
            webhook_id=f"msg_{n:032d}", status=status, created_at=now - age * DAY,
        )  # fmt: skip
        session.add(delivery)
        session.flush()
        session.add(DeliveryAttempt(delivery_id=delivery.id, status_code=500, duration_ms=12))
    return event.id


def _world(now: datetime) -> dict[str, int]:
    """Every case's event id, by name."""
    ids = {}
    with session_scope() as session:
        partner = Partner(name="Borlänge kommun", webhook_url="https://cms.borlange.example/bk",
                          secret="whsec_" + "A" * 44)  # fmt: skip
        session.add(partner)
        session.flush()
        for n, case in enumerate([*CASES, UNPOSITIONED]):
            ids[case.name] = _event(session, n, case, partner, now)
    return ids


def _states(ids: dict[str, int]) -> dict[str, str]:
    with session_scope() as session:
        rows = {e.id: e for e in session.scalars(select(OutboxEvent))}
    states = {}
    for name, event_id in ids.items():
        event = rows.get(event_id)
        states[name] = GONE if event is None else SLIM if event.payload == {} else WHOLE
    return states


def _deliveries_kept() -> set[int]:
    with session_scope() as session:
        return set(session.scalars(select(PartnerDelivery.event_id)))


def _expected() -> dict[str, str]:
    return {case.name: case.expected for case in [*CASES, UNPOSITIONED]}


def test_each_event_is_deleted_slimmed_or_kept_by_the_rule(db: str) -> None:
    now = utcnow()
    ids = _world(now)
    with session_scope() as session:
        newest = outbox.last_position(session)
        attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))

    pruned = retention.prune(get_settings(), now)

    assert _states(ids) == _expected()
    kept = _deliveries_kept()
    for case in CASES:
        if case.delivery is not None:
            assert (ids[case.name] in kept) is case.delivery_kept, case.name
    with session_scope() as session:
        assert outbox.last_position(session) == newest, "positions are never given twice"
        horizon = session.get(OutboxHorizon, 1)
        unhandled = session.get(OutboxEvent, ids["old, positioned, not yet handled: the horizon "
                                                 "stops here"])  # fmt: skip
        assert horizon is not None and unhandled is not None
        assert horizon.position == unhandled.position, "up to the first unhandled event"
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == attempts - 2
    # The ancient update is slimmed as the horizon passes, then deleted with its delivery.
    assert (pruned.deleted, pruned.slimmed, pruned.log_deleted) == (5, 4, 2)

    again = retention.prune(get_settings(), now)
    assert again.changed == 0, "a second run finds nothing to do"
    assert _states(ids) == _expected()


def test_small_batches_stopped_midway_resume_to_the_same_end(db: str) -> None:
    now = utcnow()
    ids = _world(now)
    first = retention.prune(get_settings(), now, batch=2, budget_seconds=0)
    assert first.batches == 1, "the budget ran out after one batch"
    assert first.horizon == 3, "the horizon moved past that batch only"
    with session_scope() as session:
        assert retention.oldest_served(session) == 3
    rest = retention.prune(get_settings(), now, batch=2)
    assert rest.batches > 5
    assert _states(ids) == _expected()
    assert rest.longest_seconds > 0


def test_a_delivery_finished_after_the_horizon_passed_goes_with_the_log(db: str) -> None:
    now = utcnow()
    ids = _world(now)
    retention.prune(get_settings(), now)
    pending = ids["old update, a push still pending"]
    with session_scope() as session:
        session.execute(
            update(PartnerDelivery)
            .where(PartnerDelivery.event_id == pending)
            .values(status=DeliveryStatus.DELIVERED)
        )
    assert _states(ids)["old update, a push still pending"] == WHOLE
    # 60 days later the delivery leaves the log, and its event with it.
    later = retention.prune(get_settings(), now + 60 * DAY)
    assert later.log_deleted >= 1
    assert _states(ids)["old update, a push still pending"] == GONE


def test_a_republished_article_is_not_news_again_after_pruning(db: str) -> None:
    """new_articles counts an article by its first publication, kept on the article, so the
    pruned events of an unpublish and a republish do not make it news again."""
    now = utcnow()
    with session_scope() as session:
        data = _article_in(1)
        created, first = articles.create(session, data, now - 40 * DAY, GRACE)
        assert first is not None
        outbox.assign_position(session, first.id)
        outbox.mark_handled(session, first.id, now - 40 * DAY)
        draft = data.model_copy(update={"status": "draft"})
        _, unpublished = articles.update(session, created.slug, draft, now - 39 * DAY, GRACE)
        assert unpublished is not None and unpublished.kind is EventKind.RETRACTED
        outbox.assign_position(session, unpublished.id)
        outbox.mark_handled(session, unpublished.id, now - 39 * DAY)
        cursor = outbox.last_position(session)  # a subscriber's digest has seen these
        again = data.model_copy(update={"published_at": now - DAY})
        _, republished = articles.update(session, created.slug, again, now - DAY, GRACE)
        assert republished is not None and republished.kind is EventKind.PUBLISHED
        outbox.assign_position(session, republished.id)
        outbox.mark_handled(session, republished.id, now)
        session.execute(update(OutboxEvent).where(OutboxEvent.id == first.id)
                        .values(created_at=now - 40 * DAY))  # fmt: skip
        session.execute(update(OutboxEvent).where(OutboxEvent.id == unpublished.id)
                        .values(created_at=now - 39 * DAY))  # fmt: skip

    retention.prune(get_settings(), now)

    with session_scope() as session:
        first_event = session.get(OutboxEvent, first.id)
        assert first_event is None, "an old publication nothing refers to is deleted"
        assert session.get(OutboxEvent, unpublished.id) is None
        new = editions.new_articles(session, language="sv", tags=[], after=cursor,
                                    upto=outbox.last_position(session), limit=10)  # fmt: skip
    assert new == (), "published before the subscriber's cursor: not news twice"


# The pull API -------------------------------------------------------------------------


def _pull_world(server: Server) -> tuple[dict[str, str], dict[str, int], int]:
    response = server.client.post("/api/partners", json={"name": "Helsingfors stad"},
                                  headers=ADMIN)  # fmt: skip
    assert response.status_code == 201, response.text
    auth = {"Authorization": f"Bearer {response.json()['pull_key']}"}
    now = utcnow()
    ids = _world(now)
    retention.prune(get_settings(), now)
    with session_scope() as session:
        horizon = retention.oldest_served(session)
    return auth, ids, horizon


def test_a_cursor_older_than_the_retention_is_gone_with_what_to_do(server: Server) -> None:
    auth, _, horizon = _pull_world(server)
    assert horizon > 2
    with session_scope() as session:
        newest = outbox.last_position(session)
    for position in (0, horizon - 2):
        params = {"since": encode_cursor(position)}
        response = server.client.get("/api/partner/articles", params=params, headers=auth)
        assert response.status_code == 410, position
        body = response.json()
        assert body == {
            "detail": body["detail"],
            "oldest": encode_cursor(horizon - 1),
            "latest": encode_cursor(newest),
            "retention_days": 30,
            "feed": "https://nyheter.example/api/partner/feed.json",
        }
        assert "older than the 30 days" in body["detail"]
        assert "re-sync" in body["detail"] and "since=`latest`" in body["detail"]


def test_a_cursor_at_the_horizon_is_served(server: Server) -> None:
    auth, _, horizon = _pull_world(server)
    # Served in the horizon's place (the unhandled event): nothing but events kept whole.
    params = {"since": encode_cursor(horizon - 1), "limit": "200"}
    response = server.client.get("/api/partner/articles", params=params, headers=auth)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["items"][0]["position"] == horizon
    assert all(item["article"]["slug"].startswith("mote-") for item in page["items"])
    without = server.client.get("/api/partner/articles", params={"limit": "200"}, headers=auth)
    assert without.status_code == 200
    assert without.json()["items"] == page["items"], "no cursor: from the oldest change kept"


def test_pulls_while_pruning_get_whole_changes_or_a_410_never_an_error(server: Server) -> None:
    response = server.client.post("/api/partners", json={"name": "Tammerfors stad"},
                                  headers=ADMIN)  # fmt: skip
    auth = {"Authorization": f"Bearer {response.json()['pull_key']}"}
    now = utcnow()
    with session_scope() as session:
        partner = Partner(name="Aarhus kommune")
        session.add(partner)
        session.flush()
        for n in range(40):
            _event(session, n, Case("old", U if n % 2 else P, 40), partner, now)
        _event(session, 99, Case("recent", U, 1), partner, now)
    answers: list[int] = []
    stop = threading.Event()

    def pull() -> None:
        while not stop.is_set():
            for params in ({"limit": "7"}, {"since": encode_cursor(3), "limit": "7"}):
                got = server.client.get("/api/partner/articles", params=params, headers=auth)
                answers.append(got.status_code)
                if got.status_code == 200:
                    assert all(item["article"]["slug"] for item in got.json()["items"])

    puller = threading.Thread(target=pull)
    puller.start()
    try:
        pruned = retention.prune(get_settings(), now, batch=3, pause_seconds=0.01)
    finally:
        stop.set()
        puller.join()
    assert pruned.batches >= 13
    assert set(answers) <= {200, 410} and 200 in answers, answers
    params = {"since": encode_cursor(3)}
    after = server.client.get("/api/partner/articles", params=params, headers=auth)
    assert after.status_code == 410, "in the end the old cursor is gone"


def test_the_410_is_in_the_openapi_document(server: Server) -> None:
    document = server.client.get("/openapi.json").json()
    gone = document["paths"]["/api/partner/articles"]["get"]["responses"]["410"]
    assert "re-sync" in gone["description"]
    schema = gone["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = set(document["components"]["schemas"][schema]["properties"])
    assert fields == {"detail", "oldest", "latest", "retention_days", "feed"}
    replay = document["paths"]["/api/partners/deliveries/{delivery_id}/replay"]["post"]
    assert "410" in replay["responses"]


def test_replaying_a_slimmed_delivery_is_gone(server: Server) -> None:
    _, ids, _ = _pull_world(server)
    with session_scope() as session:
        by_event = {d.event_id: d.id for d in session.scalars(select(PartnerDelivery))}
    slimmed = by_event[ids["old update, delivered within the log"]]
    response = server.client.post(f"/api/partners/deliveries/{slimmed}/replay", headers=ADMIN)
    assert response.status_code == 410
    [problem] = response.json()["detail"]
    assert problem["field"] == "delivery"
    assert "BUDKAVLE_OUTBOX_RETENTION_DAYS" in problem["msg"] and "feed" in problem["msg"]
    with session_scope() as session:
        delivery = session.get(PartnerDelivery, slimmed)
        assert delivery is not None and delivery.status is DeliveryStatus.DELIVERED, "unchanged"

    recent = by_event[ids["recent publication, delivered"]]
    response = server.client.post(f"/api/partners/deliveries/{recent}/replay", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"


def test_the_cli_says_a_slimmed_delivery_cannot_be_replayed(db: str) -> None:
    from typer.testing import CliRunner

    from budkavle.cli import app

    now = utcnow()
    ids = _world(now)
    retention.prune(get_settings(), now)
    with session_scope() as session:
        slimmed = session.scalar(select(PartnerDelivery.id).where(
            PartnerDelivery.event_id == ids["old update, delivered within the log"]))  # fmt: skip
    result = CliRunner().invoke(app, ["partners", "replay", str(slimmed)])
    assert result.exit_code == 1, result.output
    assert "cannot be replayed" in " ".join(result.output.split())


# Beat and settings --------------------------------------------------------------------


def test_the_beat_prunes_every_minute(db: str) -> None:
    from worker.app import app, create_app
    from worker.tasks import prune_outbox

    entry = create_app(get_settings()).conf.beat_schedule["prune-outbox"]
    assert entry == {"task": "budkavle.prune_outbox", "schedule": 60.0}
    assert "budkavle.prune_outbox" in app.tasks
    now = utcnow()
    ids = _world(now)
    assert prune_outbox() == 5 + 4 + 2
    assert _states(ids) == _expected()
    assert prune_outbox() == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("BUDKAVLE_OUTBOX_RETENTION_DAYS", "6", "at least 7 days, got 6", id="short"),
        pytest.param("BUDKAVLE_OUTBOX_RETENTION_DAYS", "en månad", "integer", id="words"),
        pytest.param("BUDKAVLE_PARTNER_LOG_RETENTION_DAYS", "0", "at least 7 days", id="log"),
    ],
)
def test_retention_settings_are_checked(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{variable}={value!r}: ")
    assert message in str(raised.value)


def test_retention_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDKAVLE_OUTBOX_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("BUDKAVLE_PARTNER_LOG_RETENTION_DAYS", raising=False)
    settings = load_settings()
    assert (settings.outbox_retention_days, settings.partner_log_retention_days) == (30, 90)


def test_the_newest_position_stays_whatever_its_age(db: str) -> None:
    now = utcnow()
    with session_scope() as session:
        partner = Partner(name="Umeå kommun")
        session.add(partner)
        session.flush()
        ids = [_event(session, n, Case("old", U, 60), partner, now) for n in range(3)]
        newest = outbox.last_position(session)
    retention.prune(get_settings(), now)
    assert _states({str(i): i for i in ids}) == {str(ids[0]): GONE, str(ids[1]): GONE,
                                                 str(ids[2]): WHOLE}  # fmt: skip
    with session_scope() as session:
        assert outbox.last_position(session) == newest
        assert retention.oldest_served(session) == newest
