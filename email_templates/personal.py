"""Where per-subscriber values go in a rendered email.

A digest is rendered once per (edition, language, segment); these plain ASCII tokens
stand in for what differs per recipient, and the envelope swaps them in by substitution.
They survive HTML escaping unchanged (no ``&<>"'``), and quoted-printable too as long as
no soft line break falls inside one.
"""

from __future__ import annotations

import html

UNSUBSCRIBE_URL = "__BK_UNSUBSCRIBE_URL__"
PREFERENCES_URL = "__BK_PREFERENCES_URL__"
EMAIL = "__BK_EMAIL__"

TOKENS = (UNSUBSCRIBE_URL, PREFERENCES_URL, EMAIL)


def fill(text: str, *, unsubscribe_url: str, preferences_url: str, email: str, escape: bool) -> str:
    """Put one subscriber's values in; ``escape`` for an HTML part, where an address such
    as ``a&b@example.se`` must become ``a&amp;b@example.se``."""
    values = {UNSUBSCRIBE_URL: unsubscribe_url, PREFERENCES_URL: preferences_url, EMAIL: email}
    for token, value in values.items():
        text = text.replace(token, html.escape(value) if escape else value)
    return text
