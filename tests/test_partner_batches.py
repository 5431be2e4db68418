"""Partners at scale: planning in a few statements, batches sent side by side, pooled
connections (TLS too) that go to the address the guard checked."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from newsroom import partners
from newsroom.db import get_engine, session_scope
from newsroom.models import DeliveryStatus, OutboxEvent, Partner, PartnerDelivery, utcnow
from tests.support import Server
from tests.test_partners import publish, register

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


