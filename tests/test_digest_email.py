"""The digest and welcome emails as a newsroom sends them: masthead, lead story, reader's
collation and time zone, publisher footer, a clean preheader, and Gmail's clip."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from email_templates import budget, personal
from email_templates.collation import sorted_by
from email_templates.i18n import LANGUAGES
from email_templates.render import (
    Brand,
    WelcomeContent,
    render_digest,
    render_welcome,
)
from newsroom.tagcloud import CloudTag
from tests.test_email_templates import (
    ARTICLES,
    BRAND,
    EDITION,
    PUBLIC,
    Page,
    content,
    digest_article,
    topic_url,
)

CLOUD = [CloudTag(slug, label, 2, 2) for slug, label in [
    ("orebro", "Örebro"), ("abo", "Åbo"), ("oslo", "Oslo"), ("zurich", "Zürich"),
    ("angelholm", "Ängelholm"), ("arvika", "Arvika"), ("aarhus", "Aarhus"),
]]  # fmt: skip


@pytest.mark.parametrize(
    ("language", "order"),
    [
        pytest.param("sv", ["Aarhus", "Arvika", "Oslo", "Zürich", "Åbo", "Ängelholm", "Örebro"],
                     id="sv: Å Ä Ö after Z"),
        pytest.param("fi", ["Aarhus", "Arvika", "Oslo", "Zürich", "Åbo", "Ängelholm", "Örebro"],
                     id="fi: as Swedish"),
        pytest.param("da", ["Aarhus", "Arvika", "Oslo", "Zürich", "Ängelholm", "Örebro", "Åbo"],
                     id="da: Æ(Ä) Ø(Ö) Å"),
        pytest.param("nb", ["Aarhus", "Arvika", "Oslo", "Zürich", "Ängelholm", "Örebro", "Åbo"],
                     id="nb: Æ(Ä) Ø(Ö) Å"),
        pytest.param("en", ["Aarhus", "Åbo", "Ängelholm", "Arvika", "Örebro", "Oslo", "Zürich"],
                     id="en: accents are variants"),
        pytest.param("is", ["Aarhus", "Åbo", "Arvika", "Oslo", "Zürich", "Ängelholm", "Örebro"],
                     id="is: Æ(Ä) Ö last"),
    ],
)  # fmt: skip
def test_the_tag_cloud_is_in_the_readers_alphabetical_order(
    language: str, order: list[str]
) -> None:
    html = render_digest(content(language, cloud=CLOUD)).html
    cloud = html.split("</h2>")[-1]
    shown = [link["text"] for link in Page(cloud).links if link["text"] in order]
    assert shown == order
    assert sorted_by(language, order[::-1], str) == order


def test_collation_ties_break_on_accents_then_case() -> None:
    assert sorted_by("sv", ["Ede", "ede", "Éde", "Eden"], str) == ["ede", "Ede", "Éde", "Eden"]
    assert sorted_by("is", ["Þórshöfn", "Tálkni", "Ðb", "Db"], str) == [
        "Db",
        "Ðb",
        "Tálkni",
        "Þórshöfn",
    ]


def test_masthead_has_the_logo_with_the_sites_name_as_alt_text() -> None:
    brand = replace(BRAND, logo_url="https://nyheter.example/logo.png", accent_color="#1d4ed8")
    page = Page(render_digest(content("sv", brand=brand)).html)
    assert page.images[0] == {
        **page.images[0],
        "src": "https://nyheter.example/logo.png",
        "alt": "Budkavle",
    }
    assert "#1d4ed8" in render_digest(content("sv", brand=brand)).html
    without = render_digest(content("sv")).html
    assert re.search(r"<h1[^>]*><a [^>]*>Budkavle</a></h1>", without)


def test_view_in_browser_comes_first_and_the_footer_names_the_publisher() -> None:
    email = render_digest(content("sv"))
    first = Page(email.html).links[0]
    assert (first["text"], first["href"]) == ("Visa i webbläsaren", f"{PUBLIC}/utskick/42")
    for part in (email.html, email.text):
        assert "Budkavle Media AB" in part and "781 81 Borlänge" in part
    plain = render_digest(content("sv", brand=Brand("Nordens Nyheter", PUBLIC))).text
    assert plain.rstrip().endswith("Nordens Nyheter"), "no publisher: the site's name"


@pytest.mark.parametrize(
    ("language", "zone", "named"),
    [("sv", "Europe/Helsinki", "(Helsingfors)"), ("fi", "Europe/Helsinki", "(Helsinki)"),
     ("sv", "Europe/Stockholm", "(Stockholm)"), ("is", "Atlantic/Reykjavik", "(Reykjavík)")],
)  # fmt: skip
def test_times_are_in_the_readers_zone_and_name_it(language: str, zone: str, named: str) -> None:
    email = render_digest(content(language, time_zone=zone))
    assert named in email.html and named in email.text


def test_the_preheader_is_hidden_without_low_contrast_text() -> None:
    html = render_digest(content("sv")).html
    [(style, preheader)] = re.findall(r'<div style="(display:none;[^"]*)">(.*?)</div>', html, re.S)
    assert preheader.startswith(ARTICLES[1].title)
    assert "color" not in style, "hidden by size and display, in the text's own colours"
    assert "font-size:1px" not in html and "#ffffff;line-height:1px" not in html


def test_the_lead_is_the_newest_with_an_image_unless_an_editor_chose_one() -> None:
    plain = digest_article("Kort notis utan bild", "notis", image_url=None)
    pictured = digest_article("Reportage med bild från Kiruna", "kiruna")
    chosen = digest_article("Ledare: vintern och vi", "ledare", image_url=None, lead=True)
    assert render_digest(content("sv", articles=[plain, pictured])).subject.startswith(
        "Reportage med bild från Kiruna – "
    )
    assert render_digest(content("sv", articles=[plain, pictured, chosen])).subject.startswith(
        "Ledare: vintern och vi – "
    )
    assert render_digest(content("sv", articles=[plain])).subject == "Kort notis utan bild"


LONG_TITLE = (
    "Kommunfullmäktige i Borlänge, Tammerfors och Mariehamn enas om gemensam "
    "vinterväghållning – ”vi förstår varandra på ett annat sätt” säger Åsa Lindqvist"
)
LONG_SUMMARY = (
    "Plogbilarna i Borlänge körs efter väglagsdata från Tammerfors – och snön "
    "försvinner fortare från gång- och cykelbanorna i hela Dalarna. "
) * 3


def many(count: int) -> list:  # type: ignore[type-arg]
    return [
        digest_article(f"{LONG_TITLE} ({n})", f"artikel-{n}", summary=LONG_SUMMARY,
                       published_at=EDITION - timedelta(minutes=n),
                       tags=[(f"tagg-{n}-{k}", f"Ämne {n} {k} Älvdalen") for k in range(4)])
        for n in range(count)
    ]  # fmt: skip


def personalised(html: str) -> str:
    return personal.fill(
        html, escape=True, unsubscribe_url=PUBLIC + "/unsubscribe/" + "x" * 200,
        preferences_url=PUBLIC + "/preferences/" + "y" * 200, email="&" * 60 + "@kommun.example",
    )  # fmt: skip


@pytest.mark.parametrize("count", [20, 50, 100])
def test_the_html_stays_under_gmails_clip_with_the_footer(count: int) -> None:
    articles = many(count)
    email = render_digest(content("sv", articles=articles, cloud=CLOUD * 5))
    html = personalised(email.html)
    assert len(html.encode("utf-8")) < budget.HTML_BYTES
    page = Page(html)
    hrefs = [link["href"] for link in page.links]
    assert PUBLIC + "/unsubscribe/" + "x" * 200 in hrefs
    assert PUBLIC + "/preferences/" + "y" * 200 in hrefs
    shown = [a for a in articles if a.title in html.replace("&#34;", '"')]
    more = count - len(shown)
    if count == 20:  # the default DIGEST_MAX_ARTICLES: all of them fit
        assert more == 0 and "läs dem i webbläsaren" not in email.text
        return
    assert more > 0, "this many long articles cannot all fit"
    [link] = [link for link in page.links if "läs dem i webbläsaren" in link["text"]]
    assert link["text"].startswith(f"{more} artiklar till")
    assert link["href"] == f"{PUBLIC}/utskick/42"
    assert f"{more} artiklar till" in email.text
    assert len(shown) >= 20, "the fit is found by measuring, not by a cautious guess"
    browser = render_digest(content("sv", articles=articles), personal_links=False)
    assert all(a.title.replace('"', "&#34;") in browser.html for a in articles[:count]), (
        "the browser version has them all"
    )


def welcome(language: str, **overrides: object) -> WelcomeContent:
    fields: dict[str, object] = {
        "language": language, "brand": BRAND, "time_zone": "Europe/Helsinki",
        "topics": ["Örebro", "Borlänge", "Åbo"], "frequency": "daily",
        "news_languages": ["sv", "fi"], "articles": ARTICLES, "topic_url": topic_url,
        "archive_url": f"{PUBLIC}/utskick",
    }  # fmt: skip
    fields.update(overrides)
    return WelcomeContent(**fields)  # type: ignore[arg-type]


WELCOME = {
    "sv": ("Välkommen till Budkavle", "en gång om dagen", "svenska och finska"),
    "fi": ("Budkavle: tervetuloa tilaajaksi", "kerran päivässä", "ruotsi ja suomi"),
    "nb": ("Velkommen til Budkavle", "én gang om dagen", "svensk og finsk"),
    "da": ("Velkommen til Budkavle", "én gang om dagen", "svensk og finsk"),
    "is": ("Velkomin í áskrift hjá Budkavle", "einu sinni á dag", "sænska og finnska"),
    "en": ("Welcome to Budkavle", "once a day", "Swedish and Finnish"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_welcome_email_says_what_was_chosen_in_six_languages(language: str) -> None:
    subject, often, languages = WELCOME[language]
    email = render_welcome(welcome(language))
    assert email.subject == subject
    for part in (email.html, email.text):
        assert often in part and languages in part
        assert ARTICLES[0].title in part
        assert personal.UNSUBSCRIBE_URL in part and personal.PREFERENCES_URL in part
        assert "Budkavle Media AB" in part
    assert Page(email.html).html_lang == language


def test_the_welcome_topics_are_sorted_and_escaped() -> None:
    email = render_welcome(welcome("sv", topics=["Örebro", "<script>x</script>", "Åbo"]))
    assert "<script>x" not in email.html and "&lt;script&gt;x" in email.html
    text = email.text
    assert text.index("Åbo") < text.index("Örebro")


def test_a_welcome_with_nothing_yet_says_so() -> None:
    email = render_welcome(welcome("sv", articles=[], topics=[]))
    assert "Ingen artikel matchar dina val ännu" in email.html
    assert "Alla ämnen" in email.text


def test_a_welcome_with_many_articles_stays_under_the_clip() -> None:
    html = personalised(render_welcome(welcome("sv", articles=many(60))).html)
    assert len(html.encode()) < budget.HTML_BYTES
    assert personal.UNSUBSCRIBE_URL not in html and "/unsubscribe/" in html


class Sized:
    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.html = "x" * size


@pytest.mark.parametrize(
    ("frame", "sizes", "limit", "expected"),
    [
        pytest.param(1000, [900] * 100, 50_000, 54, id="even articles"),
        pytest.param(1000, [300, 5000, 300, 300, 4000] * 20, 20_000, 9, id="uneven articles"),
        pytest.param(1000, [900] * 10, 50_000, 10, id="everything fits"),
        pytest.param(60_000, [900] * 10, 50_000, 0, id="not even the frame fits"),
        pytest.param(1000, [49_500], 50_000, 0, id="one too big"),
    ],
)  # fmt: skip
def test_fit_finds_the_most_articles_that_fit(
    frame: int, sizes: list[int], limit: int, expected: int
) -> None:
    renders: list[int] = []

    def render(count: int) -> Sized:
        renders.append(count)
        return Sized(count, frame + sum(sizes[:count]))

    chosen = budget.fit(render, len(sizes), limit)
    assert chosen.count == expected
    assert len(renders) <= 8, renders
