"""The emails as readers get them: their language, escaped text, working links, no tracking."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TypedDict

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from email_templates import personal
from email_templates.i18n import LANGUAGES, LOCALE_DIR, best_language, format_day, translations
from email_templates.render import (
    Brand,
    DigestArticle,
    DigestContent,
    RenderedEmail,
    render_already_subscribed,
    render_confirm,
    render_digest,
)
from newsroom.tagcloud import CloudTag

PUBLIC = "https://nyheter.example"
# 06:30 in Stockholm, 07:30 in Helsinki: a Thursday morning edition.
EDITION = datetime(2026, 11, 26, 5, 30, tzinfo=UTC)


def digest_article(title: str, slug: str, **overrides: object) -> DigestArticle:
    fields: dict[str, object] = {
        "title": title,
        "summary": "Plogbilarna i Borlänge körs efter väglagsdata från Tammerfors – "
        "och snön försvinner fortare från gång- och cykelbanorna.",
        "url": f"{PUBLIC}/artiklar/{slug}",
        "image_url": f"https://bilder.nyheter.example/2026/{slug}.jpg",
        "image_alt": "En gul plogbil i snöyra på Borlänges Stora torget",
        "image_caption": "Plogningen börjar klockan fyra. Foto: Åsa Lindqvist",
        "published_at": EDITION - timedelta(hours=3),
        "tags": [("borlange", "Borlänge"), ("vaghallning", "Väghållning")],
        "authors": ["Åsa Lindqvist", "Marcus Hjelm"],
    }
    fields.update(overrides)
    return DigestArticle(**fields)  # type: ignore[arg-type]


ARTICLES = [
    digest_article("Borlänge lär av Tammerfors – vinterväghållning", "borlange-tammerfors"),
    digest_article("Personliga möten stärker det nordiska samarbetet", "nordiskt-samarbete",
                   image_url=None, authors=[]),
    digest_article("Älvdalens skola får nytt kök", "alvdalen-kok", tags=[]),
]
LATEST = [
    *ARTICLES,
    digest_article("Umeå bygger cykelgarage vid resecentrum", "umea-cykelgarage"),
]
CLOUD = [
    CloudTag("borlange", "Borlänge", 12, 5),
    CloudTag("nordiskt-samarbete", "Nordiskt samarbete", 4, 3),
    CloudTag("tammerfors", "Tammerfors", 2, 2),
    CloudTag("umea", "Umeå", 1, 1),
    CloudTag("vaghallning", "Väghållning", 6, 4),
]
BRAND = Brand(
    "Budkavle", PUBLIC + "/", publisher_name="Budkavle Media AB",
    publisher_address="Stora torget 1\n781 81 Borlänge",
)  # fmt: skip


def topic_url(slug: str) -> str:
    return f"{PUBLIC}/tags/{slug}"


SIZES = {1: "12px", 2: "14px", 3: "16px", 4: "19px", 5: "22px"}


def content(language: str = "sv", **overrides: object) -> DigestContent:
    fields: dict[str, object] = {
        "language": language,
        "brand": BRAND,
        "time_zone": "Europe/Helsinki" if language == "fi" else "Europe/Stockholm",
        "edition_date": EDITION,
        "articles": ARTICLES,
        "latest": LATEST,
        "cloud": CLOUD,
        "view_url": f"{PUBLIC}/utskick/42",
        "archive_url": f"{PUBLIC}/utskick",
        "topic_url": topic_url,
    }
    fields.update(overrides)
    return DigestContent(**fields)  # type: ignore[arg-type]


class Page(HTMLParser):
    """Every link and image of an HTML part, with the text of each link."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.images: list[dict[str, str]] = []
        self.html_lang = ""
        self._open: dict[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.html_lang = values.get("lang", "")
        elif tag == "a":
            self._open = {**values, "text": ""}
            self.links.append(self._open)
        elif tag == "img":
            self.images.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data


class Localized(TypedDict):
    subject: str
    day: str
    strings: list[str]


LOCALIZED: dict[str, Localized] = {
    "sv": {
        "subject": "Borlänge lär av Tammerfors – vinterväghållning – och 2 andra nyheter",
        "day": "torsdag 26 november 2026",
        "strings": ["Senaste nyheter", "Etikettmoln", "Läs mer", "Visa i webbläsaren",
                    "Avsluta prenumerationen", "Text: Åsa Lindqvist och Marcus Hjelm"],
    },
    "fi": {
        "subject": "Borlänge lär av Tammerfors – vinterväghållning – ja 2 muuta uutista",
        "day": "torstai 26. marraskuuta 2026",
        "strings": ["Uusimmat uutiset", "Avainsanapilvi", "Lue lisää", "Näytä selaimessa",
                    "Peru tilaus", "Teksti: Åsa Lindqvist ja Marcus Hjelm"],
    },
    "en": {
        "subject": "Borlänge lär av Tammerfors – vinterväghållning – and 2 other stories",
        "day": "Thursday, 26 November 2026",
        "strings": ["Latest news", "Tag cloud", "Read more", "View in browser", "Unsubscribe",
                    "By Åsa Lindqvist and Marcus Hjelm"],
    },
}


@pytest.mark.parametrize("language", sorted(LOCALIZED))
def test_digest_speaks_the_subscribers_language(language: str) -> None:
    expected = LOCALIZED[language]
    email = render_digest(content(language))
    assert email.subject == expected["subject"]
    assert Page(email.html).html_lang == language
    for part in (email.html, email.text):
        assert expected["day"] in part
        for string in expected["strings"]:
            assert string in part, f"{string!r} missing in {language}"
    others = {s for lang, e in LOCALIZED.items() if lang != language for s in e["strings"]}
    assert not [s for s in others if s in email.html], "a string of another language"


@pytest.mark.parametrize(
    ("language", "count", "headline", "others"),
    [
        pytest.param("sv", 1, "1 ny artikel", "", id="sv one"),
        pytest.param("sv", 2, "2 nya artiklar", " – och 1 annan nyhet", id="sv two"),
        pytest.param("fi", 1, "1 uusi artikkeli", "", id="fi one"),
        pytest.param("fi", 4, "4 uutta artikkelia", " – ja 3 muuta uutista", id="fi four"),
        pytest.param("en", 1, "1 new article", "", id="en one"),
        pytest.param("is", 22, "22 nýjar greinar", " – og 21 önnur frétt",
                     id="is twenty-one is singular"),
        pytest.param("is", 12, "12 nýjar greinar", " – og 11 aðrar fréttir",
                     id="is eleven is plural"),
        pytest.param("da", 3, "3 nye artikler", " – og 2 andre nyheder", id="da two"),
        pytest.param("nb", 2, "2 nye artikler", " – og 1 annen nyhet", id="nb one"),
    ],
)
def test_subject_leads_with_the_lead_headline_in_plural_forms(
    language: str, count: int, headline: str, others: str
) -> None:
    email = render_digest(content(language, articles=ARTICLES[:1] * count))
    assert email.subject == ARTICLES[0].title + others
    assert headline in email.text


def test_a_long_lead_headline_is_cut_at_a_word_in_the_subject() -> None:
    title = "Kommunfullmäktige i Borlänge beslutar om " + "vinterväghållning och " * 12
    email = render_digest(content("sv", articles=[digest_article(title.strip(), "lang")] * 2))
    assert len(email.subject) < 160
    assert email.subject.endswith("… – och 1 annan nyhet")


@pytest.mark.parametrize(
    ("language", "zone", "when", "day"),
    [
        pytest.param("sv", "Europe/Stockholm", EDITION, "torsdag 26 november 2026", id="sv"),
        pytest.param("fi", "Europe/Helsinki", EDITION, "torstai 26. marraskuuta 2026", id="fi"),
        pytest.param("en", "Europe/London", EDITION, "Thursday, 26 November 2026", id="en"),
        pytest.param("nb", "Europe/Oslo", EDITION, "torsdag 26. november 2026", id="nb"),
        pytest.param("da", "Europe/Copenhagen", EDITION, "torsdag den 26. november 2026",
                     id="da"),
        pytest.param("is", "Atlantic/Reykjavik", EDITION, "fimmtudagur, 26. nóvember 2026",
                     id="is"),
        pytest.param("sv", "Europe/Stockholm", datetime(2026, 11, 25, 23, 30, tzinfo=UTC),
                     "torsdag 26 november 2026", id="the local day, not the UTC day"),
        pytest.param("fi", "Europe/Helsinki", datetime(2026, 11, 25, 21, 59, tzinfo=UTC),
                     "keskiviikko 25. marraskuuta 2026", id="just before local midnight"),
    ],
)
def test_format_day(language: str, zone: str, when: datetime, day: str) -> None:
    assert format_day(when, language, zone) == day


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("sv", "sv"), ("fi", "fi"), ("en", "en"), ("nb", "nb"), ("da", "da"), ("is", "is"),
        ("nn", "nb"), ("no", "nb"), ("se", "sv"), ("sv-FI", "sv"), ("nb_NO", "nb"),
        (" FI ", "fi"), ("de", "en"), ("", "en"), (None, "en"),
    ],
)
def test_best_language(code: str | None, language: str) -> None:
    assert best_language(code) == language


