"""Realistic Nordic articles for benchmarks: six languages, å ä ö, dash quotes, captions.

Every article has a title unique within a run (the number ``n``), which the latency
benchmark looks for in the feed. Tags come from a small pool, so tag feeds fill up the
way a newsroom's do and every publish touches "all", its language and three tag feeds.
"""

from __future__ import annotations

import random
from typing import Any

# (language, place, other place, title, quote, speaker) — titles all carry å, ä, ö, æ or ø.
STORIES = [
    ("sv", "Borlänge", "Tammerfors",
     "{a} lär av {b} när vinterhalkan blir svårare att förutse",
     "Förr kunde vi räkna med att snön låg kvar till mars. I dag växlar det hela tiden",
     "Annika Rask"),
    ("fi", "Tampere", "Uumaja",
     "{a} ja {b} avaavat kirjastojen e-kokoelmat yhteisesti käyttöön",
     "Yhteinen kokoelma säästää rahaa ja tuo lukijoille enemmän kirjoja",
     "Päivi Mäkelä"),
    ("nb", "Tromsø", "Reykjavik",
     "{a} henter råd fra {b} om overvann og ekstremvær",
     "Vi må planlegge for regn vi aldri har sett før, og det gjør de allerede",
     "Øystein Haugen"),
    ("sv", "Umeå", "Helsingfors",
     "{a} och {b} möter unga på nätet och på gatan",
     "Vi förstår varandra på ett annat sätt, säger vi i Norden ofta, och det stämmer",
     "Kristina Westerholm"),
    ("da", "Aarhus", "Tampere",
     "{a} og {b} vil gøre fjernvarmen grønnere før 2030",
     "Vi har lært meget af hinanden, især om varmepumper i stor skala",
     "Søren Kjærgaard"),
    ("en", "Umeå", "Tromsø",
     "Nordic cities compare notes on winter buses in {a} and {b}",
     "When it is minus twenty-five, a bus that is five minutes late is a real problem",
     "Åsa Lindqvist"),
    ("is", "Reykjavík", "Tromsø",
     "Ungir listamenn frá {a} og {b} skiptast á vinnustofum",
     "Við lærum mikið af því að vinna saman yfir hafið",
     "Guðrún Ólafsdóttir"),
]  # fmt: skip
TOPICS = ["Nordiskt samarbete", "Klimat", "Kollektivtrafik", "Kultur", "Ungdom", "Trygghet"]

# Sentences are drawn from these parts, so that no two bodies are alike and the feed
# compresses about as well as real news text does, not 20 times over.
WHO = [
    "Kommunen",
    "Stadskansliet",
    "Förvaltningen",
    "Nätverket",
    "Regionen",
    "Föreningen",
    "Skolan",
    "Biblioteket",
    "Räddningstjänsten",
    "Socialtjänsten",
    "Fritidsgården",
]
DOES = [
    "har under hösten testat",
    "vill nu utvärdera",
    "planerar att bygga ut",
    "satsar i år på",
    "ska tillsammans med grannarna granska",
    "har redan infört",
    "lyfter fram",
    "söker pengar för",
    "diskuterar i veckan",
    "har länge efterfrågat",
]
WHAT = [
    "nya sensorer på broar och i backar",
    "ett gemensamt system för prognoser",
    "trygghetsvandringar i bostadsområdena",
    "digitala lånekort för alla åldrar",
    "fjärrvärme från överskottsvärme",
    "nattöppna mötesplatser för unga",
    "plogning av cykelstråk före bilgator",
    "utbyte av tjänstemän mellan städerna",
    "öppna data om luftkvalitet",
    "kurser i svenska och finska för nyanlända",
]
WHERE = [
    "i centrum",
    "längs älven",
    "i ytterområdena",
    "vid busshållplatserna",
    "på skolgårdarna",
    "i hamnen",
    "runt stationen",
    "i de norra stadsdelarna",
]
WHEN = ["sedan i våras", "inför vintern", "fram till 2027", "redan nästa år",
        "efter ett studiebesök", "under de senaste tre åren", "i höst"]  # fmt: skip


def article(n: int, run: str) -> dict[str, Any]:
    """Article number ``n`` of run ``run``, in the shape editors POST to /api/articles."""
    language, a, b, title, quote, speaker = STORIES[n % len(STORIES)]
    pick = random.Random(n).choice  # the same n gives the same article

    def paragraph(sentences: int) -> str:
        return " ".join(
            f"{pick(WHO)} i {pick([a, b])} {pick(DOES)} {pick(WHAT)} {pick(WHERE)} {pick(WHEN)}."
            for _ in range(sentences)
        )

    body = "\n\n".join(
        [
            paragraph(3),
            f"– {quote}, säger {speaker}.",
            paragraph(4),
            "## Nordiskt samarbete viktigt",
            paragraph(4),
            f"– {pick(WHAT).capitalize()} {pick(WHERE)} är bara början, säger {speaker}.",
            paragraph(5),
            f"> **Fakta:** {a} och {b} ingår i ett nätverk av {n % 9 + 4} nordiska städer.",
            paragraph(3),
            f"[Läs mer om samarbetet](https://www.{_ascii(a)}.example/samarbete/{n})",
            f"*Text: {speaker} / Budkavle*",
        ]
    )
    return {
        "title": f"{title.format(a=a, b=b)} (nr {n}, {run})",
        "language": language,
        "summary": paragraph(1),
        "body_markdown": body,
        "tags": [a, b, TOPICS[n % len(TOPICS)]],
        "authors": [speaker],
        "image": {
            "url": f"https://bilder.nyheter.example/2026/{_ascii(a)}-{n}.jpg",
            "alt": f"{speaker} framför stadshuset i {a}",
            "caption": f"{speaker} från {a}.",
        },
        "canonical_url": f"https://nyheter.example/2026/{_ascii(a)}-{_ascii(b)}-{n}-{run}",
    }


def _ascii(name: str) -> str:
    folded = name.lower().translate(str.maketrans("åäöøæúí", "aaooaui"))
    return folded.replace(" ", "-")
