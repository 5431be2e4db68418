"""Health for load balancers and orchestrators, and metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from newsroom import outbox
from newsroom.db import session_scope
from newsroom.models import Article, EmailDelivery, EmailStatus, Subscriber, utcnow
from web import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "A check failed; the body names it and why."}}
)
def readyz(response: Response) -> dict[str, str]:
    """Safe to send traffic here, and the work behind it is moving: see web/readiness.py."""
    checks = readiness.run()
    ready = all(value == "ok" for value in checks.values())
    response.status_code = 200 if ready else 503
    return {"status": "ok" if ready else "unavailable", **checks}


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class StateCollector(Collector):
    """Numbers read from the database at scrape time, shared by every process."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with session_scope() as session:
                pending, age = outbox.pending_stats(session, utcnow())
                by_status = session.execute(
                    select(Article.status, func.count()).group_by(Article.status)
                ).all()
                readers = session.execute(
                    select(Subscriber.status, func.count()).group_by(Subscriber.status)
                ).all()
                # Only the queued rows (an index range), never a count of every email sent.
                queued, oldest = session.execute(
                    select(func.count(), func.min(EmailDelivery.next_attempt_at)).where(
                        EmailDelivery.status == EmailStatus.QUEUED
                    )
                ).one()
        except Exception:  # a scrape during a database outage still answers
            return
        yield GaugeMetricFamily(
            "budkavle_outbox_pending_events", "Outbox events not yet handled", value=pending
        )
        yield GaugeMetricFamily(
            "budkavle_outbox_oldest_pending_seconds",
            "Age of the oldest unhandled outbox event",
            value=age,
        )
        articles = GaugeMetricFamily("budkavle_articles", "Articles by status", labels=["status"])
        for status, count in by_status:
            articles.add_metric([str(status)], count)
        yield articles
        subscribers = GaugeMetricFamily(
            "budkavle_subscribers", "Subscribers by status", labels=["status"]
        )
        for reader_status, count in readers:
            subscribers.add_metric([str(reader_status)], count)
        yield subscribers
        yield GaugeMetricFamily(
            "budkavle_emails_queued", "Digest emails planned and not yet sent", value=queued
        )
        yield GaugeMetricFamily(
            "budkavle_emails_oldest_queued_seconds",
            "How long the oldest queued digest email has been due (0: none, or not yet due)",
            value=max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0,
        )


_collector = StateCollector()


def register_collector() -> None:
    with suppress(ValueError):  # already registered by an earlier app in this process
        REGISTRY.register(_collector)
