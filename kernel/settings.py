"""All configuration: typed groups read from ``SCANGUARD_*`` variables in one place.

Each group is a frozen pydantic model declaring its fields once (type, default, meaning);
``Settings.from_env`` reads every group from the environment with pydantic-settings, so
parsing and validation are the library's (a malformed number or boolean is a start-up
error naming the variable). Tests and tools build ``Settings`` directly, which reads no
environment at all.

No secret has a production default: in ``development`` missing secrets are generated once
into ``var/dev-secrets.json``; in ``production`` a missing secret is a start-up error.
"""

from __future__ import annotations

import base64
import json
import secrets
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "AuthSettings",
    "ChannelSettings",
    "ConfigurationError",
    "DatabaseSettings",
    "GatewaySettings",
    "LogSettings",
    "LoyaltySettings",
    "NotificationSettings",
    "RedisSettings",
    "Settings",
    "WeChatSettings",
    "environment_table",
    "parse_keyring",
    "provide_settings",
]

Environment = Literal["development", "test", "production"]
IPNetwork = IPv4Network | IPv6Network
G = TypeVar("G", bound="_Group")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/scanguard.db"
MEMORY_REDIS_URL = "memory://"


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def parse_keyring(raw: str) -> dict[int, bytes]:
    """Parse code keys: JSON ``{"kid": "base64 secret"}`` or ``kid:base64,kid:base64``.

    A value starting with ``@`` names a file holding either form (for mounted secrets).
    """
    text = raw.strip()
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8").strip()
    pairs: list[tuple[str, str]]
    if text.startswith("{"):
        pairs = [(str(k), str(v)) for k, v in json.loads(text).items()]
    else:
        pairs = []
        for item in filter(None, (p.strip() for p in text.split(","))):
            kid, sep, secret = item.partition(":")
            if not sep:
                raise ConfigurationError(f"code key {item[:8]}...: expected kid:base64secret")
            pairs.append((kid, secret))
    keyring: dict[int, bytes] = {}
    for kid_text, secret_b64 in pairs:
        try:
            key_id = int(kid_text)
            key_secret = base64.b64decode(secret_b64, validate=True)
        except ValueError as exc:
            raise ConfigurationError(f"code key {kid_text!r}: {exc}") from exc
        if not 1 <= key_id <= 4095:
            raise ConfigurationError(f"code key id {key_id} outside 1..4095")
        if len(key_secret) < 32:
            raise ConfigurationError(f"code key {key_id}: secret must be at least 32 bytes")
        keyring[key_id] = key_secret
    return keyring


