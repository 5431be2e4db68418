"""The production stack is checked, not only written: docker-compose.yml against the
Compose Specification's JSON schema (the copy check-jsonschema ships), every image pinned,
every BUDKAVLE_* it sets known to the settings table, and the image built from the lock.

No Docker engine runs here: nothing is built or started (README, "Production stack: what
was checked").
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import Settings

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# An exact release: major.minor at least (PostgreSQL numbers its releases 16.13), an
# optional patch and suffix; never a floating "16", "7" or "latest".
EXACT_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?(-[0-9A-Za-z.]+)?$")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # resolves <<: merges
    return loaded


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    # As CI or a pre-commit hook would run it; the schema is vendored, no network needed.
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
               "vendor.compose-spec", str(path)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        pytest.param("misspelt-key", {"restartt": "always"}, id="misspelt-key"),
        pytest.param("ports-not-a-list", {"ports": {"web": 8000}}, id="ports-not-a-list"),
        pytest.param("bad-condition", {"depends_on": {"redis": {"condition": "service_ok"}}},
                     id="bad-depends-on-condition"),
    ],
)  # fmt: skip
def test_the_schema_check_refuses_a_broken_compose_file(
    tmp_path: Path, name: str, broken: dict[str, Any]
) -> None:
    # The check can fail: the same file with one mistake in the web service is refused.
    document = compose()
    document["services"]["web"].update(broken)
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(document))
    result = check_jsonschema(path)
    assert result.returncode != 0, f"{name} passed the schema"
    assert "services.web" in result.stdout + result.stderr


def test_every_image_is_pinned_to_an_exact_release() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    services = compose()["services"]
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: no image named"
        repository, _, tag = image.rpartition(":")
        assert repository and "@" not in image, f"{name}: {image} has no tag"
        assert EXACT_TAG.match(tag), f"{name}: {image} is not pinned to an exact release"
        if "build" in service:  # built here: tagged with the package's own version
            assert tag == version, f"{name}: {image}, but the package is {version}"


def test_every_budkavle_variable_in_the_stack_is_a_setting() -> None:
    known = {f"BUDKAVLE_{name.upper()}" for name in Settings.model_fields}
    document = compose()
    found: dict[str, str] = {}
    for name, service in document["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):  # the "KEY=value" form
            environment = dict(item.partition("=")[::2] for item in environment)
        found.update({key: name for key in environment if key.startswith("BUDKAVLE_")})
    found.update(
        {key: "Dockerfile" for key in re.findall(r"\b(BUDKAVLE_[A-Z_]+)=", DOCKERFILE.read_text())}
    )
    assert "BUDKAVLE_DATABASE_URL" in found, "the stack sets no BUDKAVLE_* at all?"
    unknown = {key: where for key, where in found.items() if key not in known}
    assert not unknown, f"not in config.Settings (so silently ignored): {unknown}"


def test_the_image_installs_from_the_lock_with_hashes() -> None:
    steps = DOCKERFILE.read_text().replace("\\\n", " ")
    installs = re.findall(r"^RUN .*pip install .*$", steps, re.M)
    assert len(installs) == 2, installs
    locked, project = installs
    # Every dependency from requirements.txt, each checked against its hash...
    assert "--require-hashes" in locked and "-r requirements.txt" in locked
    # ...and the project itself with no dependency resolved anew, nor a build backend
    # fetched outside the lock.
    assert "--no-deps" in project and "--no-build-isolation" in project
    assert re.search(r"^COPY requirements\.txt ", steps, re.M)
    lock = (ROOT / "requirements.txt").read_text()
    pins = re.findall(r"^([a-z0-9._-]+)==\S+ \\$", lock, re.M)
    hashes = re.findall(r"--hash=sha256:[0-9a-f]{64}", lock)
    assert pins and len(hashes) >= len(pins), "every pin in the lock carries its hash"
