"""The README's configuration table is the settings table: every variable, its default."""

from __future__ import annotations

import re
from pathlib import Path

from config import Settings

README = Path(__file__).parent.parent / "README.md"


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    row = re.compile(r"^\| `(BUDKAVLE_[A-Z_]+)` \| ([^|]+) \|", re.M)
    rows = {match[1]: match[2] for match in row.finditer(README.read_text())}
    for name, field in Settings.model_fields.items():
        variable = f"BUDKAVLE_{name.upper()}"
        assert variable in rows, f"{variable} is missing from the README table"
        default = field.default
        shown = "(empty)" if default == "" else f"`{default}`"
        assert rows[variable].strip() == shown, variable
    assert set(rows) == {f"BUDKAVLE_{name.upper()}" for name in Settings.model_fields}
