"""Devices: the anonymous browser cookie and the keyed hash that stands for a device.

Raw device ids (mini-program install ids, openids, cookie values) are never stored: every
domain that keeps a device keeps ``DeviceHasher.hash`` of it, keyed by the server's secret,
so the same device gives the same hash in the scan log, loyalty and the inboxes.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["DEVICE_COOKIE", "DeviceHasher"]

DEVICE_COOKIE = "sgd"  # the browser's anonymous device id, set by the scan page


class DeviceHasher:
    """Keyed BLAKE2b of a device id (128 bits, hex)."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"scanguard/device", "sha256").digest()

    def hash(self, device_id: str) -> str:
        return hashlib.blake2b(device_id.encode(), key=self._key, digest_size=16).hexdigest()
