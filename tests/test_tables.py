"""budkavle.tables: a layout is chosen by the terminal's width; nothing is cut, ever."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from budkavle.tables import Column, fit, show
from tests.terminal import lines_of, shown_whole

NAME = "Borlänge kommun – samhällsbyggnad"
URL = "https://samhallsbyggnad.borlange.se/budkavle/webhook/" + "å" * 30
ROWS = [
    {"id": 1, "name": NAME, "state": "active", "url": URL},
    {"id": 22, "name": "Tromsø kommune", "state": "disabled: 410 Gone", "url": "–"},
    {"id": 333, "name": "Þórshöfn á Langanesi", "state": "active", "url": "–"},
]
ID = Column("id", lambda r: str(r["id"]), right=True)
NAME_COLUMN = Column("name", lambda r: r["name"], fold=True, least=20)
STATE = Column("state", lambda r: r["state"])
URL_COLUMN = Column("webhook address", lambda r: r["url"], fold=True, least=30)
LAYOUTS = ((ID, NAME_COLUMN, STATE, URL_COLUMN), (ID, NAME_COLUMN, STATE))


def render(width: int, layouts: tuple[tuple[Column, ...], ...] = LAYOUTS) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    show(ROWS, layouts, console=console)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    lines = lines_of(output, width)
    # Aligned: every line of the table is as wide as the others, å ä ö – þ included.
    assert len({cell_len(line) for line in lines}) == 1, output
    return lines


@pytest.mark.parametrize(
    ("width", "headers", "values"),
    [
        pytest.param(200, ["id", "name", "state", "webhook address"], [NAME, URL], id="wide"),
        pytest.param(110, ["id", "name", "state", "webhook address"], [NAME, URL], id="folds"),
        pytest.param(80, ["id", "name", "state", "webhook address"], [NAME, URL], id="80"),
        pytest.param(60, ["id", "name", "state"], [NAME], id="drops-the-webhook"),
        pytest.param(40, ["id", "name", "state"], [NAME], id="folds-essentials"),
        pytest.param(30, ["id", "name", "state"], [NAME], id="very-narrow"),
    ],
)
def test_widest_layout_that_fits_and_nothing_cut(
    width: int, headers: list[str], values: list[str]
) -> None:
    lines = render(width)
    shown = [header for header in ("id", "name", "state", "webhook address") if header in lines[0]]
    assert shown == headers, lines
    for value in [*values, "disabled: 410 Gone", "Tromsø kommune", "Þórshöfn á Langanesi"]:
        assert shown_whole(lines, value), (value, lines)


def test_a_header_is_never_narrower_than_its_name() -> None:
    layout, widths = fit(ROWS, LAYOUTS, 60)
    assert [column.header for column in layout] == ["id", "name", "state"]
    for column, width in zip(layout, widths, strict=True):
        assert width >= cell_len(column.header)


def test_a_kept_line_stays_whole_until_nothing_else_fits() -> None:
    slug = "borlange-och-umea-delar-erfarenheter-av-trygghetsvandringar"
    rows = [{"slug": slug, "title": "Borlänge och Umeå delar erfarenheter", "status": "published"}]
    merged = Column("slug / title", lambda r: f"{r['slug']}\n{r['title']}", fold=True,
                    keep=lambda r: r["slug"])  # fmt: skip
    status = Column("status", lambda r: r["status"])
    roomy, _ = fit(rows, [(merged, status)], 80)
    assert roomy[0].keep is not None  # the slug has its own line, whole
    tight, widths = fit(rows, [(merged, status)], 50)
    assert tight[0].keep is None and sum(widths) + 3 <= 50  # now the slug folds too
