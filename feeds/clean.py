"""Make feed data safe to serialise, whatever slipped past the sanitiser upstream."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar, cast

T = TypeVar("T")

# XML 1.0 §2.2 Char, minus what UTF-8 cannot carry (lone surrogates). lxml refuses these
# with an exception; dropping them keeps one bad character from taking a whole feed down.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(value: T, path: str) -> T:
    """``value`` (a document, an entry...) with the characters XML forbids stripped from
    every string and every datetime in UTC; ``path`` names it in errors."""
    return cast(T, _clean(value, path))


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
