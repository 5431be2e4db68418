"""Alphabetical order as a reader of each Nordic language expects it.

Swedish and Finnish put Å, Ä, Ö after Z (Åbo after Zürich, Örebro last, not among the
O's); Danish and Norwegian put Æ, Ø, Å there; Icelandic gives Á, Ð, É, Í, Ó, Ú, Ý, Þ,
Æ, Ö places of their own. Python's default order is by code point, which puts "Örebro"
after every ASCII word but "Ängelholm" before "Åbo" in no language's order, and the
Unicode default (DUCET, as pyuca gives it) files Å with A, which is right for English
and wrong for all of Norden.

These are the CLDR tailorings of the alphabet, as ICU applies them, for the letters a
newsroom's tag labels use; ICU itself (PyICU) is a large native library for one sort of
thirty labels. A letter outside the alphabet sorts as its base letter (é as e in Swedish),
after it on a tie; Latin letters come after spaces, punctuation and digits, other
scripts after Latin.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

_LATIN = "abcdefghijklmnopqrstuvwxyz"
# The alphabet of each language, in order (CLDR's collation tailorings, simplified to the
# letters that differ from the root order).
_ALPHABETS = {
    "sv": _LATIN + "åäö",
    "fi": _LATIN + "åäö",
    "nb": _LATIN + "æøå",
    "da": _LATIN + "æøå",
    "is": "aábdðeéfghiíjklmnoóprstuúvxyýþæö" + "cqwz",
    "en": _LATIN,
}
# Letters a language files as one of its own (CLDR: Swedish sorts æ with ä and ø with ö,
# ü with y; Danish and Norwegian the other way round).
_SAME_AS = {
    "sv": {"æ": "ä", "ø": "ö", "ü": "y", "ð": "d"},
    "fi": {"æ": "ä", "ø": "ö", "ü": "y", "ð": "d"},
    "nb": {"ä": "æ", "ö": "ø", "ü": "y", "ð": "d"},
    "da": {"ä": "æ", "ö": "ø", "ü": "y", "ð": "d"},
    "is": {"ä": "æ", "ø": "ö"},
    "en": {"ø": "o", "æ": "a", "ð": "d"},  # the root order: variants of their base letter
}
# Icelandic keeps c, q, w, z only in foreign words; CLDR files them as in the root order.
_ICELANDIC_FOREIGN = {"c": "b", "q": "p", "w": "v", "z": "y"}

_SPACE, _DIGIT, _LETTER, _OTHER = 0, 1, 2, 3

Key = tuple[tuple[tuple[int, int], ...], tuple[str, ...], tuple[bool, ...]]


def sort_key(language: str) -> Callable[[str], Key]:
    """A key function for ``sorted``: by letter first, then by accents, then by case."""
    code = language if language in _ALPHABETS else "en"
    return lambda text: _key(text, code)


def sorted_by(language: str, items: Iterable[T], label: Callable[[T], str]) -> list[T]:
    key = sort_key(language)
    return sorted(items, key=lambda item: key(label(item)))


def _key(text: str, language: str) -> Key:
    primary: list[tuple[int, int]] = []
    accents: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        for folded in char.casefold():  # ß -> "ss"
            rank, accent = _letter(folded, language)
            primary.append(rank)
            accents.append(accent)
    return tuple(primary), tuple(accents), tuple(char.isupper() for char in text)


@lru_cache(maxsize=4096)
def _letter(char: str, language: str) -> tuple[tuple[int, int], str]:
    """(group, place) of one folded character in ``language``, and its accents."""
    alphabet = _ALPHABETS[language]
    char = _SAME_AS[language].get(char, char)
    if char in alphabet:
        if language == "is" and char in _ICELANDIC_FOREIGN:
            base = _ICELANDIC_FOREIGN[char]
            return (_LETTER, alphabet.index(base)), char
        return (_LETTER, alphabet.index(char)), ""
    decomposed = unicodedata.normalize("NFD", char)
    base, accents = decomposed[0], decomposed[1:]
    if base in alphabet:
        return (_LETTER, alphabet.index(base)), accents
    if base.isdigit():
        return (_DIGIT, unicodedata.digit(base, 0)), accents
    if not base.isalnum():
        return (_SPACE, ord(base)), ""
    return (_OTHER, ord(base)), accents
