"""Text rules shared by every field: XML-safe characters, one-line strings, slugs."""

from __future__ import annotations

import re
import unicodedata

from slugify import slugify

# XML 1.0 allows #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Everything else (C0 controls, lone surrogates, U+FFFE/U+FFFF) would make a feed
# unparseable, so it never reaches storage.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# C1 controls are legal XML but discouraged (XML 1.0 §2.2) and never meant in news text.
_C1_CONTROLS = re.compile("[\x7f-\x9f]")
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def xml_safe(value: str) -> str:
    """Drop characters that XML 1.0 forbids, and C1 controls; NFC-normalise (å is one char)."""
    value = _XML_FORBIDDEN.sub("", value)
    value = _C1_CONTROLS.sub("", value)
    return unicodedata.normalize("NFC", value)


def line_count(value: str) -> int:
    return len(_LINE_BREAKS.split(value.strip()))


def one_line(value: str) -> str:
    """Collapse runs of white space (tabs, non-breaking spaces) into one space."""
    return _SPACES.sub(" ", xml_safe(value)).strip()


def make_slug(value: str, max_length: int = 120) -> str:
    # python-slugify folds through text-unidecode: "Borlänge" -> "borlange",
    # "Tórshavn" -> "torshavn", "Ærø" -> "aero", "Þingvellir" -> "thingvellir".
    # The backend is named: "auto" first tries to import `unidecode`, which is not installed,
    # and a failed import is not cached, so every non-ASCII label paid for it again (~40 µs).
    return slugify(
        value, max_length=max_length, word_boundary=True, lowercase=True, backend="text-unidecode"
    )
