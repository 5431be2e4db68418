"""The admin API's bearer token."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from config import get_settings

# Named, so the OpenAPI schema tells this token from a partner's pull key.
_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken", description="BUDKAVLE_ADMIN_TOKEN")


def require_admin(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> None:
    expected = get_settings().resolved_admin_token()
    given = credentials.credentials if credentials else ""
    # compare_digest: the time taken does not tell how much of a guess was right.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer <BUDKAVLE_ADMIN_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
