"""Planning a digest for many groups: each subscriber gets exactly the articles new to
them, however many (language, tags, since) groups there are; planning stopped midway is
finished by the sweeper with the same deliveries; and on SQLite a publish commits while
a big edition is being planned (the write lock is let go between its transactions).

The expected articles are worked out here from the outbox itself, as digests used to
ask it: an article is new at the position of its first "published" event.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from config import get_settings
from newsroom import articles, editions, outbox, selection
from newsroom.db import session_scope
from newsroom.models import (
    Article,
    ArticleStatus,
    Edition,
    EditionSegment,
    EmailDelivery,
    EventKind,
    Frequency,
    OutboxEvent,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsroom.schemas import ArticleIn
from tests.mailsupport import GRACE, publish
from tests.smtpsink import SmtpSink
from tests.support import article
from worker import digest

COMMON = ["Borlänge", "Nordiskt samarbete", "Helsingfors", "Umeå"]
RARE = ["Tromsø", "Reykjavík", "Åland", "Kiruna"]
LANGUAGES = ["sv", "sv", "fi", "nb"]
MAX_ARTICLES = 5


def _newsroom(rng: random.Random, count: int) -> list[int]:
    """Articles in three languages, mostly common tags and a long tail of rare ones;
    returns the outbox position after each publish (the join times to choose from)."""
    positions = []
    for number in range(count):
        tags = rng.sample(COMMON, rng.randint(0, 2))
        if rng.random() < 0.15:
            tags.append(rng.choice(RARE))
        publish(
            title=f"Nyhet nummer {number} från Norden – {rng.choice(COMMON + RARE)}",
            language=rng.choice(LANGUAGES),
            tags=tags,
        )
        with session_scope() as session:
            positions.append(outbox.last_position(session))
    return positions


def _change_some(rng: random.Random) -> None:
    """Retract a few, take one back to draft and publish it again (not news twice)."""
    with session_scope() as session:
        slugs = list(session.scalars(select(Article.slug).order_by(Article.id)))
    retracted = rng.sample(slugs, 4)
    for slug in retracted:
        with session_scope() as session:
            _, event = articles.retract(session, slug, utcnow(), GRACE)
            assert event is not None
            outbox.assign_position(session, event.id)
    again = rng.choice([slug for slug in slugs if slug not in retracted])
    with session_scope() as session:
        current = articles.get(session, again)
        for status in ("draft", "published"):
            data = ArticleIn.model_validate(
                article(title=current.title, language=current.language,
                        tags=current.tag_slugs, status=status)
            )  # fmt: skip
            _, event = articles.update(session, again, data, utcnow(), GRACE)
            assert event is not None
            outbox.assign_position(session, event.id)


def _subscribers(rng: random.Random, count: int, joins: list[int]) -> None:
    """Bulk: many join times, languages and tag choices, so many groups."""
    now = utcnow()
    slugs = ["borlange", "nordiskt-samarbete", "helsingfors", "umea",
             "tromso", "reykjavik", "aland", "kiruna"]  # fmt: skip
    rows = []
    for number in range(count):
        tags = rng.sample(slugs, rng.choice([0, 0, 1, 1, 2]))
        rows.append(
            {
                "email": f"lasare{number:05d}@example.se",
                "status": SubscriberStatus.ACTIVE,
                "language": rng.choice(LANGUAGES),
                "frequency": Frequency.DAILY,
                "tags": tags,
                "time_zone": "Europe/Stockholm",
                "consent_at": now,
                "consent_form": "test",
                "digest_position": rng.choice([0, *joins]),
                "failures": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    with session_scope() as session:
        session.execute(insert(Subscriber), rows)


def _expected(to_position: int) -> dict[int, tuple[int, ...]]:
    """What each behind subscriber should get, from the outbox events as digests used to
    read them; a subscriber with nothing new is left out."""
    with session_scope() as session:
        first: dict[int, int] = {}
        for article_id, position in session.execute(
            select(OutboxEvent.article_id, OutboxEvent.position).where(
                OutboxEvent.kind == EventKind.PUBLISHED, OutboxEvent.position.is_not(None)
            )
        ):
            assert position is not None
            first[article_id] = min(position, first.get(article_id, position))
        published = select(Article).where(Article.status == ArticleStatus.PUBLISHED)
        live = {a.id: (a.language, set(a.tag_slugs)) for a in session.scalars(published)}
        subscribers = session.execute(
            select(Subscriber.id, Subscriber.language, Subscriber.tags, Subscriber.digest_position)
        ).all()
    expected = {}
    newest_first = sorted(first, key=lambda article_id: -first[article_id])
    for subscriber_id, language, tags, since in subscribers:
        chosen = tuple(
            article_id
            for article_id in newest_first
            if article_id in live
            and since < first[article_id] <= to_position
            and live[article_id][0] == language
            and (not tags or live[article_id][1] & set(tags))
        )[:MAX_ARTICLES]
        if chosen:
            expected[subscriber_id] = chosen
    return expected


def _delivered(edition_id: int) -> dict[int, tuple[int, ...]]:
    with session_scope() as session:
        rows = session.execute(
            select(EmailDelivery.subscriber_id, EditionSegment.article_ids)
            .join(EditionSegment, EditionSegment.id == EmailDelivery.segment_id)
            .where(EmailDelivery.edition_id == edition_id)
        ).all()
    delivered: dict[int, tuple[int, ...]] = {}
    for subscriber_id, article_ids in rows:
        assert subscriber_id not in delivered, f"subscriber {subscriber_id} twice"
        delivered[subscriber_id] = tuple(article_ids)
    return delivered


@pytest.fixture
def planning(mail: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BUDKAVLE_DIGEST_MAX_ARTICLES", str(MAX_ARTICLES))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("page", "pages"),
    [
        pytest.param(1000, 3, id="one-pass"),
        # Small pages: audiences of rare tags are still open after two, and are found by tag.
        pytest.param(4, 2, id="rare-tags-by-tag"),
    ],
)
def test_many_groups_and_join_times_lose_and_double_nothing(
    planning: None, monkeypatch: pytest.MonkeyPatch, page: int, pages: int
) -> None:
    monkeypatch.setattr(selection, "_PAGE", page)
    monkeypatch.setattr(selection, "_PAGES_BEFORE_BY_TAG", pages)
    by_tag = selection._choose_by_tag
    asked: list[str] = []

    def counted(session: object, language: str, *args: object) -> None:
        asked.append(language)
        by_tag(session, language, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(selection, "_choose_by_tag", counted)
    rng = random.Random(11)
    joins = _newsroom(rng, 60)
    _change_some(rng)
    _subscribers(rng, 400, joins)
    with session_scope() as session:
        to_position = outbox.last_position(session)
        groups = session.execute(
            select(Subscriber.language, Subscriber.tags, Subscriber.digest_position)
        ).all()
    assert len({(lang, tuple(sorted(tags)), since) for lang, tags, since in groups}) > 150
    expected = _expected(to_position)

    batches = digest.plan_edition(
        editions.manual_slot(Frequency.DAILY, utcnow()), get_settings(), utcnow()
    )

    [edition_id] = {edition_id for edition_id, _ in batches}
    assert _delivered(edition_id) == expected
    with session_scope() as session:
        behind = session.scalar(
            select(func.count()).where(Subscriber.digest_position != to_position)
        )
        edition = session.get(Edition, edition_id)
        assert edition is not None
        assert (edition.recipients, edition.plan_done_at is not None) == (len(expected), True)
    assert behind == 0, "everyone moved on, those with nothing new too"
    assert bool(asked) == (page < 1000), "rare tags asked by tag only when the pages ran out"
    assert len(batches) == -(-len(expected) // get_settings().digest_batch_size)


def test_new_articles_matches_what_the_outbox_says(planning: None) -> None:
    rng = random.Random(5)
    joins = _newsroom(rng, 30)
    _change_some(rng)
    _subscribers(rng, 50, joins)
    with session_scope() as session:
        to_position = outbox.last_position(session)
        subscribers = session.execute(
            select(Subscriber.id, Subscriber.language, Subscriber.tags, Subscriber.digest_position)
        ).all()
        found = {
            subscriber_id: selection.new_articles(
                session, language=language, tags=tags, after=since, upto=to_position,
                limit=MAX_ARTICLES,
            )
            for subscriber_id, language, tags, since in subscribers
        }  # fmt: skip
    assert {key: value for key, value in found.items() if value} == _expected(to_position)


class Crash(Exception):
    pass


def test_planning_stopped_midway_is_finished_by_the_sweep_with_the_same_deliveries(
    planning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(23)
    joins = _newsroom(rng, 40)
    _subscribers(rng, 300, joins)
    with session_scope() as session:
        to_position = outbox.last_position(session)
    expected = _expected(to_position)
    monkeypatch.setattr(digest, "_CHUNK", 20)  # 10 per send batch (mail): two per chunk
    real = digest._record
    calls = 0

    def dies_on_the_third(edition_id: int, rows: list[digest.Row], settings: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Crash("the worker was killed")
        real(edition_id, rows, get_settings())

    monkeypatch.setattr(digest, "_record", dies_on_the_third)
    now = utcnow()
    with pytest.raises(Crash):
        digest.plan_edition(editions.manual_slot(Frequency.DAILY, now), get_settings(), now)
    monkeypatch.setattr(digest, "_record", real)
    with session_scope() as session:
        [edition] = session.scalars(select(Edition)).all()
        assert edition.plan_done_at is None
        assert edition.recipients == 40, "two chunks of 20 committed before the crash"
        assert editions.finish(session, utcnow()) == [], "not finished while still planning"
        lease = timedelta(seconds=get_settings().digest_lease_seconds)
        assert editions.stalled_plans(session, utcnow(), lease) == [], "its lease is not up"

    # The next sweep after the lease ran out, at 04:00 in Stockholm: no daily edition is
    # due then, so all it plans is the rest of this one.
    later = (utcnow() + timedelta(days=1)).replace(hour=3)
    batches = digest.plan_due(get_settings(), later)

    assert _delivered(edition.id) == expected
    assert sorted(batches) == [(edition.id, batch) for batch in range(-(-len(expected) // 10))]
    assert digest.plan_due(get_settings(), later + timedelta(hours=1)) == [], "done: once"
    with session_scope() as session:
        segments = session.execute(
            select(EditionSegment.language, EditionSegment.article_ids)
        ).all()
    assert len(segments) == len({(lang, tuple(ids)) for lang, ids in segments}), (
        "the resumed plan reuses the segments stored before the crash"
    )


def test_a_publish_commits_while_a_big_edition_is_planned(
    planning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real second writer: on SQLite it needs the one write lock, which the planner
    must let go between its transactions. It used to wait for the whole plan."""
    rng = random.Random(3)
    joins = _newsroom(rng, 10)
    _subscribers(rng, 6000, joins)
    published = threading.Event()
    real = digest._record
    chunks = 0

    def waits_after_the_first(edition_id: int, rows: list[digest.Row], settings: object) -> None:
        nonlocal chunks
        real(edition_id, rows, get_settings())
        chunks += 1
        if chunks == 1:  # the first transaction committed; the plan is mid-way
            assert published.wait(timeout=20), "the publish never committed mid-plan"

    monkeypatch.setattr(digest, "_record", waits_after_the_first)
    planner = threading.Thread(
        target=digest.plan_edition,
        args=(editions.manual_slot(Frequency.DAILY, utcnow()), get_settings(), utcnow()),
    )
    planner.start()
    try:
        while not chunks:
            planner.join(timeout=0.01)
            assert planner.is_alive() or chunks, "planning ended before its first chunk"
        article_id = publish(title="Kiruna flyttar kyrkan – sista etappen", tags=["Kiruna"])
        published.set()
    finally:
        published.set()
        planner.join(timeout=60)
    assert chunks > 1
    with session_scope() as session:
        [edition] = session.scalars(select(Edition)).all()
        position = session.scalar(select(Article.first_position).where(Article.id == article_id))
        segments = session.scalars(select(EditionSegment.article_ids)).all()
    assert edition.plan_done_at is not None
    assert position is not None and position > edition.to_position, "the next edition's news"
    assert all(article_id not in ids for ids in segments)


