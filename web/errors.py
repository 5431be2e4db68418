"""Errors as JSON that names the field and the rule, and never echoes the input back."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from newsroom.errors import DomainError
from web.ratelimit import RateLimited, retry_after


class FieldProblem(BaseModel):
    field: str = Field(description="What is wrong: a field of the body or a parameter, "
                       "or `body` for the whole request.")  # fmt: skip
    msg: str = Field(description="The rule it broke, e.g. `must be one line, got 2`.")
    loc: list[str | int]


class Problem(BaseModel):
    """Every error of the API: one entry per problem. A refused key or token says so in a
    plain sentence instead."""

    detail: list[FieldProblem] | str


_MEANINGS = {
    400: "The request cannot be done as asked (the field is named)",
    401: "Missing or wrong token or key",
    404: "No such row",
    403: "Signed, but not by whom it must be (a provider's topic or key)",
    409: "Conflicts with what is stored (a slug taken, a state that does not allow it)",
    410: "Older than the history kept (BUDKAVLE_OUTBOX_RETENTION_DAYS); the message says "
    "what to do instead",
    413: "Body over BUDKAVLE_MAX_REQUEST_BYTES",
    422: "A field breaks a rule (the field is named)",
    429: "Over the rate limit of this client address",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all in the Problem shape."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": Problem, "description": _MEANINGS[status]}
    if 429 in responses:
        retry = {"description": "Seconds to wait (RFC 9110 §10.2.3)", "schema": {"type": "integer"}}
        responses[429]["headers"] = {"Retry-After": retry}
    return responses


def problem(status: int, field: str, message: str) -> JSONResponse:
    loc = ["body"] if field == "body" else ["body", field]
    detail = [{"field": field, "msg": message, "loc": loc}]
    return JSONResponse({"detail": detail}, status_code=status)


def _field_of(loc: tuple[object, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        field = _field_of(tuple(error["loc"]))
        if error["type"] == "json_invalid":  # loc is ("body", character offset)
            field = "body"
            message = f"must be valid JSON: {error['ctx']['error']} at character {error['loc'][-1]}"
        detail.append({"field": field, "msg": message, "loc": list(error["loc"])})
    return JSONResponse({"detail": detail}, status_code=422)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:  # web.middleware.BodyLimit, for a body that did not say its size
        response = problem(413, "body", str(exc.detail))
        response.headers["Connection"] = "close"  # the rest of the body was not kept
        return response
    if exc.status_code == 405:
        exc = HTTPException(405, exc.detail, headers={"Allow": _allowed(request)})
    # FastAPI reports a body that json.loads raised on with anything but JSONDecodeError as
    # a bare 400 "error parsing the body"; say what is wrong, like any other invalid JSON.
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return problem(422, "body", "must be JSON encoded as UTF-8 (RFC 8259 §8.1)")
    if isinstance(exc.__cause__, RecursionError):
        return problem(422, "body", "must be JSON nested less deeply")
    return await http_exception_handler(request, exc)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> str:
    # Starlette names only the methods of the first route whose path matched; RFC 9110
    # §15.5.6 wants all that the resource supports ("GET, POST" for /api/articles). Asking
    # the router about each method sees through included routers.
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
               for route in routes)
    )  # fmt: skip


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem(exc.status, exc.field, exc.message)


async def _database_away(_: Request, exc: Exception) -> JSONResponse:
    # The database did not answer (restarting, failing over, SQLite's lock held too long):
    # the request's transaction was rolled back, so asking again is safe (RFC 9110 §15.6.4).
    response = problem(503, "database", "the database did not answer; try again shortly")
    response.headers["Retry-After"] = "5"
    return response


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    # Two requests raced for the same slug; the loser changed nothing and may retry.
    return problem(409, "slug", "taken by a request that committed first; try again")


async def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    message = (
        f"over {exc.rule.per_minute:g} requests a minute ({exc.rule.burst} at once) from "
        f"this address; retry after {retry_after(exc.wait)} s"
    )
    detail = [{"field": "rate", "msg": message, "loc": []}]
    headers = {"Retry-After": retry_after(exc.wait)}
    return JSONResponse({"detail": detail}, status_code=429, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(OperationalError, _database_away)
    app.add_exception_handler(RateLimited, _rate_limited)
