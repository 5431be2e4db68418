"""The audit log for operators, newest first, paged by id."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsroom import audit
from newsroom.db import read_scope
from web.desk import session as desk
from web.desk.render import page

router = APIRouter(prefix="/desk", include_in_schema=False)
PAGE_SIZE = 50


@router.get("/audit")
def audit_page(
    request: Request,
    viewer: Annotated[desk.Viewer, Depends(desk.operator)],
    before: str = "",
) -> Response:
    # A bad ?before= shows the newest page rather than an error: it is only a position.
    start = int(before) if before.isascii() and before.isdigit() and len(before) < 18 else None
    with read_scope() as session:
        entries, older = audit.page(session, start, PAGE_SIZE)
        rows = [(entry, json.dumps(entry.details, ensure_ascii=False, sort_keys=True))
                for entry in entries]  # fmt: skip
    return page(request, "audit.html", viewer, rows=rows, older=older, paged=start is not None)
