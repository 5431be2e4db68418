"""A real feed reader: Debian's newsboat fetches our feeds over HTTP and keeps the Swedish
titles exactly as the editor wrote them (å ä ö, the dash of a quote, curly quotes, &).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import feedparser
import pytest

from tests.support import ADMIN, Server, article, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("celery_worker")]

NEWSBOAT = Path("/usr/bin/newsboat")
TITLES = [
    "– Vi måste våga",
    "Översvämningar i Umeå: så förbereder sig kommunen",
    "Jokkmokks marknad & Sápmi: ”Vi får inte glömmas bort”",
]
AUTHOR = "Åsa Lindqvist"
CONFIG = """\
# Only what a single fetch needs; no keys, no colours, no browser.
reload-threads 1
download-timeout 20
download-retries 1
"""


def served(server: Server, feed: str) -> dict[str, str] | None:
    """Entry id -> title as feedparser reads the document, once it lists every title."""
    parsed = feedparser.parse(server.client.get(f"/feeds/{feed}").content)
    entries = {entry.id: entry.title for entry in parsed.entries}
    return entries if sorted(entries.values()) == sorted(TITLES) else None


@pytest.mark.parametrize("feed", ["all.rss", "all.atom"])
def test_newsboat_keeps_swedish_titles(server: Server, tmp_path: Path, feed: str) -> None:
    if not NEWSBOAT.exists():
        pytest.fail(f"{NEWSBOAT} is missing: install it with `apt-get install newsboat`")
    for title in TITLES:
        body = article(title=title, tags=["Norrbotten"], authors=[AUTHOR])
        created = server.client.post("/api/articles", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
    entries = wait_for(lambda: served(server, feed), what=f"{feed} to list every title")

    # One cache per feed: newsboat keys items by guid across all its feeds, and our guid
    # is the article's urn:uuid in every format, as it should be.
    home = tmp_path / "home"
    home.mkdir()
    urls = tmp_path / "urls"
    url = f"{server.base_url}/feeds/{feed}"
    urls.write_text(url + "\n")
    config = tmp_path / "config"
    config.write_text(CONFIG)
    cache = tmp_path / "cache.db"
    log = tmp_path / "newsboat.log"
    environment = {
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "dumb",
        # No proxy variables: the server is on loopback.
    }
    command = [
        str(NEWSBOAT), "-x", "reload", "-u", str(urls), "-c", str(cache), "-C", str(config),
        "-l", "5", "-d", str(log),  # level 5: info, which names every item it adds
    ]  # fmt: skip
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=90, check=False
    )
    report = f"{done.stdout}\n{done.stderr}\n{log.read_text(errors='replace')[-4000:]}"
    assert done.returncode == 0, f"newsboat failed:\n{report}"

    with sqlite3.connect(cache) as db:
        items = db.execute("SELECT guid, title, author, feedurl FROM rss_item").fetchall()
        feeds = db.execute("SELECT rssurl, title FROM rss_feed").fetchall()
    assert feeds == [(url, "Budkavle")], report
    assert {guid: title for guid, title, _, _ in items} == entries, report
    assert sorted(title for _, title, _, _ in items) == sorted(TITLES)
    assert {(author, feedurl) for _, _, author, feedurl in items} == {(AUTHOR, url)}
