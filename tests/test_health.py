"""Health and metrics: what load balancers and Prometheus read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from newsroom.db import session_scope
from newsroom.models import OutboxEvent, utcnow
from tests.mailsupport import plan, publish, subscribe
from tests.smtpsink import SmtpSink
from tests.support import Server
from web import readiness


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = server.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_health_and_readiness_answer(celery_worker: None, server: Server) -> None:
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ok", "database": "ok", "redis": "ok", "workers": "ok", "outbox": "ok",
    }  # fmt: skip


def test_readiness_fails_without_a_worker_heartbeat(server: Server) -> None:
    ready = server.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["workers"] == "error: no worker heartbeat in the last 20 s"
    assert ready.json()["redis"] == "ok"
    assert server.client.get("/healthz").status_code == 200  # the process itself is fine


def test_readiness_answers_in_time_when_a_check_hangs() -> None:
    def hangs() -> None:
        import time

        time.sleep(readiness.CHECK_TIMEOUT + 1)

    assert readiness.run({"hangs": hangs, "fine": lambda: None}) == {
        "hangs": f"error: no answer within {readiness.CHECK_TIMEOUT:g} s",
        "fine": "ok",
    }


# (age of the oldest unhandled event, age of the last handled one, stalled?); limit 120 s
OUTBOX_CASES = {
    "empty outbox": (None, None, False),
    "young event waits": (30, None, False),
    "old event, nothing ever handled": (600, None, True),
    "old event, nothing handled lately": (600, 300, True),
    "old event, others handled lately": (600, 10, False),
}


@pytest.mark.parametrize("case", OUTBOX_CASES)
def test_readiness_reports_an_outbox_that_does_not_move(db: str, case: str) -> None:
    waiting, handled, stalled = OUTBOX_CASES[case]
    now = utcnow()
    if handled is not None:
        done = publish(title="Färjan till Åland går igen")
        with session_scope() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.article_id == done)
                .values(handled_at=now - timedelta(seconds=handled))
            )
    if waiting is not None:
        pending = publish(title="Isläggning i Bottenviken försenad")
        with session_scope() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.article_id == pending)
                .values(created_at=now - timedelta(seconds=waiting))
            )
    if stalled:
        with pytest.raises(readiness.NotReady, match="none was handled in the last 120 s"):
            readiness.outbox()
    else:
        readiness.outbox()


def test_metrics_show_subscribers_and_the_digest_queue(server: Server, mail: SmtpSink) -> None:
    subscribe("matare@example.se")
    subscribe("lasare@example.se")
    publish()
    before = scrape(server)
    assert before[("budkavle_subscribers", (("status", "active"),))] == 2
    assert before[("budkavle_emails_queued", ())] == 0
    assert before[("budkavle_articles", (("status", "published"),))] == 1

    plan()  # planned, not sent: two emails wait

    after = scrape(server)
    assert after[("budkavle_emails_queued", ())] == 2
    assert after[("budkavle_emails_oldest_queued_seconds", ())] >= 0


def test_a_database_that_does_not_answer_is_a_503_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL restarting: a publish cannot be stored, and says so at once with a 503
    and Retry-After (the chaos suite's restart answered 500s before)."""
    from config import get_settings
    from tests.support import ADMIN, article
    from web.app import create_app

    # A port where nothing listens: every connection is refused, as while PostgreSQL restarts.
    monkeypatch.setenv("BUDKAVLE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/test")
    get_settings.cache_clear()
    try:
        with Server.running(create_app()) as server:
            answer = server.client.post("/api/articles", json=article(), headers=ADMIN)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "5"
            assert answer.json()["detail"][0]["field"] == "database"
            assert answer.elapsed.total_seconds() < 1.0
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
