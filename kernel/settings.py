"""All configuration: typed groups read from ``SCANGUARD_*`` variables in one place.

Each group is a frozen pydantic model declaring its fields once (type, default, meaning);
``Settings.from_env`` reads every group from the environment with pydantic-settings, so
parsing and validation are the library's (a malformed number or boolean is a start-up
error naming the variable). Tests and tools build ``Settings`` directly, which reads no
environment at all.

No secret has a production default, and production is the default: ``SCANGUARD_ENV`` unset
means ``production``, where a missing secret is a start-up error naming every missing variable.
Only an explicit ``development`` (``make run``) or ``test`` generates missing secrets, once, into
``var/dev-secrets.json``.
"""

from __future__ import annotations

import json
import os
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

from kernel.partitions import PartitionSettings
from kernel.secret_values import (
    ConfigurationError,
    dev_secrets,
    parse_keyring,
    parse_secrets_keys,
)
from kernel.settings_base import Environment, IPNetwork, networks
from kernel.settings_base import Group as _Group

__all__ = [
    "AuthSettings",
    "ChannelSettings",
    "ConfigurationError",
    "DatabaseSettings",
    "GatewaySettings",
    "LogSettings",
    "LoyaltySettings",
    "NotificationSettings",
    "PartitionSettings",
    "RedisSettings",
    "Settings",
    "StreamSettings",
    "WeChatSettings",
    "environment_table",
    "parse_keyring",
    "parse_secrets_keys",
    "provide_settings",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/scanguard.db"
MEMORY_REDIS_URL = "memory://"


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
    replica_url: str | None = Field(
        None,
        description="a streaming replica of the same database: console, statistics, traces and "
        "exports read from it (unset: everything on the primary)",
    )

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
    # Login limits (kernel.login_limits): failures per window lock the account or the IP for
    # a back-off that doubles per lock up to the cap, so no one is locked out for good.
    login_failures_per_account: int = Field(5, ge=1, description="failed logins per username")
    login_failures_per_ip: int = Field(20, ge=1, description="failed logins per client IP")
    login_window_s: int = Field(900, gt=0, description="window the login failures count in")
    login_lockout_s: int = Field(60, gt=0, description="first lock; doubles with each lock")
    login_lockout_max_s: int = Field(900, gt=0, description="longest lock (back-off cap)")
    code_keyring: Annotated[dict[int, bytes], NoDecode] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("SCANGUARD_CODE_KEYS"),
        description="kid:base64,... or JSON or @file; kid 1..4095, secrets >= 32 bytes",
    )

    secrets_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=AliasChoices("SCANGUARD_SECRETS_KEY"),
        description="Fernet keys encrypting stored webhook secrets: newest,older,... (or @file)",
    )

    @field_validator("code_keyring", mode="before")
    @classmethod
    def _keyring(cls, value: Any) -> Any:
        return parse_keyring(value) if isinstance(value, str) else value

    @field_validator("secrets_keys", mode="before")
    @classmethod
    def _secrets_keys(cls, value: Any) -> Any:
        return parse_secrets_keys(value) if isinstance(value, str) else value


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
    server_workers: int = Field(
        1,
        ge=1,
        description="server processes (`serve --workers` sets it); while Redis is down each "
        "enforces 1/N of the scan limits in-process",
    )
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
        return networks(value)


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
    # The only way a webhook may reach a non-public address (kernel.addresses), in any mode:
    # tests list their local receivers (127.0.0.1/32), nothing else should.
    webhook_allowed_networks: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        (),
        description="networks webhooks may reach although not public (comma-separated CIDRs)",
    )

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _allowed(cls, value: Any) -> Any:
        return networks(value)


