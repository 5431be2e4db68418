"""The feed renderers, read back by real parsers: feedparser for RSS and Atom, lxml for the
extension elements feedparser flattens, json for JSON Feed (feedparser 6 cannot read it)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import feedparser
import pytest
from lxml import etree

from feeds import splice
from feeds.atom import render_atom, render_whole_atom
from feeds.clean import clean
from feeds.jsonfeed import render_json, render_whole_json
from feeds.model import FORMATS, Entry, FeedDocument, Image, Links, Tag, Tombstone
from feeds.render import render
from feeds.rss import render_rss, render_whole_rss

SITE = "https://nyheter.budkavle.example"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "fh": "http://purl.org/syndication/history/1.0",
    "at": "http://purl.org/atompub/tombstones/1.0",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
ATOM, MEDIA, FH, AT, CONTENT, DC = (
    f"{{{NS[p]}}}" for p in ("atom", "media", "fh", "at", "content", "dc")
)
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


def per_format(path: str) -> dict[str, str]:
    return {fmt: f"{SITE}{path}.{fmt}" for fmt in FORMATS}


BRON = Entry(
    uid="urn:uuid:5f0c1a52-8d0e-4c3e-9a57-1f2b7e0c9a11",
    url=f"{SITE}/artiklar/alvdalens-nya-bro-oppnar",
    title="Älvdalens nya bro öppnar – trafiken flyttar redan i maj",
    summary="– Det här är en stor dag för hela dalen, säger kommunalrådet Åsa Öberg.",
    content_html=(
        "<p>– Det här är en stor dag för hela dalen, säger kommunalrådet Åsa Öberg.</p>"
        "<p>Bron över Dalälven har byggts i tre år &amp; kostat 212 miljoner kronor.</p>"
    ),
    language="sv",
    published=at(14, 6, 30),
    updated=at(14, 9, 5),
    version=2,
    authors=("Text: Michaela von Kügelgen", "Foto: Marcus Hjelm"),
    tags=(Tag("borlange", "Borlänge"), Tag("trafik", "Trafik")),
    image=Image(
        url=f"{SITE}/bilder/bron-kvall.jpg",
        alt="Den nya bron över Dalälven i kvällsljus",
        caption="Marcus Hjelm från Borlänge.",
    ),
)
KAHVILA = Entry(
    uid="urn:uuid:0b7d3c44-2e61-4f0a-8c1d-6a9e5b2f4d70",
    url=f"{SITE}/artiklar/kesakahvila-avaa-ovensa",
    title="Kesäkahvila avaa ovensa Hämeenlinnan torilla",
    summary="– Tänä vuonna leivomme kaiken itse, kertoo yrittäjä Päivi Häkkinen.",
    content_html="<p>– Tänä vuonna leivomme kaiken itse, kertoo yrittäjä Päivi Häkkinen.</p>",
    language="fi",
    published=at(13, 15),
    updated=at(13, 15),
    authors=("Teksti: Aino Mäkelä",),
    tags=(Tag("hameenlinna", "Hämeenlinna"),),
)
WIRE = Entry(
    uid="urn:uuid:c3a9e1f0-7b42-4d85-b6e3-0f1a2c3d4e5f",
    url=f"{SITE}/articles/nordic-newsrooms-share-a-wire",
    title="Nordic newsrooms share one wire: “We want readers, not clicks”",
    summary="",
    content_html='<p>Read the <a href="https://example.org/report?a=1&amp;b=2">report</a>.</p>',
    language="en",
    published=at(12, 8),
    updated=at(12, 8),
)
ENTRIES = (BRON, KAHVILA, WIRE)


def document(**changes: Any) -> FeedDocument:
    doc = FeedDocument(
        feed_id=f"{SITE}/feeds/all",
        title="Budkavle – Alla nyheter",
        subtitle="Nyheter från Dalarna, Tavastland och hela Norden",
        language="sv",
        links=Links(home=f"{SITE}/", self_url=per_format("/feeds/all"), hub=f"{SITE}/websub"),
        updated=at(14, 9, 5),
        entries=ENTRIES,
    )
    return replace(doc, **changes)


def archive_page() -> FeedDocument:
    return document(
        archive=True,
        links=Links(
            home=f"{SITE}/",
            self_url=per_format("/feeds/archive/2"),
            hub=f"{SITE}/websub",
            current=per_format("/feeds/all"),
            prev_archive=per_format("/feeds/archive/1"),
            next_archive=per_format("/feeds/archive/3"),
        ),
    )


def parse_xml(body: bytes) -> Any:
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False))


def parse_feed(body: bytes) -> Any:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def links_by_rel(links: Any) -> dict[str, str]:
    return {link.get("rel", "alternate"): link.get("href") for link in links}


# -- read back by feedparser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "version", "tags"),
    [
        # Atom keeps the slug as term and the label; RSS <category> carries the label only.
        ("atom", "atom10", [("borlange", "Borlänge"), ("trafik", "Trafik")]),
        ("rss", "rss20", [("Borlänge", None), ("Trafik", None)]),
    ],
    ids=["atom", "rss"],
)
def test_feedparser_reads_every_field(fmt: str, version: str, tags: list[Any]) -> None:
    parsed = parse_feed(render(document(), fmt))

    assert parsed.version == version
    assert parsed.feed.title == "Budkavle – Alla nyheter"
    assert parsed.feed.subtitle == "Nyheter från Dalarna, Tavastland och hela Norden"
    assert parsed.feed.language == "sv"
    assert parsed.feed.link == f"{SITE}/"
    assert parsed.feed.generator == "Budkavle"
    assert [e.title for e in parsed.entries] == [e.title for e in ENTRIES]  # newest first
    assert [e.id for e in parsed.entries] == [e.uid for e in ENTRIES]

    bron = parsed.entries[0]
    assert bron.link == BRON.url
    assert bron.summary == BRON.summary
    assert bron.content[0].value == BRON.content_html
    assert [a.name for a in bron.authors] == list(BRON.authors)
    assert [(t.term, t.label) for t in bron.tags] == tags
    assert bron.published_parsed[:5] == (2024, 5, 14, 6, 30)
    assert bron.media_content == [
        {"url": f"{SITE}/bilder/bron-kvall.jpg", "medium": "image", "type": "image/jpeg"}
    ]


def test_feedparser_reads_atom_entry_dates_and_language() -> None:
    parsed = parse_feed(render(document(), "atom"))

    kahvila = parsed.entries[1]
    assert kahvila.updated_parsed[:4] == (2024, 5, 13, 15)
    assert kahvila.content[0].language == "fi"
    assert parsed.entries[0].updated_parsed[:5] == (2024, 5, 14, 9, 5)


# -- deterministic bytes ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_document_same_bytes(fmt: str) -> None:
    first = render(document(), fmt)

    assert render(document(), fmt) == first
    assert render(archive_page(), fmt) == render(archive_page(), fmt)
    assert b"feedgen" not in first  # no library version string to change on upgrade


def variety() -> dict[str, FeedDocument]:
    """Documents that differ in every way the feed-level parts can."""
    dirt = replace(WIRE, title="Wire\x00 <b>&amp;</b>", authors=("A\x0bB",), summary="\ud800")
    helsinki = timezone(timedelta(hours=3))
    return {
        "three": document(),
        "archive": archive_page(),
        "empty": document(entries=()),
        "one": document(entries=(KAHVILA,)),
        "bylines-only": document(entries=(BRON, KAHVILA)),  # no feed author in Atom
        "tombstones": document(
            tombstones=(Tombstone(WIRE.uid, WIRE.url, at(15, 1)), Tombstone(BRON.uid, "", at(2, 3)))
        ),
        "dirty": document(title="Alla\x1f nyheter", entries=(dirt, BRON)),
        "helsinki": document(entries=(replace(BRON, updated=BRON.updated.astimezone(helsinki)),)),
        "fifty": document(
            entries=tuple(replace(ENTRIES[i % 3], uid=f"urn:uuid:{i:036}") for i in range(50))
        ),
    }


WHOLE = {"atom": render_whole_atom, "rss": render_whole_rss, "json": render_whole_json}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(variety()))
def test_spliced_bytes_are_the_whole_render(fmt: str, name: str) -> None:
    # feeds.splice inserts entries rendered one by one into a document rendered without
    # them; the bytes must be those of rendering the whole document at once.
    doc = variety()[name]
    cleaned = clean(doc, "doc")

    assert render(doc, fmt) == WHOLE[fmt](cleaned, cleaned.entries)


def test_an_entry_is_rendered_once_per_version() -> None:
    render_atom.forget()
    render(document(), "atom")
    render(document(entries=(BRON, WIRE)), "atom")  # the same entries in another feed

    assert render_atom.rendered == 3

    update = replace(BRON, version=3, title="Bron öppnar i dag", updated=at(15, 6))
    body = render(document(entries=(update, KAHVILA)), "atom")

    assert render_atom.rendered == 4
    assert "Bron öppnar i dag".encode() in body
    assert BRON.title.encode() not in body


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_entry_that_holds_the_marker_is_cut_right(fmt: str) -> None:
    # Entries rendered together are cut apart at a marker entry; one whose text holds the
    # marker's id (it cannot know it: the id is random per process) is still its own bytes.
    renderer = {"atom": render_atom, "rss": render_rss, "json": render_json}[fmt]
    renderer.forget()
    sly = replace(WIRE, uid="urn:uuid:" + "7" * 36, content_html=f"<p>{splice._MARKER.uid}</p>")
    doc = document(entries=(BRON, sly, KAHVILA))
    cleaned = clean(doc, "doc")

    assert render(doc, fmt) == WHOLE[fmt](cleaned, cleaned.entries)
    assert renderer.rendered == 3


@pytest.mark.parametrize(
    ("fmt", "path", "expected"),
    [
        ("atom", f"{ATOM}updated", "2024-05-14T09:05:00+00:00"),
        ("rss", "channel/lastBuildDate", "Tue, 14 May 2024 09:05:00 +0000"),
    ],
    ids=["atom-updated", "rss-lastBuildDate"],
)
def test_feed_date_comes_from_the_document_not_the_clock(
    fmt: str, path: str, expected: str
) -> None:
    root = parse_xml(render(document(), fmt))

    assert root.findtext(path) == expected


def test_an_aware_non_utc_date_is_written_in_utc() -> None:
    helsinki = timezone(timedelta(hours=3))
    doc = document(updated=datetime(2024, 5, 14, 12, 5, tzinfo=helsinki))

    assert parse_xml(render(doc, "atom")).findtext(f"{ATOM}updated") == "2024-05-14T09:05:00+00:00"
    assert render(doc, "atom") == render(document(), "atom")


# -- Atom ----------------------------------------------------------------------------------------


def test_atom_links_language_and_entry_languages() -> None:
    root = parse_xml(render(document(), "atom"))

    assert root.tag == f"{ATOM}feed"
    assert root.get(XML_LANG) == "sv"
    assert root.findtext(f"{ATOM}id") == f"{SITE}/feeds/all"
    self_link = root.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("href") == f"{SITE}/feeds/all.atom"
    assert self_link.get("type") == "application/atom+xml"
    assert links_by_rel(root.findall(f"{ATOM}link")) == {
        "alternate": f"{SITE}/",
        "self": f"{SITE}/feeds/all.atom",
        "hub": f"{SITE}/websub",
    }
    assert [e.get(XML_LANG) for e in root.iter(f"{ATOM}entry")] == ["sv", "fi", "en"]
    assert root.find(f"{ATOM}entry/{ATOM}content").get("type") == "html"
    generator = root.find(f"{ATOM}generator")
    assert (generator.text, dict(generator.attrib)) == ("Budkavle", {})  # no feedgen version


def test_atom_names_the_feed_as_author_only_when_an_entry_has_none() -> None:
    # RFC 4287 §4.1.1: a feed needs an author unless every entry has one.
    with_bylines = parse_xml(render(document(entries=(BRON, KAHVILA)), "atom"))
    without = parse_xml(render(document(), "atom"))

    assert with_bylines.find(f"{ATOM}author") is None
    assert without.findtext(f"{ATOM}author/{ATOM}name") == "Budkavle – Alla nyheter"


def test_atom_tombstones_follow_rfc_6721() -> None:
    retracted = Tombstone(
        uid="urn:uuid:9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4",
        url=f"{SITE}/artiklar/felaktig-uppgift-om-borlange",
        when=at(14, 7, 45),
    )
    older = Tombstone(
        uid="urn:uuid:11111111-2222-4333-8444-555555555555",
        url=f"{SITE}/artiklar/dubblett",
        when=at(10, 12),
    )
    doc = document(tombstones=(retracted, older, retracted))  # a repeat must not be repeated

    root = parse_xml(render(doc, "atom"))

    assert root.nsmap["at"] == NS["at"]
    deleted = root.findall(f"{AT}deleted-entry")
    assert [(d.get("ref"), d.get("when")) for d in deleted] == [
        (retracted.uid, "2024-05-14T07:45:00+00:00"),
        (older.uid, "2024-05-10T12:00:00+00:00"),
    ]
    assert all(RFC3339.match(d.get("when")) for d in deleted)
    # The feed's own link must not be taken from a tombstone.
    assert parse_feed(render(doc, "atom")).feed.link == f"{SITE}/"


@pytest.mark.parametrize("fmt", ["rss", "json"])
def test_tombstones_are_atom_only(fmt: str) -> None:
    doc = document(tombstones=(Tombstone("urn:uuid:x", f"{SITE}/borta", at(14, 8)),))

    assert render(doc, fmt) == render(document(), fmt)


# -- RSS -----------------------------------------------------------------------------------------


def test_rss_channel_has_atom_self_and_hub_links() -> None:
    channel = parse_xml(render(document(), "rss")).find("channel")

    self_link = channel.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("href") == f"{SITE}/feeds/all.rss"
    assert self_link.get("type") == "application/rss+xml"
    assert links_by_rel(channel.findall(f"{ATOM}link")) == {
        "self": f"{SITE}/feeds/all.rss",
        "hub": f"{SITE}/websub",
    }
    assert channel.findtext("link") == f"{SITE}/"
    assert channel.findtext("language") == "sv"


def test_rss_items_carry_full_content_creators_and_no_sizeless_enclosure() -> None:
    items = parse_xml(render(document(), "rss")).findall("channel/item")

    bron = items[0]
    assert bron.findtext("description") == BRON.summary
    assert bron.findtext(f"{CONTENT}encoded") == BRON.content_html
    assert [c.text for c in bron.findall(f"{DC}creator")] == list(BRON.authors)
    assert bron.findtext(f"{DC}language") == "sv"
    assert bron.find("guid").get("isPermaLink") == "false"
    assert bron.findtext("pubDate") == "Tue, 14 May 2024 06:30:00 +0000"
    assert bron.find("enclosure") is None
    assert bron.find("author") is None  # RSS <author> must be an email address
    # No summary: RSS 2.0 still wants a description, so the content stands in.
    assert items[2].findtext("description") == WIRE.content_html


def test_rss_channel_description_falls_back_to_the_title() -> None:
    channel = parse_xml(render(document(subtitle=""), "rss")).find("channel")

    assert channel.findtext("description") == "Budkavle – Alla nyheter"


# -- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "entry_path"), [("atom", f"{ATOM}entry"), ("rss", "channel/item")])
def test_image_is_media_rss_content_with_caption(fmt: str, entry_path: str) -> None:
    first, second = parse_xml(render(document(), fmt)).findall(entry_path)[:2]

    content = first.find(f"{MEDIA}content")
    assert dict(content.attrib) == {
        "url": f"{SITE}/bilder/bron-kvall.jpg",
        "medium": "image",
        "type": "image/jpeg",
    }
    assert content.findtext(f"{MEDIA}title") == "Den nya bron över Dalälven i kvällsljus"
    assert content.findtext(f"{MEDIA}description") == "Marcus Hjelm från Borlänge."
    assert second.find(f"{MEDIA}content") is None


# -- RFC 5005 archive pages -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_archive_page_links_its_neighbours(fmt: str) -> None:
    root = parse_xml(render(archive_page(), fmt))
    feed = root if fmt == "atom" else root.find("channel")

    assert feed.find(f"{FH}archive") is not None
    links = links_by_rel(feed.findall(f"{ATOM}link"))
    assert links["self"] == f"{SITE}/feeds/archive/2.{fmt}"
    assert links["current"] == f"{SITE}/feeds/all.{fmt}"
    assert links["prev-archive"] == f"{SITE}/feeds/archive/1.{fmt}"
    assert links["next-archive"] == f"{SITE}/feeds/archive/3.{fmt}"
    assert links["hub"] == f"{SITE}/websub"
    parse_feed(render(archive_page(), fmt))


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_subscription_feed_is_not_marked_archive(fmt: str) -> None:
    root = parse_xml(render(document(), fmt))

    assert root.find(f".//{FH}archive") is None
    assert not {"current", "prev-archive", "next-archive"} & set(
        links_by_rel(root.iter(f"{ATOM}link"))
    )


@pytest.mark.parametrize(
    ("fmt", "prefixes"),
    [("atom", ["", "media", "fh", "at"]), ("rss", ["atom", "content", "dc", "media", "fh"])],
    ids=["atom", "rss"],
)
def test_namespaces_depend_on_the_format_only(fmt: str, prefixes: list[str]) -> None:
    for doc in (document(), archive_page(), document(entries=())):
        body = render(doc, fmt)
        declared = [ns for _, ns in etree.iterparse(io.BytesIO(body), events=("start-ns",))]
        # Exactly these, each once: all on the root, none sprinkled further in.
        assert sorted(declared) == sorted((p, NS[p or "atom"]) for p in prefixes)


# -- JSON Feed 1.1 ----------------------------------------------------------------------------


def test_json_feed_follows_version_1_1() -> None:
    feed = json.loads(render(archive_page(), "json"))

    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "Budkavle – Alla nyheter"
    assert feed["description"] == "Nyheter från Dalarna, Tavastland och hela Norden"
    assert feed["home_page_url"] == f"{SITE}/"
    assert feed["feed_url"] == f"{SITE}/feeds/archive/2.json"
    assert feed["language"] == "sv"
    assert feed["hubs"] == [{"type": "WebSub", "url": f"{SITE}/websub"}]
    # next_url pages to older items: RFC 5005's prev-archive.
    assert feed["next_url"] == f"{SITE}/feeds/archive/1.json"
    assert [item["id"] for item in feed["items"]] == [e.uid for e in ENTRIES]


def test_json_feed_items() -> None:
    bron, kahvila, wire = json.loads(render(document(), "json"))["items"]

    assert bron == {
        "id": BRON.uid,
        "url": BRON.url,
        "title": "Älvdalens nya bro öppnar – trafiken flyttar redan i maj",
        "content_html": BRON.content_html,
        "summary": BRON.summary,
        "image": f"{SITE}/bilder/bron-kvall.jpg",
        "date_published": "2024-05-14T06:30:00+00:00",
        "date_modified": "2024-05-14T09:05:00+00:00",
        "authors": [{"name": "Text: Michaela von Kügelgen"}, {"name": "Foto: Marcus Hjelm"}],
        "tags": ["Borlänge", "Trafik"],
        "language": "sv",
    }
    assert kahvila["language"] == "fi"
    assert "next_url" not in json.loads(render(document(), "json"))
    assert not {"summary", "authors", "tags", "image"} & set(wire)  # absent, not empty
    assert all(
        RFC3339.match(item[key])
        for item in (bron, kahvila, wire)
        for key in ("date_published", "date_modified")
    )


def test_json_feed_is_utf8_not_escaped() -> None:
    body = render(document(), "json")

    assert "Älvdalens".encode() in body
    assert b"\\u00c4" not in body


# -- edge cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_feed_is_valid(fmt: str) -> None:
    body = render(document(entries=()), fmt)

    if fmt == "json":
        feed = json.loads(body)
        assert feed["items"] == []
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
    else:
        parsed = parse_feed(body)
        assert parsed.entries == []
        assert parsed.feed.title == "Budkavle – Alla nyheter"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "dirt",
    ["\x00", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800"],
    ids=["nul", "vertical-tab", "unit-separator", "fffe", "ffff", "lone-surrogate"],
)
def test_characters_xml_forbids_are_dropped(fmt: str, dirt: str) -> None:
    dirty = replace(
        BRON,
        title=f"Borlänge{dirt} bygger",
        content_html=f"<p>– Ja{dirt}!</p>",
        authors=(f"Text: Michaela{dirt} von Kügelgen",),
    )

    body = render(document(entries=(dirty,)), fmt)

    if fmt == "json":
        item = json.loads(body)["items"][0]
        assert (item["title"], item["content_html"]) == ("Borlänge bygger", "<p>– Ja!</p>")
    else:
        entry = parse_feed(body).entries[0]
        assert (entry.title, entry.content[0].value) == ("Borlänge bygger", "<p>– Ja!</p>")
        assert entry.author == "Text: Michaela von Kügelgen"


def test_naive_datetime_is_refused_with_its_field() -> None:
    naive = replace(KAHVILA, updated=datetime(2024, 5, 13, 15))

    with pytest.raises(ValueError, match=r"doc\.entries\[1\]\.updated: must be timezone-aware"):
        render(document(entries=(BRON, naive)), "rss")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match=r"fmt: must be one of atom, rss, json, got 'xml'"):
        render(document(), "xml")


def test_missing_self_url_names_the_format() -> None:
    links = Links(home=f"{SITE}/", self_url={"rss": f"{SITE}/feeds/all.rss"}, hub=f"{SITE}/websub")

    with pytest.raises(ValueError, match=r"links\.self_url: has no 'atom' URL, only rss"):
        render(document(links=links), "atom")