def test_unknown_language_falls_back_to_english() -> None:
    email = render_digest(content("xx"))
    assert Page(email.html).html_lang == "en"
    assert email.subject == LOCALIZED["en"]["subject"]
    assert "Latest news" in email.html and "Tag cloud" in email.text


def test_a_missing_catalog_falls_back_to_the_source_strings() -> None:
    assert translations("sv", "no-such-domain").gettext("Subscribe") == "Subscribe"
    assert translations("xx", "no-such-domain").ngettext("tag", "tags", 2) == "tags"


def test_article_text_is_escaped_in_html_and_kept_in_text() -> None:
    title = 'Skolan <script>alert("å")</script> & "Kökets" dag'
    email = render_digest(content("sv", articles=[digest_article(title, "skolan")], latest=[]))
    assert "<script" not in email.html.lower()
    assert "&lt;script&gt;" in email.html
    assert "&amp; &#34;Kökets&#34; dag" in email.html
    assert any(link["text"] == title for link in Page(email.html).links)
    assert title in email.text


def test_every_tag_in_the_cloud_links_to_its_topic_page_at_its_size() -> None:
    page = Page(render_digest(content("sv")).html)
    for tag in CLOUD:
        [link] = [link for link in page.links if link["text"] == tag.label]
        assert link["href"] == f"{PUBLIC}/tags/{tag.slug}"
        assert f"font-size:{SIZES[tag.step]}" in link["style"]
    article_tags = [link for link in page.links if link["text"].startswith("#")]
    assert {link["href"] for link in article_tags} == {
        f"{PUBLIC}/tags/borlange", f"{PUBLIC}/tags/vaghallning",
    }
    assert "/feeds/" not in render_digest(content("sv")).text


