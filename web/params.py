"""Path and query parameters that name rows, bounded by what the columns can hold.

Every id column is an SQL INTEGER: 32 bits on PostgreSQL, which refuses a larger value
bound to it ("integer out of range") where SQLite would simply find nothing. Checking the
range at the edge turns such a request into a 422 naming the parameter, on both databases,
instead of a 500 from the second.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# The largest value of an SQL INTEGER column (PostgreSQL int4).
MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# A page starts after this id; 0 is the start.
AfterId = Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="`next` of the previous page")]
# No table holds more rows than it has ids.
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
