"""The partner figures the desk shows, and that reading them does not walk the whole log.

The delivery log keeps 90 days of every partner's deliveries (100,000 rows for 50
partners in bench/desk_pages.py): the overview, the partners page and a partner's page
must read what they show by index, not aggregate or skip past every delivered row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.orm import Session

from newsroom import articles, partnerhealth, partners
from newsroom.db import get_engine, read_scope, session_scope
from newsroom.models import (
    DeliveryAttempt,
    DeliveryStatus,
    OutboxEvent,
    Partner,
    PartnerDelivery,
    PartnerState,
    utcnow,
)
from newsroom.schemas import ArticleIn
from tests.support import article

NOW = utcnow().replace(microsecond=0)
HOUR = timedelta(hours=1)


def _events(session: Session, count: int) -> list[int]:
    """``count`` events of one article: deliveries need events, not distinct articles."""
    made, _ = articles.create(session, ArticleIn.model_validate(article()), NOW, HOUR)
    session.flush()
    rows = [{"kind": "article.published", "article_id": made.id, "version": 1, "payload": {},
             "position": 1000 + n, "created_at": NOW - HOUR * (count - n)}
            for n in range(count)]  # fmt: skip
    session.execute(insert(OutboxEvent), rows)
    return list(
        session.scalars(
            select(OutboxEvent.id).where(OutboxEvent.position >= 1000).order_by(OutboxEvent.id)
        )
    )


def _partner(session: Session, name: str, **values: Any) -> Partner:
    partner = Partner(name=name, webhook_url=f"https://{name.lower()}.example/hook", **values)
    session.add(partner)
    session.flush()
    return partner


def _delivery(
    session: Session, partner: Partner, event_id: int, status: DeliveryStatus, **values: Any
) -> PartnerDelivery:
    delivery = PartnerDelivery(
        partner_id=partner.id, event_id=event_id, article_id=0, status=status,
        webhook_id=f"msg_{partner.id}_{event_id}", **values,
    )  # fmt: skip
    session.add(delivery)
    session.flush()
    return delivery


def _attempts(session: Session, delivery: PartnerDelivery, *hours_ago: float) -> None:
    for hours in hours_ago:
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=NOW - HOUR * hours,
                                    status_code=503, error="Service Unavailable"))  # fmt: skip


def test_each_partner_s_figures(db: str) -> None:
    with session_scope() as session:
        events = _events(session, 12)
        steady = _partner(session, "Umeå")
        for n, event_id in enumerate(events[:6]):
            _delivery(session, steady, event_id, DeliveryStatus.DELIVERED,
                      delivered_at=NOW - HOUR * (20 - n))  # fmt: skip
        # The oldest delivery, replayed and delivered last: the last success is by time.
        replayed = session.scalars(
            select(PartnerDelivery).where(PartnerDelivery.partner_id == steady.id)
            .order_by(PartnerDelivery.id).limit(1)
        ).one()  # fmt: skip
        replayed.delivered_at = NOW - HOUR
        failing = _partner(session, "Borlänge", failing_since=NOW - HOUR * 5)
        _delivery(session, failing, events[0], DeliveryStatus.DELIVERED,
                  delivered_at=NOW - HOUR * 30)  # fmt: skip
        given_up = _delivery(session, failing, events[1], DeliveryStatus.FAILED)
        _attempts(session, given_up, 29, 28, 27)  # an earlier run of failures: not in a row
        first = _delivery(session, failing, events[2], DeliveryStatus.PENDING,
                          next_attempt_at=NOW + HOUR * 2)  # fmt: skip
        _attempts(session, first, 6, 5, 3, 1)  # the one at 6 h was before this run began
        second = _delivery(session, failing, events[3], DeliveryStatus.PENDING,
                           next_attempt_at=NOW + HOUR)  # fmt: skip
        _attempts(session, second, 2, 0.5)
        _partner(session, "Åre", state=PartnerState.DISABLED, disabled_at=NOW)
    with read_scope() as session:
        found = {row.partner.name: row for row in partnerhealth.health(session)}
        one = partnerhealth.health(session, failing.id)
    assert list(found) == ["Borlänge", "Umeå", "Åre"]
    assert [row.partner.name for row in one] == ["Borlänge"]
    umea, borlange, are = found["Umeå"], found["Borlänge"], found["Åre"]
    assert (umea.last_success, umea.failures_in_a_row, umea.next_attempt) == (NOW - HOUR, 0, None)
    assert (umea.pending, umea.failed, umea.needs_attention) == (0, 0, False)
    assert borlange.last_success == NOW - HOUR * 30
    assert borlange.failures_in_a_row == 5  # 3 + 1 and 0.5 h ago, not 6 h nor 27-29 h
    assert borlange.next_attempt == NOW + HOUR
    assert (borlange.pending, borlange.failed, borlange.needs_attention) == (2, 1, True)
    assert (are.last_success, are.failures_in_a_row, are.pending, are.failed) == (None, 0, 0, 0)
    assert are.needs_attention


def test_a_partner_s_log_is_its_newest_deliveries(db: str) -> None:
    with session_scope() as session:
        events = _events(session, 80)
        one, other = _partner(session, "Umeå"), _partner(session, "Gävle")
        for event_id in events:  # interleaved: the log must not take the other's rows
            _delivery(session, one, event_id, DeliveryStatus.DELIVERED, delivered_at=NOW)
            _delivery(session, other, event_id, DeliveryStatus.DELIVERED, delivered_at=NOW)
    with read_scope() as session:
        log = partners.log(session, partners.find(session, one.id), 50)
        ids = [delivery.id for delivery, _ in log]
        mine = session.scalars(
            select(PartnerDelivery.id).where(PartnerDelivery.partner_id == one.id)
            .order_by(PartnerDelivery.id.desc()).limit(50)
        ).all()  # fmt: skip
    assert ids == list(mine) and len(ids) == 50


@contextmanager
def _statements() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "partner_deliveries" in statement:
            seen.append((statement, parameters))

    # On every engine: on SQLite, read_scope reads through an engine of its own.
    event.listen(Engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", grab)


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows PostgreSQL's plan read from partner_deliveries, over all loops."""
    here = 0
    if plan.get("Relation Name") == "partner_deliveries":
        here = plan["Actual Rows"] * plan["Actual Loops"] + plan.get("Rows Removed by Filter", 0)
    return here + sum(_rows_read(child) for child in plan.get("Plans", []))


