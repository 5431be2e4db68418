"""The growth benchmark's fill writes what POST and the worker write (bench/fillcheck.py).

A bulk loader that drifted from the product would measure a newsroom that cannot exist;
this catches it, including a table the product starts filling that the loader ignores.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bulkload
import fillcheck

from tests.conftest import POSTGRES_URL

REDIS_URL = os.environ["BUDKAVLE_REDIS_URL"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_the_bulk_fill_equals_post_and_the_worker(db: str) -> None:
    assert fillcheck.check(db, 60, postgres_url=POSTGRES_URL, redis_url=REDIS_URL)


def test_a_table_the_loader_does_not_know_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As if archive slots were new: the real path writes them, the loader knows nothing.
    monkeypatch.setattr(bulkload, "FILLS", bulkload.FILLS - {"archive_slots"})
    monkeypatch.setattr(bulkload, "touched_by", lambda payload: [])
    assert not fillcheck.check("sqlite", 20, postgres_url=POSTGRES_URL, redis_url=REDIS_URL)
    assert "table archive_slots is filled by the real path" in capsys.readouterr().out


def test_a_row_the_loader_writes_differently_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the loader's own name: the real path must go on making the real slugs.
    real_slug = bulkload._tag_slug
    monkeypatch.setattr(bulkload, "_tag_slug", lambda label: real_slug(label) + "-x")
    assert not fillcheck.check("sqlite", 20, postgres_url=POSTGRES_URL, redis_url=REDIS_URL)
    out = capsys.readouterr().out
    assert re.search(r"bulk: tags: \d+ rows real", out) and "first difference" in out
    assert re.search(r"create: tags: \d+ rows equal", out)  # the other fill is still right
