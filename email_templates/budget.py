"""Keeping an email's HTML under Gmail's clip, by measuring renders, not by guessing.

Gmail shows "[Message clipped]" for an HTML part over about 102 KB and hides the rest,
which is where the footer's unsubscribe and preferences links are. An email is rendered
with all its articles; if that is over the budget, the number of articles that fits is
found by bisection over whole renders (each one measured as it will be sent, after
personalisation), so a change of template or a long Nordic title never slips past.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from email_templates import personal

# 90 KB: under Gmail's ~102 KB with room for what a mail client or a forwarder adds.
HTML_BYTES = 90_000

# The most each per-recipient token can grow when it is filled in (personal.fill): a
# signed link on a long public URL, and an address of 254 characters whose every
# character an HTML part escapes to at most five ("&amp;").
_GROWTH = {
    personal.UNSUBSCRIBE_URL: 600 - len(personal.UNSUBSCRIBE_URL),
    personal.PREFERENCES_URL: 600 - len(personal.PREFERENCES_URL),
    personal.EMAIL: 254 * 5 - len(personal.EMAIL),
}


class Rendered(Protocol):
    @property
    def html(self) -> str: ...


def html_bytes(html: str) -> int:
    """The HTML's size in UTF-8 bytes once the largest possible recipient is filled in."""
    return len(html.encode("utf-8")) + sum(
        html.count(token) * growth for token, growth in _GROWTH.items()
    )


R = TypeVar("R", bound=Rendered)


def fit(render: Callable[[int], R], total: int, max_bytes: int) -> R:
    """``render(count)`` for the most of ``total`` articles whose HTML fits ``max_bytes``
    (at least none: the frame and footer alone are always sent)."""
    whole = render(total)
    size = html_bytes(whole.html)
    if size <= max_bytes or total == 0:
        return whole
    # Interpolation search: every article costs about the same, so the line through the
    # nearest renders that fit and that do not predicts the count; each guess is rendered
    # and measured, and the bracket closes on the exact count in three or four renders.
    low: tuple[int, int] | None = None  # (count, size) of the largest render that fits
    best: R | None = None
    high = (total, size)  # the smallest render known not to fit
    while low is None or high[0] - low[0] > 1:
        guess = _predict(low, high, max_bytes)
        candidate = render(guess)
        measured = html_bytes(candidate.html)
        if measured <= max_bytes:
            low, best = (guess, measured), candidate
        elif guess == 0:
            return candidate  # not even the frame fits: send it whole anyway
        else:
            high = (guess, measured)
    assert best is not None
    return best


def _predict(low: tuple[int, int] | None, high: tuple[int, int], max_bytes: int) -> int:
    if low is None:  # only the whole is known: as if the frame cost nothing
        return max(0, min(high[0] - 1, high[0] * max_bytes // high[1]))
    per_article = max(1, (high[1] - low[1]) // (high[0] - low[0]))
    guess = low[0] + (max_bytes - low[1]) // per_article
    return max(low[0] + 1, min(high[0] - 1, guess))