def test_segments_read_together_render_as_each_read_alone(planning: None) -> None:
    """The articles, latest news and tag cloud are read once for all segments; each
    segment's bytes are what reading them for that segment alone gives."""
    rng = random.Random(8)
    joins = _newsroom(rng, 40)
    _subscribers(rng, 120, joins)
    now = utcnow()
    digest.plan_edition(editions.manual_slot(Frequency.DAILY, now), get_settings(), now)
    settings = get_settings()
    with session_scope() as session:
        rows = session.scalars(select(EditionSegment)).all()
        assert len(rows) > 10
        for row in rows:
            alone = digest.render_segment(
                session, row.id, editions.Segment(row.language, tuple(row.article_ids)),
                settings, settings.time_zone, row.created_at,
            )  # fmt: skip
            assert (row.subject, row.html, row.text) == (alone.subject, alone.html, alone.text)


@pytest.mark.parametrize(
    ("key", "zone"),
    [
        pytest.param("daily:Europe/Helsinki:2026-11-26", "Europe/Helsinki", id="daily"),
        pytest.param("weekly:UTC:2026-W48", "UTC", id="weekly-zone-without-slash"),
        pytest.param("daily:manual:2026-12-05T07:29:51.1+00:00", None, id="manual"),
        pytest.param("immediate:3-9", None, id="immediate"),
    ],
)
def test_a_resumed_edition_is_for_the_time_zone_it_was_planned_for(
    key: str, zone: str | None
) -> None:
    edition = Edition(key=key, frequency=Frequency.DAILY, to_position=9)
    assert editions.slot_of(edition) == editions.Slot(key, Frequency.DAILY, zone)