class _Group(BaseModel):
    """A settings group: frozen, no unknown fields; ``ENV_PREFIX`` names its variables."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_"

    @classmethod
    def from_env(cls: type[G]) -> G:
        """This group read from ``ENV_PREFIX + FIELD`` variables (unset or empty: default)."""
        loader = type(
            f"{cls.__name__}FromEnv",
            (BaseSettings, cls),
            {
                "model_config": SettingsConfigDict(
                    env_prefix=cls.ENV_PREFIX,
                    env_ignore_empty=True,
                    extra="ignore",
                    frozen=True,
                    case_sensitive=False,
                )
            },
        )
        try:
            values = loader().model_dump()
        except ValidationError as exc:
            problems = "; ".join(f"{_variable(cls, e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(problems) from exc
        return cls.model_validate(values)


def _variable(group: type[_Group], loc: tuple[int | str, ...]) -> str:
    name = "_".join(str(part) for part in loc).upper()
    return name if name.startswith("SCANGUARD_") else group.ENV_PREFIX + name


def _networks(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip())
    return value


class DatabaseSettings(_Group):
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_DATABASE_"

    url: str = Field(
        DEFAULT_DATABASE_URL, description="SQLAlchemy async URL (SQLite or PostgreSQL)"
    )
    search_path: str | None = Field(
        None,
        validation_alias=AliasChoices("SCANGUARD_DATABASE_SCHEMA"),
        description="PostgreSQL search_path (the test suite isolates itself this way)",
    )
    pool_size: int = Field(10, ge=1, description="connections per process (and as many overflow)")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class RedisSettings(_Group):
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_REDIS_"

    url: str = Field(
        MEMORY_REDIS_URL, description="redis:// URL, or memory:// for the embedded store"
    )
    prefix: str = Field("sg:", description="every key starts with this (shared Redis, tests)")
    timeout_s: float = Field(0.25, gt=0, description="a call slower than this counts as Redis down")
    retry_after_s: float = Field(2.0, gt=0, description="after a failure, skip Redis this long")

    @property
    def is_embedded(self) -> bool:
        return self.url.startswith("memory://")


class AuthSettings(_Group):
    jwt_secret: bytes = Field(b"", description="HS256 secret for every token (>= 32 bytes)")
    jwt_access_ttl_s: int = Field(900, gt=0, description="admin and distributor access tokens")
    code_keyring: Annotated[dict[int, bytes], NoDecode] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("SCANGUARD_CODE_KEYS"),
        description="kid:base64,... or JSON or @file; kid 1..4095, secrets >= 32 bytes",
    )

    @field_validator("code_keyring", mode="before")
    @classmethod
    def _keyring(cls, value: Any) -> Any:
        return parse_keyring(value) if isinstance(value, str) else value


class GatewaySettings(_Group):
    resolver_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="host printed in exported Digital Links (https://id.brand.com in production)",
    )
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        (ip_network("127.0.0.1/32"), ip_network("::1/128")),
        description="peers whose X-Forwarded-For is believed (comma-separated networks)",
    )
    rate_limit_ip_per_minute: int = Field(120, ge=1, description="scans per client IP per minute")
    rate_limit_device_per_minute: int = Field(30, ge=1, description="scans per device per minute")
    counterfeit_ip_per_minute: int = Field(
        60, ge=1, description="in-process: forged codes cost no I/O"
    )
    metadata_cache_ttl_s: float = Field(
        30.0,
        gt=0,
        description="in-process roll metadata lifetime (pub/sub invalidation is immediate)",
    )
    metadata_cache_size: int = Field(
        100_000, ge=1, description="rolls kept in the in-process cache"
    )
    scanlog_flush_interval_s: float = Field(
        0.005, gt=0, description="group-commit window of the scan log"
    )
    scanlog_max_batch: int = Field(500, ge=1, description="scans per group commit at most")
    suspicious_distinct_devices: int = Field(
        5, ge=1, description="default clone threshold (a brand may set its own)"
    )
    geoip_database: str | None = Field(
        None, description="MaxMind-format City database; without it IP location is off"
    )
    scan_fast_path: bool = Field(
        True, description="POST /v1/scans answered ahead of Litestar (same contract)"
    )

    @field_validator("resolver_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        return _networks(value)


class ChannelSettings(_Group):
    # Two scans of one code farther apart than this speed allows (after subtracting both
    # positions' uncertainty) make the code suspicious: faster than an airliner door to door.
    impossible_travel_kmh: float = Field(
        900.0, gt=0, description="faster than this between two scans of a code: suspicious"
    )
    # Off only to measure their cost (SCANGUARD_CHANNEL_CHECKS=0).
    channel_checks: bool = Field(
        True, description="0: no destination lookup / diversion signals on the scan path"
    )
    diversion_flush_interval_s: float = Field(
        5.0, gt=0, description="buffered diversion signals and tallies are written this often"
    )


class WeChatSettings(_Group):
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_WECHAT_"

    api_base_url: str = Field(
        "https://api.weixin.qq.com", description="WeChat API (code2session, tokens, messages)"
    )
    app_id: str = Field("", description="the mini-program's AppID")
    app_secret: str = Field("", description="the mini-program's AppSecret")
    timeout_s: float = Field(3.0, gt=0, description="per WeChat call; a timeout is a 504 problem")
    recall_template_id: str = Field("", description="subscribe-message template; empty: no sends")

    @field_validator("api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class LoyaltySettings(_Group):
    consumer_token_ttl_s: int = Field(7200, gt=0, description="consumer token lifetime")
    points_ttl_days: int = Field(
        365, ge=0, description="points expire this long after credit (0: never)"
    )
    pin_failures_per_consumer: int = Field(
        5, ge=1, description="wrong PINs per window, per consumer"
    )
    pin_failures_per_code: int = Field(10, ge=1, description="... and per code (across consumers)")
    pin_failure_window_s: int = Field(3600, gt=0, description="window of the two PIN limits")
    # Fraud holds: a claim is held for review when, within the window, the consumer already
    # made this many claims from one shipment/batch, or its IP / device made this many claims.
    fraud_window_s: int = Field(600, gt=0, description="window of the three claim-hold limits")
    fraud_group_max_claims: int = Field(
        5, ge=1, description="claims per consumer from one case/shipment"
    )
    fraud_ip_max_claims: int = Field(20, ge=1, description="claims per IP")
    fraud_device_max_claims: int = Field(10, ge=1, description="claims per device")
    payout_api_base_url: str = Field("", description="the payment platform (cash red envelopes)")
    payout_rate_per_s: float = Field(25.0, gt=0, description="WeChat Pay allows about 30/s")
    payout_timeout_s: float = Field(5.0, gt=0, description="per payout call")

    @field_validator("payout_api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class NotificationSettings(_Group):
    outbox_poll_interval_s: float = Field(
        1.0, gt=0, description="idle poll of the outbox and due deliveries"
    )
    webhook_timeout_s: float = Field(
        5.0, gt=0, description="per attempt; a claimed delivery's lease is twice this (min +1 s)"
    )
    # Attempts, then the delivery is dead-lettered (manual replay). 20 with full jitter on
    # 2 s doubling up to 1 h spans ~4.5 h on average (an hour-long outage misses nothing).
    webhook_max_attempts: int = Field(20, ge=1, description="then dead (replay by hand)")
    webhook_backoff_base_s: float = Field(
        2.0, gt=0, description="full-jitter exponential backoff base"
    )
    webhook_backoff_max_s: float = Field(3600.0, gt=0, description="backoff cap")
    worker_in_process: bool = Field(
        False,
        validation_alias=AliasChoices("SCANGUARD_NOTIFICATION_WORKER"),
        description="1: the server runs the notification delivery worker too",
    )


class LogSettings(_Group):
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_LOG_"

    level: str = Field("INFO", description="structlog level")
    json_lines: bool = Field(
        False, validation_alias=AliasChoices("SCANGUARD_LOG_JSON"), description="JSON log lines"
    )


class _Top(_Group):
    env: Environment = Field(
        "development",
        description="production: refuses to start without JWT_SECRET and CODE_KEYS",
    )
    var_dir: Path = Field(Path("var"), description="development secrets and demo state")


class Settings(BaseModel):
    """Typed, immutable configuration passed to the app factory, the worker and the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Environment = "development"
    var_dir: Path = Path("var")
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    auth: AuthSettings = AuthSettings()
    gateway: GatewaySettings = GatewaySettings()
    channel: ChannelSettings = ChannelSettings()
    wechat: WeChatSettings = WeChatSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    notifications: NotificationSettings = NotificationSettings()
    log: LogSettings = LogSettings()

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some values replaced: ``env=...`` or ``group={"field": value}``."""
        update: dict[str, Any] = {}
        for name, value in changes.items():
            current = getattr(self, name)
            if isinstance(current, _Group) and isinstance(value, dict):
                value = type(current).model_validate({**current.model_dump(), **value})
            update[name] = value
        return type(self).model_validate({**dict(self), **update})

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SCANGUARD_*`` variables; fill development secrets in development only."""
        top = _Top.from_env()
        auth = AuthSettings.from_env()
        if top.env == "production":
            if len(auth.jwt_secret) < 32:
                raise ConfigurationError("SCANGUARD_JWT_SECRET must be set (>= 32 bytes)")
            if not auth.code_keyring:
                raise ConfigurationError("SCANGUARD_CODE_KEYS must be set (kid:base64,...)")
        elif not auth.jwt_secret or not auth.code_keyring:
            dev = _dev_secrets(top.var_dir)
            auth = auth.model_copy(
                update={
                    "jwt_secret": auth.jwt_secret or str(dev["jwt_secret"]).encode(),
                    "code_keyring": auth.code_keyring
                    or parse_keyring(json.dumps(dev["code_keys"])),
                }
            )
        return cls(
            env=top.env,
            var_dir=top.var_dir,
            database=DatabaseSettings.from_env(),
            redis=RedisSettings.from_env(),
            auth=auth,
            gateway=GatewaySettings.from_env(),
            channel=ChannelSettings.from_env(),
            wechat=WeChatSettings.from_env(),
            loyalty=LoyaltySettings.from_env(),
            notifications=NotificationSettings.from_env(),
            log=LogSettings.from_env(),
        )


