"""Errors as JSON that names the field and the rule, and never echoes the input back."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from newsroom.errors import DomainError
from web.ratelimit import RateLimited, retry_after


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
    # FastAPI reports a body that json.loads raised on with anything but JSONDecodeError as
    # a bare 400 "error parsing the body"; say what is wrong, like any other invalid JSON.
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return problem(422, "body", "must be JSON encoded as UTF-8 (RFC 8259 §8.1)")
    if isinstance(exc.__cause__, RecursionError):
        return problem(422, "body", "must be JSON nested less deeply")
    return await http_exception_handler(request, exc)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem(exc.status, exc.field, exc.message)


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
    app.add_exception_handler(RateLimited, _rate_limited)
