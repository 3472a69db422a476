"""All configuration, read from the environment in one place (``Settings.from_env``).

Tests and tools build ``Settings`` directly. No secret has a production default: in
``development`` (the default, used by ``make run``) missing secrets are generated once into
``var/dev-secrets.json``; in ``production`` a missing secret is a start-up error.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

__all__ = ["ConfigurationError", "Settings", "parse_keyring"]

Environment = Literal["development", "test", "production"]

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


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"SCANGUARD_{name}")
    return value if value not in (None, "") else default


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed, immutable configuration passed to the app factory and the CLI."""

    env: Environment = "development"
    # --- storage -------------------------------------------------------------------------
    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str | None = None  # PostgreSQL search_path (tests isolate by schema)
    database_pool_size: int = 10
    redis_url: str = MEMORY_REDIS_URL
    redis_prefix: str = "sg:"  # every Redis key starts with this (shared Redis, tests)
    redis_timeout_s: float = 0.25  # a Redis call slower than this counts as Redis down
    redis_retry_after_s: float = 2.0  # after a failure, skip Redis this long (circuit open)
    # --- secrets -------------------------------------------------------------------------
    jwt_secret: bytes = b""
    jwt_access_ttl_s: int = 900
    code_keyring: dict[int, bytes] = field(default_factory=dict)
    # --- public URLs ---------------------------------------------------------------------
    resolver_base_url: str = "http://127.0.0.1:8000"
    # --- scan gateway --------------------------------------------------------------------
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    rate_limit_ip_per_minute: int = 120
    rate_limit_device_per_minute: int = 30
    counterfeit_ip_per_minute: int = 60  # in-process, forged codes cost no I/O
    metadata_cache_ttl_s: float = 30.0
    metadata_cache_size: int = 100_000
    scanlog_flush_interval_s: float = 0.005
    scanlog_max_batch: int = 500
    suspicious_distinct_devices: int = 5  # default per brand, overridable on the brand
    geoip_database: str | None = None
    # POST /v1/scans answered by gateway.fastpath ahead of Litestar (same contract; off = the
    # Litestar handler serves it, e.g. to compare the two).
    scan_fast_path: bool = True
    # --- channel control -----------------------------------------------------------------
    # Two scans of one code farther apart than this speed allows (after subtracting both
    # positions' uncertainty) make the code suspicious: faster than an airliner door to door.
    impossible_travel_kmh: float = 900.0
    # Diversion checks on the scan path (destination lookup + territory test + signal buffer);
    # off only to measure their cost (SCANGUARD_CHANNEL_CHECKS=0).
    channel_checks: bool = True
    diversion_flush_interval_s: float = 5.0  # buffered signals and tallies are written this often
    # --- loyalty / WeChat ----------------------------------------------------------------
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_timeout_s: float = 3.0
    consumer_token_ttl_s: int = 7200
    points_ttl_days: int = 365  # points expire this long after they are credited (0: never)
    pin_failures_per_consumer: int = 5  # wrong scratch-off PINs per window, per consumer
    pin_failures_per_code: int = 10  # ... and per code (across consumers)
    pin_failure_window_s: int = 3600
    # Fraud holds: a claim is held for review when, within the window, the consumer already
    # made this many claims from one shipment/batch, or its IP / device made this many claims.
    fraud_window_s: int = 600
    fraud_group_max_claims: int = 5
    fraud_ip_max_claims: int = 20
    fraud_device_max_claims: int = 10
    payout_api_base_url: str = ""  # the payment platform (cash red envelopes / transfers)
    payout_rate_per_s: float = 25.0  # the platform allows tens per second (WeChat: 30/s)
    payout_timeout_s: float = 5.0
    # --- notifications (outbox delivery worker) -------------------------------------------
    outbox_poll_interval_s: float = 1.0
    webhook_timeout_s: float = 5.0
    # Attempts, then the delivery is dead-lettered (manual replay). 20 with full jitter on
    # 2 s doubling up to 1 h spans ~4.5 h on average (an hour-long outage misses nothing).
    webhook_max_attempts: int = 20
    webhook_backoff_base_s: float = 2.0
    webhook_backoff_max_s: float = 3600.0
    notification_worker_in_process: bool = False  # the server runs the worker too (demo)
    wechat_recall_template_id: str = ""  # subscribe-message template; empty = no WeChat sends
    # --- misc ----------------------------------------------------------------------------
    log_level: str = "INFO"
    log_json: bool = False
    var_dir: Path = Path("var")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def redis_is_embedded(self) -> bool:
        return self.redis_url.startswith("memory://")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests, CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]  # dataclass kwargs

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SCANGUARD_*`` variables; fill dev secrets in development only."""
        env = _env("ENV", "development")
        if env not in ("development", "test", "production"):
            raise ConfigurationError(f"SCANGUARD_ENV={env!r}: use development, test or production")
        var_dir = Path(_env("VAR_DIR", "var") or "var")
        jwt_secret = (_env("JWT_SECRET") or "").encode()
        keyring_raw = _env("CODE_KEYS")
        keyring = parse_keyring(keyring_raw) if keyring_raw else {}
        if env == "production":
            if len(jwt_secret) < 32:
                raise ConfigurationError("SCANGUARD_JWT_SECRET must be set (>= 32 bytes)")
            if not keyring:
                raise ConfigurationError("SCANGUARD_CODE_KEYS must be set (kid:base64,...)")
        elif not jwt_secret or not keyring:
            dev = _dev_secrets(var_dir)
            jwt_secret = jwt_secret or str(dev["jwt_secret"]).encode()
            keyring = keyring or parse_keyring(json.dumps(dev["code_keys"]))
        base = cls()
        proxies = _env("TRUSTED_PROXIES")
        return cls(
            env=env,  # type: ignore[arg-type]  # checked above
            database_url=_env("DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
            database_schema=_env("DATABASE_SCHEMA"),
            database_pool_size=int(_env("DATABASE_POOL_SIZE", "10") or 10),
            redis_url=_env("REDIS_URL", MEMORY_REDIS_URL) or MEMORY_REDIS_URL,
            redis_prefix=_env("REDIS_PREFIX", base.redis_prefix) or base.redis_prefix,
            jwt_secret=jwt_secret,
            jwt_access_ttl_s=int(_env("JWT_ACCESS_TTL_S", "900") or 900),
            code_keyring=keyring,
            resolver_base_url=(_env("RESOLVER_BASE_URL", base.resolver_base_url) or "").rstrip("/"),
            trusted_proxies=_networks(proxies) if proxies is not None else base.trusted_proxies,
            rate_limit_ip_per_minute=int(_env("RATE_LIMIT_IP_PER_MINUTE", "120") or 120),
            rate_limit_device_per_minute=int(_env("RATE_LIMIT_DEVICE_PER_MINUTE", "30") or 30),
            counterfeit_ip_per_minute=int(_env("COUNTERFEIT_IP_PER_MINUTE", "60") or 60),
            metadata_cache_ttl_s=float(_env("METADATA_CACHE_TTL_S", "30") or 30),
            scanlog_flush_interval_s=float(_env("SCANLOG_FLUSH_INTERVAL_S", "0.005") or 0.005),
            suspicious_distinct_devices=int(_env("SUSPICIOUS_DISTINCT_DEVICES", "5") or 5),
            geoip_database=_env("GEOIP_DATABASE"),
            scan_fast_path=(_env("SCAN_FAST_PATH", "1") or "1") not in ("0", "false", "no"),
            impossible_travel_kmh=float(_env("IMPOSSIBLE_TRAVEL_KMH", "900") or 900),
            channel_checks=(_env("CHANNEL_CHECKS", "1") or "1") not in ("0", "false", "no"),
            diversion_flush_interval_s=float(_env("DIVERSION_FLUSH_INTERVAL_S", "5") or 5),
            wechat_api_base_url=(
                _env("WECHAT_API_BASE_URL", base.wechat_api_base_url) or base.wechat_api_base_url
            ).rstrip("/"),
            wechat_app_id=_env("WECHAT_APP_ID", "") or "",
            wechat_app_secret=_env("WECHAT_APP_SECRET", "") or "",
            wechat_timeout_s=float(_env("WECHAT_TIMEOUT_S", "3") or 3),
            consumer_token_ttl_s=int(_env("CONSUMER_TOKEN_TTL_S", "7200") or 7200),
            points_ttl_days=int(_env("POINTS_TTL_DAYS", "365") or 365),
            pin_failures_per_consumer=int(_env("PIN_FAILURES_PER_CONSUMER", "5") or 5),
            pin_failures_per_code=int(_env("PIN_FAILURES_PER_CODE", "10") or 10),
            pin_failure_window_s=int(_env("PIN_FAILURE_WINDOW_S", "3600") or 3600),
            fraud_window_s=int(_env("FRAUD_WINDOW_S", "600") or 600),
            fraud_group_max_claims=int(_env("FRAUD_GROUP_MAX_CLAIMS", "5") or 5),
            fraud_ip_max_claims=int(_env("FRAUD_IP_MAX_CLAIMS", "20") or 20),
            fraud_device_max_claims=int(_env("FRAUD_DEVICE_MAX_CLAIMS", "10") or 10),
            payout_api_base_url=(_env("PAYOUT_API_BASE_URL", "") or "").rstrip("/"),
            payout_rate_per_s=float(_env("PAYOUT_RATE_PER_S", "25") or 25),
            payout_timeout_s=float(_env("PAYOUT_TIMEOUT_S", "5") or 5),
            outbox_poll_interval_s=float(_env("OUTBOX_POLL_INTERVAL_S", "1") or 1),
            webhook_timeout_s=float(_env("WEBHOOK_TIMEOUT_S", "5") or 5),
            webhook_max_attempts=int(_env("WEBHOOK_MAX_ATTEMPTS", "20") or 20),
            webhook_backoff_base_s=float(_env("WEBHOOK_BACKOFF_BASE_S", "2") or 2),
            webhook_backoff_max_s=float(_env("WEBHOOK_BACKOFF_MAX_S", "3600") or 3600),
            notification_worker_in_process=(_env("NOTIFICATION_WORKER", "0") or "0")
            in ("1", "true", "yes"),
            wechat_recall_template_id=_env("WECHAT_RECALL_TEMPLATE_ID", "") or "",
            log_level=_env("LOG_LEVEL", "INFO") or "INFO",
            log_json=(_env("LOG_JSON", "0") or "0") in ("1", "true", "yes"),
            var_dir=var_dir,
        )


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
