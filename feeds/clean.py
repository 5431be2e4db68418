"""Make a FeedDocument safe to serialise, whatever slipped past the sanitiser upstream."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import cast

from feeds.model import FeedDocument

# XML 1.0 §2.2 Char, minus what UTF-8 cannot carry (lone surrogates). lxml refuses these
# with an exception; dropping them keeps one bad character from taking a whole feed down.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_document(doc: FeedDocument) -> FeedDocument:
    """Strip characters XML forbids from every string; normalise every datetime to UTC."""
    return cast(FeedDocument, _clean(doc, "doc"))


def _clean(value: object, path: str) -> object:
    if isinstance(value, str):
        return _NOT_XML_CHAR.sub("", value)
    if isinstance(value, datetime):
        # A naive datetime would be read in the server's local zone: a different feed per host.
        if value.utcoffset() is None:
            raise ValueError(f"{path}: must be timezone-aware, got naive {value.isoformat()}")
        return value.astimezone(UTC)
    if isinstance(value, tuple):
        return tuple(_clean(item, f"{path}[{i}]") for i, item in enumerate(value))
    if isinstance(value, dict):
        return {key: _clean(item, f"{path}[{key!r}]") for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: _clean(getattr(value, field.name), f"{path}.{field.name}")
            for field in fields(value)
        }
        return replace(value, **changes)
    return value
