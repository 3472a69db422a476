"""Secret values in settings: parsing code keys and Fernet keys, development secrets.

Kept apart from kernel.settings (which re-exports these) so that module stays about the
settings groups themselves.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from pathlib import Path

__all__ = ["ConfigurationError", "dev_secrets", "parse_keyring", "parse_secrets_keys"]


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


def parse_secrets_keys(raw: str) -> tuple[str, ...]:
    """Fernet keys (urlsafe base64 of 32 bytes), comma-separated, newest first; ``@file`` too.

    The first key encrypts, every key decrypts: rotating means putting a new key in front,
    running ``scanguard secrets re-encrypt``, then dropping the old key.
    """
    text = raw.strip()
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8").strip()
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    for i, key in enumerate(keys):
        try:
            decoded = base64.urlsafe_b64decode(key.encode())
        except (ValueError, binascii.Error) as exc:
            raise ConfigurationError(f"SCANGUARD_SECRETS_KEY key {i + 1}: {exc}") from exc
        if len(decoded) != 32:
            raise ConfigurationError(
                f"SCANGUARD_SECRETS_KEY key {i + 1}: must be urlsafe base64 of 32 bytes "
                "(python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
    return keys


def dev_secrets(var_dir: Path) -> dict[str, object]:
    """Random secrets for a development install, created once and kept under var/."""
    path = var_dir / "dev-secrets.json"
    data: dict[str, object] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        if "secrets_key" in data:
            return data
    var_dir.mkdir(parents=True, exist_ok=True)
    data.setdefault("jwt_secret", secrets.token_urlsafe(48))
    data.setdefault(
        "code_keys",
        {str(kid): base64.b64encode(secrets.token_bytes(32)).decode() for kid in range(1, 65)},
    )
    # Added to older files too: their webhook secrets are plaintext until migration 0012b.
    data["secrets_key"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return data
