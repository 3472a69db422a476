"""Settings: read from the environment by pydantic-settings, documented from the same source."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

from kernel.settings import ConfigurationError, Settings, environment_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
FERNET_A = base64.urlsafe_b64encode(b"a" * 32).decode()
FERNET_B = base64.urlsafe_b64encode(b"b" * 32).decode()
TABLE = re.compile(r"(<!-- settings:begin[^\n]*-->\n)(.*?)(<!-- settings:end -->)", re.S)


def _markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{var}` | `{default}` | {meaning} |" for var, default, meaning in environment_table()
    ]
    return "\n".join(rows).replace("`—`", "—") + "\n"


def test_the_settings_table_in_operations_md_is_generated_from_the_settings() -> None:
    text = DOCS.read_text(encoding="utf-8")
    match = TABLE.search(text)
    assert match is not None, "docs/operations.md lost its settings markers"
    if os.environ.get("SCANGUARD_UPDATE_DOCS") == "1":
        text = TABLE.sub(lambda m: m.group(1) + _markdown() + m.group(3), text)
        DOCS.write_text(text, encoding="utf-8")
        match = TABLE.search(text)
        assert match is not None
    assert match.group(2) == _markdown(), "regenerate with SCANGUARD_UPDATE_DOCS=1"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SCANGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SCANGUARD_VAR_DIR", str(tmp_path))
    return monkeypatch


def test_every_variable_is_read_by_its_documented_name(clean_env: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    clean_env.setenv("SCANGUARD_ENV", "production")
    clean_env.setenv("SCANGUARD_JWT_SECRET", "s" * 40)
    clean_env.setenv("SCANGUARD_CODE_KEYS", f"7:{key}")
    clean_env.setenv("SCANGUARD_SECRETS_KEY", f"{FERNET_A}, {FERNET_B}")
    clean_env.setenv("SCANGUARD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")
    clean_env.setenv("SCANGUARD_LOG_SQL_PARAMETERS", "1")
    clean_env.setenv("SCANGUARD_DATABASE_URL", "postgresql+asyncpg://db/x")
    clean_env.setenv("SCANGUARD_DATABASE_SCHEMA", "tenant_a")
    clean_env.setenv("SCANGUARD_REDIS_URL", "redis://cache:6379/1")
    clean_env.setenv("SCANGUARD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
    clean_env.setenv("SCANGUARD_SCAN_FAST_PATH", "0")
    clean_env.setenv("SCANGUARD_CHANNEL_CHECKS", "false")
    clean_env.setenv("SCANGUARD_NOTIFICATION_WORKER", "1")
    clean_env.setenv("SCANGUARD_LOG_JSON", "1")
    clean_env.setenv("SCANGUARD_RESOLVER_BASE_URL", "https://id.brand.example/")
    clean_env.setenv("SCANGUARD_WECHAT_APP_ID", "wx123")
    clean_env.setenv("SCANGUARD_POINTS_TTL_DAYS", "")  # empty means unset
    settings = Settings.from_env()
    assert settings.env == "production"
    assert settings.auth.code_keyring == {7: b"k" * 32}
    assert settings.database.url == "postgresql+asyncpg://db/x"
    assert settings.database.search_path == "tenant_a"
    assert settings.redis.url == "redis://cache:6379/1"
    assert [str(n) for n in settings.gateway.trusted_proxies] == ["10.0.0.0/8", "192.168.1.1/32"]
    assert settings.gateway.scan_fast_path is False
    assert settings.channel.channel_checks is False
    assert settings.notifications.worker_in_process is True
    assert settings.log.json_lines is True
    assert settings.gateway.resolver_base_url == "https://id.brand.example"
    assert settings.wechat.app_id == "wx123"
    assert settings.loyalty.points_ttl_days == 365
    assert settings.auth.secrets_keys == (FERNET_A, FERNET_B)
    assert [str(n) for n in settings.notifications.webhook_allowed_networks] == ["127.0.0.1/32"]
    assert settings.log.sql_parameters is True


def test_a_malformed_value_is_a_start_up_error_naming_the_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SCANGUARD_RATE_LIMIT_IP_PER_MINUTE", "lots")
    with pytest.raises(ConfigurationError, match="SCANGUARD_RATE_LIMIT_IP_PER_MINUTE"):
        Settings.from_env()


def test_production_refuses_to_start_without_its_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SCANGUARD_ENV", "production")
    clean_env.setenv("SCANGUARD_CODE_KEYS", f"7:{base64.b64encode(b'k' * 32).decode()}")
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "SCANGUARD_JWT_SECRET" in message
    assert "SCANGUARD_SECRETS_KEY" in message
    assert "SCANGUARD_CODE_KEYS" not in message  # only the missing ones are named


def test_unset_env_means_production_not_development(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "SCANGUARD_ENV is not set" in message
    for name in ("SCANGUARD_JWT_SECRET", "SCANGUARD_CODE_KEYS", "SCANGUARD_SECRETS_KEY"):
        assert name in message
    assert "SCANGUARD_ENV=development" in message  # the way out is named too
    assert Settings().env == "production"


def test_development_is_explicit_and_generates_its_secrets_once(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SCANGUARD_ENV", "development")
    first = Settings.from_env()
    assert first.env == "development"
    assert len(first.auth.jwt_secret) >= 32
    assert first.auth.code_keyring
    assert len(first.auth.secrets_keys) == 1
    assert Settings.from_env().auth == first.auth  # kept in var/dev-secrets.json


def test_a_malformed_secrets_key_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SCANGUARD_SECRETS_KEY", "short")
    with pytest.raises(ConfigurationError, match="SCANGUARD_SECRETS_KEY"):
        Settings.from_env()


def test_overrides_change_one_field_of_a_group_and_keep_the_rest() -> None:
    base = Settings()
    changed = base.with_overrides(gateway={"rate_limit_ip_per_minute": 3}, env="test")
    assert changed.gateway.rate_limit_ip_per_minute == 3
    assert changed.gateway.rate_limit_device_per_minute == base.gateway.rate_limit_device_per_minute
    assert changed.env == "test"
    assert base.env == "production"
