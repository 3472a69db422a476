"""Secrets we must read back (webhook signing secrets) are stored encrypted, never in clear.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a keyring: the first key of
``SCANGUARD_SECRETS_KEY`` encrypts, every key decrypts. Rotation: put a new key in front,
restart, run ``scanguard secrets re-encrypt`` (every stored value is then under the new key),
drop the old key. Stored values carry a ``enc:v1:`` prefix, so plaintext left by an older
version is recognised (migration 0012b encrypts it).

Settings built in code for development or tests without a key get one derived from the JWT
secret (HKDF), so they need no extra field; production always needs an explicit key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel.settings import ConfigurationError, Settings

__all__ = ["ENCRYPTED_PREFIX", "SecretBox", "SecretDecryptionError", "new_key"]

ENCRYPTED_PREFIX = "enc:v1:"


class SecretDecryptionError(RuntimeError):
    """A stored secret no key of the keyring opens (a key was dropped too early)."""


@dataclass(frozen=True, slots=True)
class SecretBox:
    """Encrypts with the newest key, decrypts with any."""

    keys: tuple[str, ...]
    _fernet: MultiFernet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("SCANGUARD_SECRETS_KEY must be set (a Fernet key)")
        # Built once: the worker decrypts a secret for every delivery it signs.
        fernet = MultiFernet([Fernet(k.encode()) for k in self.keys])
        object.__setattr__(self, "_fernet", fernet)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        keys = settings.auth.secrets_keys
        if not keys and settings.env != "production" and settings.auth.jwt_secret:
            keys = (_derived_key(settings.auth.jwt_secret),)
        return cls(keys)

    def encrypt(self, plaintext: str) -> str:
        return ENCRYPTED_PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plaintext of ``stored`` (plaintext from before encryption passes unchanged)."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretDecryptionError(
                "a stored secret is encrypted under a key SCANGUARD_SECRETS_KEY no longer has"
            ) from exc

    def reencrypt(self, stored: str) -> str:
        """``stored`` under the newest key (plaintext gets encrypted)."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return self.encrypt(stored)
        token = stored[len(ENCRYPTED_PREFIX) :].encode()
        try:
            return ENCRYPTED_PREFIX + self._fernet.rotate(token).decode()
        except InvalidToken as exc:
            raise SecretDecryptionError(
                "a stored secret is encrypted under a key SCANGUARD_SECRETS_KEY no longer has"
            ) from exc


def new_key() -> str:
    """A fresh random key for ``SCANGUARD_SECRETS_KEY``."""
    return Fernet.generate_key().decode()


def _derived_key(jwt_secret: bytes) -> str:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"scanguard secrets v1")
    return base64.urlsafe_b64encode(hkdf.derive(jwt_secret)).decode()
