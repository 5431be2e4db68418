"""The tag cloud: log-scale steps, a stable top, alphabetical order, published articles only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsroom import articles
from newsroom.db import session_scope
from newsroom.schemas import ArticleIn
from newsroom.tagcloud import MIDDLE_STEP, CloudTag, tag_cloud, weigh
from tests.support import article

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
GRACE = timedelta(seconds=10)


def steps(cloud: list[CloudTag]) -> dict[str, int]:
    return {tag.slug: tag.step for tag in cloud}


@pytest.mark.parametrize(
    ("counts", "limit", "expected"),
    [
        pytest.param({}, 30, {}, id="no tags: no cloud"),
        pytest.param({("borlange", "Borlänge"): 0}, 30, {}, id="unused tags are left out"),
        pytest.param({("borlange", "Borlänge"): 7}, 30, {"borlange": MIDDLE_STEP},
                     id="one tag sits in the middle"),
        pytest.param(
            {("borlange", "Borlänge"): 4, ("tammerfors", "Tammerfors"): 4, ("umea", "Umeå"): 4},
            30, {"borlange": 3, "tammerfors": 3, "umea": 3}, id="equal counts, equal steps",
        ),
        pytest.param({("skola", "Skola"): 1, ("vard", "Vård"): 40}, 30,
                     {"skola": 1, "vard": 5}, id="least and most take the ends"),
        pytest.param(
            {("a", "A"): 1, ("b", "B"): 2, ("c", "C"): 4, ("d", "D"): 8, ("e", "E"): 16},
            30, {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, id="doubling climbs one step (log)",
        ),
        pytest.param(
            {("trafik", "Trafik"): 2, ("val", "Val"): 3, ("vader", "Väder"): 100},
            30, {"trafik": 1, "val": 1, "vader": 5}, id="a long tail stays small",
        ),
        pytest.param(
            {("oulu", "Oulu"): 5, ("aarhus", "Aarhus"): 2, ("bergen", "Bergen"): 2,
             ("kiruna", "Kiruna"): 2, ("tromso", "Tromsø"): 9},
            3, {"aarhus": 1, "oulu": 3, "tromso": 5}, id="the top by count, ties cut by slug",
        ),
        pytest.param({("oulu", "Oulu"): 5}, 0, {}, id="limit zero"),
    ],
)
def test_weigh(counts: dict[tuple[str, str], int], limit: int, expected: dict[str, int]) -> None:
    assert steps(weigh(counts, limit)) == expected


def test_weigh_orders_by_slug_and_keeps_labels_and_counts() -> None:
    cloud = weigh({("umea", "Umeå"): 3, ("angelholm", "Ängelholm"): 1, ("abo", "Åbo"): 9})
    assert cloud == [
        CloudTag("abo", "Åbo", 9, 5),
        CloudTag("angelholm", "Ängelholm", 1, 1),
        CloudTag("umea", "Umeå", 3, 3),
    ]


def test_weigh_is_the_same_whatever_the_input_order() -> None:
    items = [((f"tagg-{n}", f"Tagg {n}"), n % 7 + 1) for n in range(40)]
    assert weigh(dict(items), 10) == weigh(dict(reversed(items)), 10)
    assert len(weigh(dict(items), 10)) == 10


def publish(title: str, tags: list[str], *, days_ago: float, language: str = "sv",
            status: str = "published") -> str:
    data = ArticleIn.model_validate(
        article(title=title, tags=tags, language=language, status=status,
                published_at=(NOW - timedelta(days=days_ago)).isoformat())
    )
    with session_scope() as session:
        created, _ = articles.create(session, data, NOW, GRACE)
        return created.slug


def test_cloud_counts_recent_published_articles(db: str) -> None:
    publish("Borlänge lär av Tammerfors – vinterväghållning", ["Borlänge", "Tammerfors"],
            days_ago=1)
    publish("Snöröjningen i Borlänge får betyg", ["Borlänge", "Väghållning"], days_ago=3)
    publish("Borlänges nya busslinjer", ["Borlänge"], days_ago=12)
    publish("Tampere oppii Borlängeltä", ["Tampere", "Borlänge"], days_ago=2, language="fi")
    publish("Gammal nyhet om älgar", ["Älgar"], days_ago=45)               # too old
    publish("Utkast om hamnen i Luleå", ["Luleå hamn"], days_ago=1, status="draft")
    retracted = publish("Felaktig uppgift om skatten", ["Skatt"], days_ago=2)
    with session_scope() as session:
        articles.retract(session, retracted, NOW, GRACE)

    with session_scope() as session:
        cloud = tag_cloud(session, since=NOW - timedelta(days=30))
        swedish = tag_cloud(session, since=NOW - timedelta(days=30), language="sv")
        top_two = tag_cloud(session, since=NOW - timedelta(days=30), limit=2)
        last_week = tag_cloud(session, since=NOW - timedelta(days=7), until=NOW)

    assert [(tag.slug, tag.label, tag.count) for tag in cloud] == [
        ("borlange", "Borlänge", 4),
        ("tammerfors", "Tammerfors", 1),
        ("tampere", "Tampere", 1),
        ("vaghallning", "Väghållning", 1),
    ]
    assert steps(cloud) == {"borlange": 5, "tammerfors": 1, "tampere": 1, "vaghallning": 1}
    assert {tag.slug: tag.count for tag in swedish} == {
        "borlange": 3, "tammerfors": 1, "vaghallning": 1,
    }
    assert [(tag.slug, tag.count) for tag in top_two] == [("borlange", 4), ("tammerfors", 1)]
    assert {tag.slug: tag.count for tag in last_week} == {
        "borlange": 3, "tammerfors": 1, "tampere": 1, "vaghallning": 1,
    }


def test_cloud_of_a_quiet_month_is_empty(db: str) -> None:
    publish("Gammal nyhet om älgar", ["Älgar"], days_ago=45)
    with session_scope() as session:
        assert tag_cloud(session, since=NOW - timedelta(days=30)) == []
