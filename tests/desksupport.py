"""A browser-like client of the desk for tests: keeps its cookies, finds CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

import httpx

from newsroom import users
from newsroom.db import session_scope
from newsroom.deskmodels import Role
from newsroom.models import utcnow
from tests.support import Server

PASSWORD = "Korrekt häst batteri"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_user(login: str, role: Role, name: str = "Åsa Lindqvist") -> int:
    with session_scope() as session:
        user, _ = users.add(session, login, role, utcnow(), name, PASSWORD)
        return user.id


class Desk:
    def __init__(self, server: Server, language: str = "en") -> None:
        self.client = server.client
        self.cookies: dict[str, str] = {}
        self.language = language
        self.csrf = ""

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"accept-language": self.language, **(extra or {})}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";")[0]
            if "max-age=0" in line.lower() or value in ("", '""'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._keep(self.client.get(path, headers=self._headers(headers)))

    def post(
        self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        body = {**({"csrf": self.csrf} if csrf else {}), **(data or {})}
        headers = self._headers(kwargs.pop("headers", None))
        return self._keep(self.client.post(path, data=body, headers=headers, **kwargs))

    def sign_in(
        self, login: str, password: str = PASSWORD, next_path: str = "/desk"
    ) -> httpx.Response:
        self.get("/desk/login")
        answer = self.post("/desk/login", {"login": login, "password": password, "next": next_path})
        if answer.status_code == 303:
            self.get("/desk")  # the session's own CSRF token, from its sign-out form
        return answer
