"""Languages an article may be written in, with their names in their own language."""

from __future__ import annotations

# Endonyms, for feed titles ("Budkavle – svenska"). Codes are ISO 639-1 where one exists.
ENDONYMS = {
    "sv": "svenska",
    "fi": "suomi",
    "nb": "norsk bokmål",
    "nn": "norsk nynorsk",
    "no": "norsk",
    "da": "dansk",
    "is": "íslenska",
    "fo": "føroyskt",
    "kl": "kalaallisut",
    "se": "davvisámegiella",
    "en": "English",
}


def language_name(code: str) -> str:
    return ENDONYMS.get(code, code)
