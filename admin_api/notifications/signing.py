"""Webhook signatures, event-type patterns and the retry schedule (pure functions).

Signature header (Stripe-style, so receivers can reuse familiar code)::

    Scanguard-Signature: t=1732490000,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

The timestamp is inside the signed text: a receiver rejects stale timestamps (replays) and
compares ``v1`` in constant time. During a secret rotation several ``v1=`` values may appear.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
import time

__all__ = [
    "EVENT_PATTERN_RE",
    "SIGNATURE_HEADER",
    "backoff_delay",
    "new_secret",
    "pattern_matches",
    "sign",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "Scanguard-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a public prefix, not a secret
# An event type (``recall.started``), a prefix pattern (``recall.*``) or everything (``*``).
EVENT_PATTERN_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


def new_secret() -> str:
    """A fresh signing secret (shown to the brand once)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Scanguard-Signature`` value for ``body`` signed now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={sign(secret, ts, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """True when ``header`` carries a ``v1`` signature of ``body`` made within ``tolerance_s``."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


def pattern_matches(pattern: str, event_type: str) -> bool:
    """``*`` matches all; ``recall.*`` matches ``recall.started`` and ``recall.x.y``; else equal."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def backoff_delay(
    attempt: int, *, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): full jitter.

    ``uniform(0, min(max_s, base_s * 2 ** (attempt - 1)))`` — spreads retries of many
    deliveries that failed together (an endpoint coming back is not hit by a thundering herd).
    """
    exponent = min(max(attempt - 1, 0), 62)  # 2**62 * base overflows nothing, caps anyway
    cap = min(max_s, base_s * float(2**exponent))
    return (rng or _RNG).uniform(0.0, cap)


_RNG = random.SystemRandom()