def environment_table() -> list[tuple[str, str, str]]:
    """``(variable, default, meaning)`` for every setting, in declaration order (the settings
    table of docs/operations.md is rendered from this)."""
    rows: list[tuple[str, str, str]] = []
    groups: list[type[_Group]] = [_Top]
    for field in Settings.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, _Group):
            groups.append(field.annotation)
    for group in groups:
        for name, info in group.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                variable = str(alias.choices[0])
            else:
                variable = f"{group.ENV_PREFIX}{name}".upper()
            default = info.get_default(call_default_factory=True)
            rows.append((variable, _shown(default), info.description or ""))
    return rows


def _shown(value: Any) -> str:
    if value in (None, "", b"", {}):
        return "—"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def provide_settings(state: Any) -> Settings:
    """The app's Settings, from the application state."""
    settings: Settings = state.settings
    return settings


def _dev_secrets(var_dir: Path) -> dict[str, object]:
    """Random secrets for a development install, created once and kept under var/."""
    path = var_dir / "dev-secrets.json"
    if path.exists():
        data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
        return data
    var_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "jwt_secret": secrets.token_urlsafe(48),
        "code_keys": {
            str(kid): base64.b64encode(secrets.token_bytes(32)).decode() for kid in range(1, 65)
        },
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return data