class StreamSettings(_Group):
    """The scan event stream to NATS JetStream (``scanguard stream run``, docs/streaming.md)."""

    ENV_PREFIX: ClassVar[str] = "SCANGUARD_NATS_"

    url: str = Field("nats://127.0.0.1:4222", description="NATS server(s), comma-separated")
    stream_name: str = Field(
        "SCANGUARD",
        validation_alias=AliasChoices("SCANGUARD_NATS_STREAM"),
        description="JetStream stream (created or updated at start); also names the cursors",
    )
    subject_prefix: str = Field(
        "scanguard", description="subjects are <prefix>.<brand>.<scan|alert|recall|claim>"
    )
    max_age_days: float = Field(30.0, ge=0, description="messages older are dropped (0: never)")
    duplicate_window_s: float = Field(
        120.0, gt=0, description="a re-published message id within this is stored once"
    )
    replicas: int = Field(1, ge=1, le=5, description="stream replicas (a NATS cluster: 3)")
    batch_size: int = Field(500, ge=1, le=10_000, description="rows read and published per step")
    poll_interval_s: float = Field(0.5, gt=0, description="idle wait between empty steps")
    publish_timeout_s: float = Field(5.0, gt=0, description="per publish acknowledgement")


class LogSettings(_Group):
    ENV_PREFIX: ClassVar[str] = "SCANGUARD_LOG_"

    level: str = Field("INFO", description="structlog level")
    json_lines: bool = Field(
        False, validation_alias=AliasChoices("SCANGUARD_LOG_JSON"), description="JSON log lines"
    )
    # SQL statement parameters can hold secrets (webhook secrets, password hashes): hidden
    # from every log and error message unless a developer asks for them.
    sql_parameters: bool = Field(
        False, description="1: SQL errors and echo show statement parameters (debugging only)"
    )


class _Top(_Group):
    env: Environment = Field(
        "production",
        description="development (make run) or test: missing secrets are generated; "
        "production: refuses to start without JWT_SECRET, CODE_KEYS and SECRETS_KEY",
    )
    var_dir: Path = Field(Path("var"), description="development secrets and demo state")


class Settings(BaseModel):
    """Typed, immutable configuration passed to the app factory, the worker and the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Environment = "production"
    var_dir: Path = Path("var")
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    auth: AuthSettings = AuthSettings()
    gateway: GatewaySettings = GatewaySettings()
    channel: ChannelSettings = ChannelSettings()
    wechat: WeChatSettings = WeChatSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    notifications: NotificationSettings = NotificationSettings()
    stream: StreamSettings = StreamSettings()
    log: LogSettings = LogSettings()
    partitions: PartitionSettings = PartitionSettings()

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
        """Read ``SCANGUARD_*`` variables; generate missing secrets outside production only.

        Every group is read first, so a malformed value is reported before missing secrets.
        """
        top = _Top.from_env()
        auth = AuthSettings.from_env()
        settings = cls(
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
            stream=StreamSettings.from_env(),
            log=LogSettings.from_env(),
            partitions=PartitionSettings.from_env(),
        )
        if top.env == "production":
            _require_production_secrets(auth)
        elif not auth.jwt_secret or not auth.code_keyring or not auth.secrets_keys:
            dev = dev_secrets(top.var_dir)
            auth = auth.model_copy(
                update={
                    "jwt_secret": auth.jwt_secret or str(dev["jwt_secret"]).encode(),
                    "code_keyring": auth.code_keyring
                    or parse_keyring(json.dumps(dev["code_keys"])),
                    "secrets_keys": auth.secrets_keys or (str(dev["secrets_key"]),),
                }
            )
            settings = settings.model_copy(update={"auth": auth})
        return settings


def _require_production_secrets(auth: AuthSettings) -> None:
    """Refuse to start in production with any secret missing, naming all of them at once."""
    missing = []
    if len(auth.jwt_secret) < 32:
        missing.append("SCANGUARD_JWT_SECRET (>= 32 bytes)")
    if not auth.code_keyring:
        missing.append("SCANGUARD_CODE_KEYS (kid:base64,...)")
    if not auth.secrets_keys:
        missing.append("SCANGUARD_SECRETS_KEY (a Fernet key)")
    if not missing:
        return
    why = (
        "SCANGUARD_ENV is not set, so this is production"
        if "SCANGUARD_ENV" not in os.environ
        else "SCANGUARD_ENV=production"
    )
    raise ConfigurationError(
        f"{why}, and production needs secrets that are missing: {', '.join(missing)}. "
        "Set them, or set SCANGUARD_ENV=development for a local server with generated secrets "
        "(make run does)."
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
    if value in (None, "", b"", {}, ()):
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