def test_images_have_alt_text_and_captions() -> None:
    email = render_digest(content("sv"))
    page = Page(email.html)
    with_images = [a for a in ARTICLES if a.image_url]
    assert [(image["src"], image["alt"]) for image in page.images] == [
        (a.image_url, a.image_alt) for a in with_images
    ], "only the articles' own images: no tracking pixel, no remote logo"
    assert ARTICLES[0].image_caption in email.html


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:image/gif;base64,R0lGODlhAQABAAAAACw=", "//cdn.example/x.jpg",
     "ftp://bilder.example/x.jpg"],
)
def test_only_http_images_and_links(url: str) -> None:
    bad = digest_article("Väder i Kiruna", "kiruna", image_url=url, url=url)
    email = render_digest(content("sv", articles=[bad], latest=[bad]))
    page = Page(email.html)
    assert page.images == []
    assert url not in email.html and url not in email.text
    assert "Väder i Kiruna" in email.html
    assert not [link for link in page.links if link["text"].startswith("Läs mer")]


def test_links_go_straight_to_their_targets() -> None:
    page = Page(render_digest(content("sv")).html)
    allowed = (
        {a.url for a in LATEST}
        | {f"{PUBLIC}/tags/{slug}" for slug in ("borlange", "nordiskt-samarbete",
                                                "tammerfors", "umea", "vaghallning")}
        | {PUBLIC, f"{PUBLIC}/utskick/42", f"{PUBLIC}/utskick",
           personal.PREFERENCES_URL, personal.UNSUBSCRIBE_URL}
    )
    assert {link["href"] for link in page.links} == allowed


def test_tokens_survive_rendering_and_fill_per_subscriber() -> None:
    email = render_digest(content("fi"))
    for token in personal.TOKENS:
        assert email.html.count(token) >= 1 and email.text.count(token) >= 1, token
    values = {
        "unsubscribe_url": f"{PUBLIC}/avsluta?token=abc.def",
        "preferences_url": f"{PUBLIC}/installningar?token=ghi.jkl",
        "email": "åsa&co@kommun.example",
    }
    html = personal.fill(email.html, escape=True, **values)
    text = personal.fill(email.text, escape=False, **values)
    assert not [token for token in personal.TOKENS if token in html + text]
    assert "åsa&amp;co@kommun.example" in html and "åsa&co@kommun.example" in text
    page = Page(html)
    assert {link["href"] for link in page.links} >= {
        values["unsubscribe_url"], values["preferences_url"],
    }


