"""Property-based fuzzing of the admin and partner API from its own OpenAPI schema
(schemathesis, on hypothesis), against the real app on a loopback port: no 5xx, and no
answer that contradicts the schema (an undocumented status, a body or header or content
type other than documented).

Bounded for CI: a fixed number of examples per operation, derandomized (the same cases
every run), on PostgreSQL only, the stricter of the two databases (it refuses what
SQLite lets through: out-of-range integers, NUL in text).

Two checks stay off, each for a reason of design, not of convenience:
- positive_data_acceptance: the schema cannot say every rule (exactly one of body_html
  and body_markdown; an address must be deliverable; a tag must exist), so a request the
  schema allows may rightly get a 422 that names the field.
- use_after_free: DELETE /api/articles/{slug} retracts; the article stays, marked
  retracted, so feeds can carry its RFC 6721 tombstone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config import get_settings
from tests.support import ADMIN, Server, article

pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)

ADMIN_TOKEN = ADMIN["Authorization"].removeprefix("Bearer ")
# Per operation and mode (schema-valid, schema-invalid): about 8 s a database here. For a
# longer hunt: FUZZ_EXAMPLES=500 pytest tests/test_api_fuzz.py
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def fuzzed(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The app, with a partner that has a pull key and an article for it to pull."""
    # Hundreds of pulls from one address in seconds are the point here, not abuse.
    monkeypatch.setenv("BUDKAVLE_PARTNER_PULL_RATE_PER_MINUTE", "0")
    get_settings.cache_clear()
    from web.app import create_app

    with Server.running(create_app()) as server:
        published = server.client.post("/api/articles", json=article(), headers=ADMIN)
        assert published.status_code == 201, published.text
        partner = {"name": "Borlänge kommun", "tags": ["Borlänge"]}
        created = server.client.post("/api/partners", json=partner, headers=ADMIN)
        server.pull_key = created.json()["pull_key"]  # type: ignore[attr-defined]
        yield server
    monkeypatch.undo()
    get_settings.cache_clear()


def operations(server: Server) -> list[APIOperation]:
    # The schema names both tokens (web/auth.py, web/partners.py): schemathesis sends each
    # where it belongs, and a schema-invalid case may leave it out or mangle it (then 401).
    pull_key: str = server.pull_key  # type: ignore[attr-defined]
    auth = {"AdminToken": {"bearer": ADMIN_TOKEN}, "PartnerKey": {"bearer": pull_key}}
    config = schemathesis.Config.from_dict({"auth": {"openapi": auth}})
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=config)
    selected = schema.include(path_regex=r"^/api/")
    return [result.ok() for result in selected.get_all_operations()]


def test_the_api_keeps_to_its_schema(fuzzed: Server) -> None:
    found = operations(fuzzed)
    assert len(found) >= 15, [operation.label for operation in found]
    failures: dict[str, str] = {}
    answers: dict[str, set[int]] = {}
    for operation in found:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            statuses = answers.setdefault(f"{operation.label} ({mode})", set())
            try:
                fuzz(operation, mode, fuzzed.base_url, statuses)
            except Unsatisfiable:
                # Nothing of it can be schema-invalid (POST /api/bounces/{provider} takes any
                # string and any body): only its positive cases can run.
                if mode is not GenerationMode.NEGATIVE:
                    failures[f"{operation.label} ({mode})"] = "no case could be made"
            except Exception as failure:  # reported below, with every other operation
                failures[f"{operation.label} ({mode})"] = str(failure)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    # The tokens went where they belong: no operation answered only 401 to valid requests.
    locked_out = [label for label, seen in answers.items() if "positive" in label and seen == {401}]
    assert not locked_out, locked_out


def fuzz(operation: APIOperation, mode: GenerationMode, base_url: str, seen: set[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same cases on every run: CI stays stable
        database=None,  # nothing remembered between runs (and no .hypothesis/ folder)
        deadline=None,  # a real server on a shared machine: time is not what is checked
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=10)
        seen.add(response.status_code)

    run()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("PATCH", "/api/articles", "GET, POST", id="articles"),
        pytest.param("POST", "/api/articles/borlange", "DELETE, GET, PUT", id="one-article"),
        pytest.param("PUT", "/api/subscribers", "GET, POST", id="subscribers"),
        pytest.param("DELETE", "/subscribe", "GET, POST", id="subscribe-page"),
    ],
)
def test_405_names_every_method_of_the_resource(
    server: Server, method: str, path: str, allow: str
) -> None:
    # RFC 9110 §15.5.6: the Allow of a 405 lists the resource's methods, not one route's.
    response = httpx.request(method, server.base_url + path, headers=ADMIN, timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
