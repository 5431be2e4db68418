"""A body over a limit gets a 413 that the client actually reads, from curl and from
Python's urllib, with a Content-Length and chunked, whichever limit it is over.

The body is far larger than the socket buffers of loopback: a server that answered and
closed without reading it would make urllib see "connection reset" instead of the 413
(RFC 9112 §9.6), which is what these cases caught before web/bodies.py.
"""

from __future__ import annotations

import dataclasses
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import get_settings
from tests.support import Server

# No case reaches the database: one is enough.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

MiB = 1024 * 1024
BODY_BYTES = 24 * MiB  # many times what loopback buffers before the sender blocks


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    path: str
    content_type: str
    max_request_bytes: int  # BUDKAVLE_MAX_REQUEST_BYTES
    says: str  # in the body of the 413


CASES = [
    # Over the server's limit: web.middleware.BodyLimit answers, in JSON, for any path.
    Case("api-over-server-limit", "/api/articles", "application/json", MiB,
         f'"msg":"request body over {MiB} bytes"'),
    Case("form-over-server-limit", "/subscribe", "application/x-www-form-urlencoded", MiB,
         f'"msg":"request body over {MiB} bytes"'),
    # Under the server's limit, over the form's own: the route answers, in its own style.
    Case("subscribe-over-form-limit", "/subscribe", "application/x-www-form-urlencoded",
         64 * MiB, "mycket större än det här formuläret"),
    Case("websub-over-form-limit", "/websub", "application/x-www-form-urlencoded", 64 * MiB,
         "body: over 8192 bytes"),
]  # fmt: skip


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bodies") / "stor-kropp.bin"
    path.write_bytes(b"a=" + "å".encode() * (BODY_BYTES // 2))
    return path


@pytest.fixture
def limited(
    request: pytest.FixtureRequest, db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    case: Case = request.param
    monkeypatch.setenv("BUDKAVLE_MAX_REQUEST_BYTES", str(case.max_request_bytes))
    get_settings.cache_clear()
    from web.app import create_app

    with Server.running(create_app()) as server:
        yield server
    monkeypatch.undo()
    get_settings.cache_clear()


def by_curl(url: str, case: Case, body: Path, chunked: bool) -> tuple[int, str]:
    framing = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    answer = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", "30",
         "-H", "Authorization: Bearer test-admin-token", "-H", "Accept-Language: sv",
         "-H", f"Content-Type: {case.content_type}", *framing,
         "--data-binary", f"@{body}", url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    text, _, status = answer.stdout.rpartition("\n")
    return int(status), text


def by_urllib(url: str, case: Case, body: Path, chunked: bool) -> tuple[int, str]:
    data = body.read_bytes()
    # An iterable body has no length: urllib sends it chunked (Transfer-Encoding: chunked).
    payload = (data[i : i + MiB] for i in range(0, len(data), MiB)) if chunked else data
    headers = {"Authorization": "Bearer test-admin-token", "Accept-Language": "sv",
               "Content-Type": case.content_type}  # fmt: skip
    request = urllib.request.Request(url, data=payload, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


CLIENTS = [pytest.param(by_curl, id="curl"), pytest.param(by_urllib, id="urllib")]
FRAMINGS = [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")]


@pytest.mark.parametrize("chunked", FRAMINGS)
@pytest.mark.parametrize("send", CLIENTS)
@pytest.mark.parametrize(
    ("limited", "case"), [pytest.param(case, case, id=case.name) for case in CASES],
    indirect=["limited"],
)  # fmt: skip
def test_the_client_reads_the_413(
    limited: Server, case: Case, send: object, chunked: bool, big_file: Path
) -> None:
    assert callable(send)
    status, text = send(limited.base_url + case.path, case, big_file, chunked)
    assert status == 413, text[:300]
    assert case.says in text