DELIVERED = 2400


def test_the_figures_and_the_log_read_by_index_not_the_whole_log(db: str) -> None:
    # 20 partners with 120 delivered deliveries each, and a few still owed.
    with session_scope() as session:
        events = _events(session, DELIVERED // 20)
        made = [_partner(session, f"Kommun {n}") for n in range(20)]
        rows = [{"partner_id": partner.id, "event_id": event_id, "article_id": 0,
                 "status": "delivered", "webhook_id": f"msg_{partner.id}_{event_id}",
                 "delivered_at": NOW - HOUR * n, "attempts": 1}
                for partner in made for n, event_id in enumerate(events)]  # fmt: skip
        session.execute(insert(PartnerDelivery), rows)
        made[0].failing_since = NOW - HOUR * 3
        newest = (
            select(PartnerDelivery)
            .where(PartnerDelivery.partner_id == made[0].id)
            .order_by(PartnerDelivery.id.desc())
            .limit(3)
        )
        owed = session.scalars(newest).all()
        for delivery in owed:
            delivery.status = DeliveryStatus.PENDING
            _attempts(session, delivery, 2, 1)
    with get_engine().begin() as connection:
        connection.execute(text("ANALYZE"))
    with _statements() as seen, read_scope() as session:
        rows_shown = partnerhealth.health(session)
        partners.log(session, partners.find(session, made[0].id), 50)
    assert rows_shown[0].failures_in_a_row == 6 and rows_shown[0].pending == 3
    assert seen, "no statement read partner_deliveries"
    with get_engine().connect() as connection:
        for statement, parameters in seen:
            if db == "postgresql":
                answer = connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
                ).scalar_one()
                plan = (answer if isinstance(answer, list) else json.loads(answer))[0]["Plan"]
                # A few rows per partner, the log's 50, the deliveries still owed: not 2,400.
                assert _rows_read(plan) <= 100, (statement, json.dumps(plan, indent=1))
            else:
                plan_rows = connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                ).all()
                for row in plan_rows:
                    detail = row[-1]
                    if "partner_deliveries" not in detail:
                        continue
                    # SQLite reads by these: one partner's newest, its last success, and the
                    # deliveries still owed or given up, by status.
                    assert any(index in detail for index in (
                        "ix_partner_deliveries_log", "ix_partner_deliveries_delivered",
                        "ix_partner_deliveries_due", "INTEGER PRIMARY KEY",
                    )), (statement, [r[-1] for r in plan_rows])  # fmt: skip
