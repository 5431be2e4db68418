"""Health and metrics: what load balancers and Prometheus read."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.mailsupport import plan, publish, subscribe
from tests.smtpsink import SmtpSink
from tests.support import Server


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = server.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_health_and_readiness_answer(server: Server) -> None:
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}


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
