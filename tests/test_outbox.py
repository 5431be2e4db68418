"""Nothing lost, nothing doubled: lost bells, flushed queues, failures and races."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import feedparser
import pytest
import redis
from sqlalchemy import func, insert, select

from config import get_settings
from feeds import store
from newsroom import articles, outbox
from newsroom.db import session_scope
from newsroom.models import Article, EventKind, FeedDocumentRow, OutboxEvent, Tag, utcnow
from newsroom.schemas import ArticleIn
from tests.support import ADMIN, Server, article, wait_for
from worker import events


def pending_events() -> list[OutboxEvent]:
    with session_scope() as session:
        return list(session.scalars(select(OutboxEvent).where(OutboxEvent.handled_at.is_(None))))


def served_titles(server: Server) -> list[str]:
    response = server.client.get("/feeds/all.atom")
    if response.status_code != 200:
        return []
    return [entry.title for entry in feedparser.parse(response.content).entries]


def test_a_lost_task_reaches_the_feeds_through_the_sweeper(server: Server) -> None:
    # Published while no worker runs; then the broker loses its queue.
    created = server.client.post("/api/articles", json=article(), headers=ADMIN)
    assert created.status_code == 201
    assert len(pending_events()) == 1
    redis.Redis.from_url(get_settings().redis_client_url).flushdb()

    from celery.contrib.testing.worker import start_worker

    from worker.app import app
    from worker.tasks import sweep_outbox

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        time.sleep(0.3)
        assert served_titles(server) == [], "the bell was lost: nothing happens on its own"
        # Beat runs this every few seconds; the event is due after the grace period.
        wait_for(lambda: sweep_outbox() == 1, timeout=10, interval=0.2, what="event due")
        wait_for(lambda: served_titles(server) == [article()["title"]], what="the feed")
        # The "all" feed comes first; the event is done after its second step.
        wait_for(lambda: pending_events() == [], what="the event to be done")


def test_an_event_handled_twice_changes_nothing_the_second_time(db: str) -> None:
    event_id = _publish(article())
    announced: list[list[str]] = []
    events.handle(event_id, get_settings(), announced.append)
    with session_scope() as session:
        first = store.get(session, "all.atom")
        # A second run, as after a redelivery: the event is done, so it returns at once.
        event = session.get(OutboxEvent, event_id)
        assert event is not None
        event.handled_at = event.started_at = None
    events.handle(event_id, get_settings(), announced.append)
    with session_scope() as session:
        second = store.get(session, "all.atom")
    assert first is not None and second is not None
    assert (second.body, second.etag, second.last_modified) == (
        first.body, first.etag, first.last_modified,
    )  # fmt: skip
    assert announced[len(announced) // 2 :] == [[], [], [], []], "second run: no changes"


def stored_at(path: str) -> float | None:
    with session_scope() as session:
        row = session.get(FeedDocumentRow, path)
        return row.stored_at.timestamp() if row is not None else None


def test_the_first_step_builds_all_and_the_second_the_rest(db: str) -> None:
    event_id = _publish(article())
    tag_feeds = ["tags/borlange.atom", "tags/nordiskt-samarbete.atom", "lang/sv.atom"]

    assert events.start(event_id, get_settings(), lambda _: None) is True
    assert stored_at("all.atom") is not None
    assert [stored_at(path) for path in tag_feeds] == [None, None, None]
    assert [e.id for e in pending_events()] == [event_id], "not handled before step two"

    events.finish(event_id, get_settings(), lambda _: None)
    assert None not in [stored_at(path) for path in tag_feeds]
    assert pending_events() == []
    assert events.start(event_id, get_settings(), lambda _: None) is False, "done: no step two"


def test_a_newer_first_step_goes_ahead_of_an_older_second_step(db: str) -> None:
    """The second step waits at the lowest priority in the real Redis, behind the bell of
    a newer publish, however long it has been waiting."""
    from celery.contrib.testing.worker import start_worker

    from worker import bell
    from worker.app import app

    older = _publish(article(tags=["Falun"]))
    events.start(older, get_settings(), lambda _: None)
    bell.ring_finish_event(older)
    newer = _publish(article(title="Snöstorm väntas över Uleåborg", slug="snostorm", tags=[]))
    bell.ring_events([newer])

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        wait_for(lambda: pending_events() == [], timeout=20, interval=0.1, what="both handled")
    newer_in_all, older_in_falun = stored_at("all.atom"), stored_at("tags/falun.atom")
    assert newer_in_all is not None and older_in_falun is not None
    assert newer_in_all < older_in_falun


def test_a_failing_event_is_recorded_and_backs_off(db: str) -> None:
    event_id = _publish(article())
    now = utcnow()
    with session_scope() as session:
        outbox.record_failure(session, event_id, "OperationalError: database gone", now)
    with session_scope() as session:
        event = session.get(OutboxEvent, event_id)
        assert event is not None
        assert (event.attempts, event.last_error) == (1, "OperationalError: database gone")
        assert outbox.due(session, now) == [], "not due before its backoff"
        assert outbox.due(session, now + outbox.backoff(1)) == [event_id]
        # Ringing pushes the next ring back: a slow worker is not flooded with one id.
        assert outbox.due(session, now + outbox.backoff(1)) == []


@pytest.mark.parametrize("workers", [4])
def test_concurrent_refreshes_never_lose_an_article(db: str, workers: int) -> None:
    """Events handled at once by several workers: the newest bytes always win."""
    titles = [f"Nyhet nummer {n}: snö i Umeå och Tammerfors" for n in range(16)]
    event_ids = [_publish(article(title=title, tags=["Umeå"])) for title in titles]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda e: events.handle(e, get_settings(), lambda _: None), event_ids))
    with session_scope() as session:
        for path in ("all.atom", "tags/umea.rss", "lang/sv.atom"):
            stored = store.get(session, path)
            assert stored is not None
            served = {entry.title for entry in feedparser.parse(stored.body).entries}
            assert served == set(titles), path
    assert pending_events() == []


def test_publishes_making_the_same_new_tags_at_once_all_go_through(db: str) -> None:
    """Editors tagging in different orders, at the same moment, with tags nobody used yet:
    on PostgreSQL each could wait for a tag the other had just made (a deadlock, a 500),
    unless every publish makes its tags in one order."""
    places = ["Åre", "Öland", "Umeå", "Tromsø", "Uleåborg", "Ærø", "Vänersborg", "Hällefors"]

    def publish(editor: int, round_: int) -> None:
        labels = [f"{place} {round_}" for place in places]
        order = labels[editor:] + labels[:editor] if editor % 2 else labels[::-1]
        title = f"Redaktör {editor} om snön, runda {round_}"
        data = ArticleIn.model_validate(article(title=title, slug=f"r{round_}-e{editor}",
                                                tags=order))  # fmt: skip
        with session_scope() as session:
            articles.create(session, data, utcnow(), timedelta(seconds=1))

    for round_ in range(6):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(publish, range(4), [round_] * 4))
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 24
        assert session.scalar(select(func.count()).select_from(Tag)) == 6 * len(places)


def test_concurrent_updates_take_turns(db: str) -> None:
    """Two editors saving at once: two versions, each built on the one before."""
    _publish(article())
    slug = "personliga-moten-starker-det-nordiska-samarbetet"

    def save(n: int) -> None:
        data = ArticleIn.model_validate(article(summary=f"Version från redaktör {n}."))
        with session_scope() as session:
            articles.update(session, slug, data, utcnow(), timedelta(seconds=1))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(save, [1, 2]))
    with session_scope() as session:
        versions = sorted(e.version for e in session.scalars(select(OutboxEvent)))
    assert versions == [1, 2, 3]


def _publish(payload: dict[str, object]) -> int:
    data = ArticleIn.model_validate(payload)
    with session_scope() as session:
        _, event = articles.create(session, data, utcnow(), timedelta(seconds=1))
        assert event is not None
        return event.id


# --- a backlog of any size drains instead of feeding itself ------------------------------


def test_a_re_rung_event_whose_first_step_is_done_finishes_at_once(db: str) -> None:
    """Its second step waited behind first steps until the sweeper rang again: that bell
    runs the second step itself, so no backlog of first steps can starve it."""
    event_id = _publish(article(tags=["Falun"]))
    assert events.start(event_id, get_settings(), lambda _: None) is True, "step two owed"
    assert stored_at("tags/falun.atom") is None
    # The sweeper's bell (dispatch_event) for the same event:
    assert events.start(event_id, get_settings(), lambda _: None) is False, "nothing owed"
    assert pending_events() == []
    assert stored_at("tags/falun.atom") is not None


def test_ten_thousand_due_events_ring_no_more_than_the_queue_holds(db: str) -> None:
    from worker import bell
    from worker.tasks import sweep_outbox

    published = _publish(article())
    now = utcnow()
    with session_scope() as session:
        event = session.get(OutboxEvent, published)
        assert event is not None
        event.next_ring_at, article_id = now, event.article_id  # due too
        backlog = {
            "kind": EventKind.PUBLISHED, "article_id": article_id, "version": 1,
            "payload": {}, "created_at": now - timedelta(minutes=1), "next_ring_at": now,
        }  # fmt: skip
        session.execute(insert(OutboxEvent), [backlog] * 10_000)
    broker = redis.Redis.from_url(get_settings().redis_client_url)

    first = sweep_outbox()
    assert first == bell.HIGH_WATER, "one sweep rings at most what the queue may hold"
    assert sweep_outbox() == 0, "the workers are behind: no bell is added"
    broker.flushdb()  # as if the workers had served every bell
    assert sweep_outbox() == bell.HIGH_WATER, "then the next ones, not the same again"
    with session_scope() as session:
        rung = session.scalars(
            select(OutboxEvent.next_ring_at).where(OutboxEvent.next_ring_at > now)
        ).all()
        again = session.get(OutboxEvent, published)
        assert again is not None
    assert len(rung) == 2 * bell.HIGH_WATER
    # Each waits about its age before ringing again (a minute for the backlog), not one
    # sweep's interval; a young event waits the first retry's 10 s.
    assert sorted(rung)[1] >= now + timedelta(seconds=59)
    assert again.next_ring_at == min(rung) >= now + outbox.FIRST_RETRY
