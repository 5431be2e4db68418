"""Slugs for articles posted without one: the title's, then -2 ... -10, then a random
suffix; found by exact lookups in the unique index, never by a LIKE scan."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from newsroom import articles
from newsroom.db import get_engine, session_scope
from newsroom.schemas import ArticleIn
from tests.support import article

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
TITLE = "Snöovädret stänger E4 norr om Skellefteå"
BASE = "snoovadret-stanger-e4-norr-om-skelleftea"


def post(**fields: Any) -> str:
    with session_scope() as session:
        created, _ = articles.create(
            session, ArticleIn(**article(**({"title": TITLE} | fields))), NOW, timedelta(seconds=1)
        )
        return created.slug


@pytest.fixture
def statements(db: str) -> Iterator[list[str]]:
    """Every SQL statement sent while the test runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_numbers_then_a_random_suffix(statements: list[str]) -> None:
    slugs = [post() for _ in range(12)]
    assert slugs[:10] == [BASE] + [f"{BASE}-{n}" for n in range(2, 11)]
    for slug in slugs[10:]:
        assert re.fullmatch(rf"{BASE}-[a-z0-9]{{6}}", slug), slug
    assert len(set(slugs)) == 12
    assert not [sql for sql in statements if " LIKE " in sql.upper()], "no LIKE scan"


def test_the_first_free_number_is_taken(db: str) -> None:
    post(slug=f"{BASE}-2")
    post(slug=f"{BASE}-4")
    assert [post(), post(), post()] == [BASE, f"{BASE}-3", f"{BASE}-5"]


def test_an_older_article_with_a_longer_slug_is_no_collision(db: str) -> None:
    post(slug=f"{BASE}-i-dag")
    post(slug=f"{BASE}-2-timmar")
    assert [post(), post()] == [BASE, f"{BASE}-2"]


def test_a_long_title_leaves_room_for_its_suffix(db: str) -> None:
    title = "Kommunfullmäktige i Borlänge beslutar om " + "vinterväghållning och " * 8
    first, second = post(title=title), post(title=title)
    assert len(first) <= 120 and len(second) <= 120
    assert second.endswith("-2") and second[:-2] == first[: len(second) - 2].rstrip("-")


def test_a_given_slug_that_is_taken_is_refused(db: str) -> None:
    post(slug="e4-stangd")
    with pytest.raises(articles.SlugTaken):
        post(slug="e4-stangd")
