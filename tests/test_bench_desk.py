"""The desk pages benchmark (bench/desk_pages.py) still runs, and still covers every page.

Its fill and its measurement at a tiny size, on both databases: the real uvicorn, the real
sign-in, every page in its table answering 200. A desk page added without a row in the
table fails here, so the benchmark cannot quietly stop measuring the desk.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.routing import APIRoute
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import desk_pages
import deskfill

from tests.conftest import POSTGRES_URL
from web import desk

REDIS_URL = os.environ["BUDKAVLE_REDIS_URL"]
TINY = deskfill.Spec(subscribers=200, articles=50, partners=6, deliveries=120, audit=130)


@pytest.fixture
def bench_postgres() -> Iterator[str]:
    """A database of its own beside the tests' one: the benchmark drops and makes it."""
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_desk_bench"
    yield url.set(database=name).render_as_string(hide_password=False)
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_the_desk_bench_fills_signs_in_and_times_every_page(
    db: str, bench_postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    results = desk_pages.run(
        db, TINY, requests=3, warmup=1, cache=None, postgres_url=bench_postgres,
        redis_url=REDIS_URL,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "200 subscribers, 50 articles" in out
    assert "130 audit entries" in out  # the sign-in adds one after the count
    measured = {r.name: r for r in results}
    assert {"baseline: /healthz", "baseline: style sheet"} <= set(measured)
    for page in desk_pages.PAGES:
        result = measured[page.name]
        if page.guarded and result.p50 is None:
            assert "404" in result.note
            continue
        assert result.p50 is not None and result.p99 is not None, page.name
        assert 0 < result.p50 <= result.p99
    # The busiest partner's page is that partner's: the fill gave it a third of the log.
    assert re.search(r"40 deliveries of the busiest partner", out)
    desk_pages.report(db, results)
    table = desk_pages.markdown({db: results})
    assert "| overview (`/desk`) |" in table


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def test_every_desk_page_has_a_row_in_the_bench() -> None:
    pages = {
        _shape(route.path)
        for router in desk.ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        # a redirect, the 404 page, and a download whose cost is its size, not a page's
        and route.path not in ("/desk/", "/desk/{rest:path}", "/desk/subscribers/export.csv")
    }
    assert "/desk/partners/{}" in pages
    benched = {_shape(page.path) for page in desk_pages.PAGES}
    assert pages - benched == set(), "add a line to PAGES in bench/desk_pages.py"
