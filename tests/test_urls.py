"""Public URLs are built in one place (newsroom.urls), and every one stays well-formed."""

from __future__ import annotations

import pytest

from config import Settings
from newsroom import urls

SETTINGS = Settings(public_url="https://nyheter.example/")


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        pytest.param(urls.home_url(SETTINGS), "https://nyheter.example/", id="home"),
        pytest.param(
            urls.article_url("borlange-far-ny-bro", SETTINGS),
            "https://nyheter.example/articles/borlange-far-ny-bro",
            id="article",
        ),
        pytest.param(
            urls.topic_url("nordiskt-samarbete", SETTINGS),
            "https://nyheter.example/tags/nordiskt-samarbete",
            id="topic",
        ),
        pytest.param(
            urls.topic_url("a/../ö?x=1", SETTINGS),
            "https://nyheter.example/tags/a%2F..%2F%C3%B6%3Fx%3D1",
            id="topic-hostile-slug-stays-one-segment",
        ),
        pytest.param(
            urls.language_url("fi", SETTINGS), "https://nyheter.example/lang/fi", id="lang"
        ),
        pytest.param(
            urls.newsletter_url(SETTINGS), "https://nyheter.example/newsletter", id="archive"
        ),
        pytest.param(
            urls.edition_url(42, SETTINGS), "https://nyheter.example/newsletter/42", id="edition"
        ),
        pytest.param(
            urls.subscribe_url(SETTINGS), "https://nyheter.example/subscribe", id="subscribe"
        ),
        pytest.param(
            urls.subscribe_url(SETTINGS, tags=["borlange", "falun"]),
            "https://nyheter.example/subscribe?tags=borlange&tags=falun",
            id="subscribe-with-topics",
        ),
        pytest.param(
            urls.feed_url("tags/borlange.atom", SETTINGS),
            "https://nyheter.example/feeds/tags/borlange.atom",
            id="feed",
        ),
        pytest.param(urls.hub_url(SETTINGS), "https://nyheter.example/websub", id="hub"),
    ],
)
def test_public_urls(built: str, expected: str) -> None:
    assert built == expected
