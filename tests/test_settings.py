"""Settings: defaults that make the embedded mode work, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("BUDKAVLE_PUBLIC_URL", "ftp://nyheter.example", "http", id="public-url"),
        pytest.param("BUDKAVLE_FEED_SIZE", "femtio", "integer", id="feed-size-type"),
        pytest.param("BUDKAVLE_FEED_SIZE", "0", "greater than", id="feed-size-range"),
        pytest.param("BUDKAVLE_TIME_ZONE", "Europe/Borlänge", "unknown time zone", id="zone"),
        pytest.param("BUDKAVLE_LANGUAGES", " , ", "at least one", id="languages"),
        pytest.param("BUDKAVLE_LOG_LEVEL", "chatty", "DEBUG", id="log-level"),
        pytest.param("BUDKAVLE_ACCENT_COLOR", "röd", "#9b1c1c", id="accent-colour"),
        pytest.param("BUDKAVLE_ACCENT_COLOR", "#9b1c1c;x", "#9b1c1c", id="accent-injection"),
        pytest.param("BUDKAVLE_LOGO_URL", "javascript:alert(1)", "http", id="logo-url"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{variable}={value!r}: ")
    assert "\n" not in str(raised.value)
    assert message in str(raised.value)


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REDIS_URL", "DATABASE_URL", "ADMIN_TOKEN", "SECRET_KEY"):
        monkeypatch.delenv(f"BUDKAVLE_{name}", raising=False)
    monkeypatch.setenv("BUDKAVLE_DATA_DIR", str(tmp_path / "var"))
    settings = Settings()
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'var' / 'budkavle.db'}"
    assert settings.broker_url == f"redis+socket://{tmp_path / 'var' / 'redis.sock'}"
    assert settings.redis_client_url == f"unix://{tmp_path / 'var' / 'redis.sock'}"
    token = settings.resolved_admin_token()
    assert len(token) >= 32
    assert settings.resolved_admin_token() == token, "generated once, then kept"
    assert (tmp_path / "var" / "admin-token").stat().st_mode & 0o777 == 0o600
    assert settings.resolved_secret_key() != token


def test_a_long_data_dir_still_gets_a_usable_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deep = tmp_path / ("hemlig-mapp-" * 12)
    monkeypatch.setenv("BUDKAVLE_DATA_DIR", str(deep))
    socket = Settings().redis_socket
    assert len(str(socket)) <= 100
    assert socket.name.startswith("budkavle-")
