"""axe-core in a Playwright page: the WCAG 2.2 AA rules, for any page or email a test opens.

axe-core comes from the npm registry, pinned by tests/axe/package-lock.json and installed
by scripts/test-deps.sh (``npm ci``); nothing is downloaded at test time. The script is
evaluated through the DevTools protocol, which no Content-Security-Policy governs, so a
page's CSP need not allow it. The page's context needs JavaScript on for axe to run.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MISSING = f"{AXE_JS} is missing: run scripts/test-deps.sh (npm ci in tests/axe)"


@cache
def _source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def violations(page: Page, tags: list[str] | None = None) -> list[dict[str, Any]]:
    """axe's violations of the rules tagged ``tags`` (WCAG 2.2 A and AA by default)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    options = {"runOnly": {"type": "tag", "values": tags or WCAG_22_AA}}
    result: dict[str, Any] = page.evaluate("options => axe.run(document, options)", options)
    return list(result["violations"])


def describe(found: list[dict[str, Any]]) -> str:
    """The violations as lines a person can act on: rule, impact, help, first targets."""
    lines = []
    for violation in found:
        targets = [node["target"] for node in violation["nodes"][:3]]
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    found = violations(page)
    assert not found, f"axe on {page.url}:\n{describe(found)}"
