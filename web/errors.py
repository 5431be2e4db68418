"""Errors as JSON that names the field and the rule, and never echoes the input back."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from newsroom.articles import ArticleError


def problem(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"field": field, "msg": message, "loc": ["body", field]}]},
        status_code=status,
    )


def _field_of(loc: tuple[object, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        detail.append(
            {"field": _field_of(tuple(error["loc"])), "msg": message, "loc": list(error["loc"])}
        )
    return JSONResponse({"detail": detail}, status_code=422)


async def _article_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ArticleError)
    return problem(exc.status, exc.field, exc.message)


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    # Two requests raced for the same slug; the loser changed nothing and may retry.
    return problem(409, "slug", "taken by a request that committed first; try again")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ArticleError, _article_error)
    app.add_exception_handler(IntegrityError, _integrity)
