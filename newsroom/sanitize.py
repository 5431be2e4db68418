"""Article bodies: Markdown to HTML, and every body through one HTML allow-list (nh3)."""

from __future__ import annotations

import html as htmllib
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

from newsroom.text import xml_safe

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li",
    "mark", "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "q": {"cite"},
    "blockquote": {"cite"},
    "*": {"lang"},
}
# javascript:, data: and vbscript: URLs are dropped with the attribute that held them.
URL_SCHEMES = {"http", "https", "mailto"}

# Where a tag ends a block, the words on either side are separate; inline tags are not
# ("säger <em>Hjelm</em>." reads "säger Hjelm.").
_BLOCK_TAG = re.compile(
    r"</?(?:br|p|h[1-6]|li|ul|ol|dl|dt|dd|blockquote|figure|figcaption|pre|table|tr|td|th|hr)"
    r"\b[^>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # Raw HTML inside Markdown is allowed here because the result is sanitised below.
    return MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")


def clean_html(html: str) -> str:
    """The one allow-list every body passes: scripts, styles, handlers and bad URLs go."""
    return nh3.clean(
        xml_safe(html),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def markdown_to_html(markdown: str) -> str:
    return clean_html(_markdown().render(xml_safe(markdown)))


def visible_text(clean: str) -> str:
    """The words a reader sees in already-clean HTML (for emptiness checks and summaries)."""
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", clean))
    return " ".join(htmllib.unescape(text).split())