def test_the_browser_version_has_nothing_personal() -> None:
    email = render_digest(content("sv"), personal_links=False)
    assert not [token for token in personal.TOKENS if token in email.html + email.text]
    assert "Senaste nyheter" in email.html


@pytest.mark.parametrize("language", sorted(LOCALIZED))
def test_html_is_plain_email_html(language: str) -> None:
    html = render_digest(content(language)).html
    assert "<mj-" not in html and "</mj-" not in html
    assert "<script" not in html.lower()
    assert "fonts.googleapis.com" not in html, "no font request leaves the mail client"
    assert "@media" in html, "columns stack on a phone"


def test_text_part_reads_as_plain_text() -> None:
    text = render_digest(content("sv")).text
    assert not re.search(r"<[a-z/]|&(amp|lt|gt|quot|#\d+);", text), "markup in the text part"
    for article in LATEST:
        assert article.title in text and article.url in text
    assert "Borlänge (12): https://nyheter.example/tags/borlange" in text
    long_lines = [line for line in text.splitlines() if len(line) > 72 and "://" not in line]
    assert long_lines == []


CONFIRM = {
    "sv": ("Budkavle: bekräfta din prenumeration", "Bekräfta prenumerationen"),
    "fi": ("Budkavle: vahvista tilauksesi", "Vahvista tilaus"),
    "en": ("Budkavle: confirm your subscription", "Confirm subscription"),
}
ALREADY = {
    "sv": ("Budkavle: du prenumererar redan", "Ändra dina inställningar"),
    "fi": ("Budkavle: olet jo tilaaja", "Muuta asetuksiasi"),
    "en": ("Budkavle: you are already subscribed", "Change your preferences"),
}


@pytest.mark.parametrize("language", sorted(CONFIRM))
def test_confirm_email(language: str) -> None:
    url = f"{PUBLIC}/subscribe/confirm?token=eyJhIjoiw6UifQ.abc&lang={language}"
    email = render_confirm(language, BRAND, url)
    subject, button = CONFIRM[language]
    assert email.subject == subject
    assert [link["href"] for link in Page(email.html).links if link["text"].strip() == button] \
        == [url]
    assert f"{button}: {url}" in email.text
    assert_only_the_address_token(email)


@pytest.mark.parametrize("language", sorted(ALREADY))
def test_already_subscribed_email(language: str) -> None:
    url = f"{PUBLIC}/preferences?token=abc.def"
    email = render_already_subscribed(language, BRAND, url)
    subject, button = ALREADY[language]
    assert email.subject == subject
    assert url in [link["href"] for link in Page(email.html).links]
    assert f"{button}: {url}" in email.text
    assert_only_the_address_token(email)


def assert_only_the_address_token(email: RenderedEmail) -> None:
    # Not subscribed (yet): nothing to unsubscribe from, but the reader sees who got it.
    assert personal.EMAIL in email.html and personal.EMAIL in email.text
    assert personal.UNSUBSCRIBE_URL not in email.html + email.text
    assert "<mj-" not in email.html


def extracted_messages() -> set[str | tuple[str, str]]:
    package = Path(__file__).parent.parent / "email_templates"
    jinja = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
    methods = [("templates/**.mjml", "jinja2.ext:babel_extract"),
               ("templates/**.txt", "jinja2.ext:babel_extract"), ("**.py", "python")]
    options = {"templates/**.mjml": jinja, "templates/**.txt": jinja}
    found = extract_from_dir(package, methods, options)
    return {message for _, _, message, _, _ in found}  # type: ignore[misc]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "email.po").open("rb") as source:
        catalog = read_po(source)
    translated = {
        message.id: message.string for message in catalog if message.id and not message.fuzzy
    }
    used = {message if isinstance(message, str) else tuple(message)
            for message in extracted_messages()}
    assert set(translated) == used, "catalog and templates disagree"
    for msgid, msgstr in translated.items():
        forms = tuple(msgstr) if isinstance(msgstr, tuple | list) else (msgstr,)
        last_id = msgid[-1] if isinstance(msgid, tuple | list) else msgid
        placeholders = set(re.findall(r"%\(\w+\)\w", last_id))
        for form in forms:
            assert form, f"{language}: {msgid!r} untranslated"
            assert set(re.findall(r"%\(\w+\)\w", form)) == placeholders, (language, form)


def test_rendering_again_gives_the_same_bytes() -> None:
    # One render per (edition, language, segment): retries and previews must match it.
    first = render_digest(content("sv"))
    assert render_digest(replace(content("sv"))) == first
