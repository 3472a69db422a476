"""The item code: a 20-character GS1 AI (21) serial carrying a key id, a masked index and a MAC.

Layout and security argument: docs/codes.md. In short, a code is a 94-bit integer written
big-endian in base 26 over ``ALPHABET``::

    kid (12 bits) | masked_index (40 bits) | tag (42 bits)

* ``tag`` = top 42 bits of BLAKE2b-64(key=mac_key, kid:2 || index:5 || gtin14 ascii)
* ``masked_index`` = index XOR top 40 bits of BLAKE2b-64(key=mask_key, tag:6)

Verification needs no I/O: recover the index from the tag, recompute the tag, compare in
constant time. Forged or mistyped codes are rejected in memory; ``verify_code`` never raises.
Keys come from configuration (a ``Keyring``), never from the database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from anticounterfeit.gs1.gtin import is_valid_gtin14

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "INDEX_LIMIT",
    "MAX_KID",
    "MIN_SECRET_BYTES",
    "PIN_LENGTHS",
    "CodeKey",
    "DecodedCode",
    "Keyring",
    "decode_payload",
    "derive_pin",
    "encode_code",
    "iter_codes",
    "verify_code",
    "verify_pin",
]

#: 26 symbols: digits without 0/1, uppercase letters without I L O U B S G Z (confusables).
#: All are in GS1 CSET 82, RFC 3986 "unreserved" (no percent-encoding) and QR alphanumeric.
ALPHABET = "23456789ACDEFHJKMNPQRTVWXY"
CODE_LENGTH = 20
MAX_KID = 4095
INDEX_LIMIT = 1 << 40
MIN_SECRET_BYTES = 32
PIN_LENGTHS = range(4, 13)

_BASE = len(ALPHABET)
_KID_BITS = 12
_INDEX_BITS = 40
_TAG_BITS = 42
_PAYLOAD_BITS = _KID_BITS + _INDEX_BITS + _TAG_BITS  # 94
_PAYLOAD_LIMIT = 1 << _PAYLOAD_BITS
_INDEX_MASK = INDEX_LIMIT - 1
_TAG_MASK = (1 << _TAG_BITS) - 1
_TAG_SHIFT = 64 - _TAG_BITS  # top 42 bits of a 64-bit digest
_MASK_SHIFT = 64 - _INDEX_BITS  # top 40 bits of a 64-bit digest
_KID_SHIFT = _INDEX_BITS + _TAG_BITS
_PIN_DIGEST_BYTES = 16  # 2**128 / 10**12: modulo bias below 2**-88

assert _BASE == 26
assert len(set(ALPHABET)) == _BASE
assert _BASE**CODE_LENGTH > _PAYLOAD_LIMIT

# Decoding: one bytes.translate maps every byte to a base-26 digit for int(..., 26), or to "!"
# (which int() rejects anywhere), so a single C-level `in` test replaces a per-character loop.
_INVALID = ord("!")
_DIGITS26 = "0123456789abcdefghijklmnop"
_table = bytearray([_INVALID]) * 256
for _i, _ch in enumerate(ALPHABET):
    _table[ord(_ch)] = ord(_DIGITS26[_i])
    _table[ord(_ch.lower())] = ord(_DIGITS26[_i])  # scanners in caps-lock / lowercase input
_DECODE_TABLE = bytes(_table)
del _table, _i, _ch

# Encoding: three base-26 digits per table lookup (26**3 = 17576 fits one 30-bit int digit,
# so each divmod stays on CPython's single-digit fast path). 20 = 2 + 6 * 3 characters.
_T3_BASE = _BASE**3
_T3 = [a + b + c for a in ALPHABET for b in ALPHABET for c in ALPHABET]
_T2 = [a + b for a in ALPHABET for b in ALPHABET]


def _subkey(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"scanguard/v1/" + purpose, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class CodeKey:
    """One code key: key id and secret, with the three derived subkeys precomputed.

    Build with ``CodeKey.from_secret(kid, secret)``. The secret is kept (not shown in repr) so
    the key can be sent to export worker processes as ``(kid, secret)``; pickling does exactly
    that and re-derives the subkeys on the other side.
    """

    kid: int
    secret: bytes = field(repr=False)
    mac_key: bytes = field(init=False, repr=False)
    mask_key: bytes = field(init=False, repr=False)
    pin_key: bytes = field(init=False, repr=False)
    # Keyed BLAKE2b states, copied per use: cheaper than re-keying a new hasher each time.
    _mac_proto: Any = field(init=False, repr=False, compare=False)
    _mask_proto: Any = field(init=False, repr=False, compare=False)
    _pin_proto: Any = field(init=False, repr=False, compare=False)
    _kid_bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.kid, bool) or not isinstance(self.kid, int):
            raise TypeError("kid must be an int")
        if not 1 <= self.kid <= MAX_KID:
            raise ValueError(f"kid must be in 1..{MAX_KID}, got {self.kid}")
        if not isinstance(self.secret, bytes):
            raise TypeError("secret must be bytes")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        mac_key = _subkey(self.secret, b"mac")
        mask_key = _subkey(self.secret, b"mask")
        pin_key = _subkey(self.secret, b"pin")
        kid_bytes = self.kid.to_bytes(2, "big")
        setattr_ = object.__setattr__
        setattr_(self, "mac_key", mac_key)
        setattr_(self, "mask_key", mask_key)
        setattr_(self, "pin_key", pin_key)
        setattr_(self, "_kid_bytes", kid_bytes)
        # The MAC input starts with the kid, so it is absorbed once here.
        setattr_(self, "_mac_proto", hashlib.blake2b(kid_bytes, digest_size=8, key=mac_key))
        setattr_(self, "_mask_proto", hashlib.blake2b(digest_size=8, key=mask_key))
        setattr_(
            self,
            "_pin_proto",
            hashlib.blake2b(kid_bytes, digest_size=_PIN_DIGEST_BYTES, key=pin_key),
        )

    @classmethod
    def from_secret(cls, kid: int, secret: bytes) -> CodeKey:
        """Build a key; ``ValueError`` unless 1 <= kid <= 4095 and len(secret) >= 32."""
        return cls(kid, secret)

    def __reduce__(self) -> tuple[Any, tuple[int, bytes]]:
        # hashlib states do not pickle; (kid, secret) is all a worker needs.
        return (CodeKey, (self.kid, self.secret))


class Keyring:
    """Code keys by key id. Old kids stay in the ring to verify codes already printed."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[CodeKey]) -> None:
        by_kid: dict[int, CodeKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ValueError(f"duplicate key id {key.kid}")
            by_kid[key.kid] = key
        self._keys = by_kid

    @classmethod
    def from_mapping(cls, mapping: Mapping[int, bytes]) -> Keyring:
        """Build a keyring from ``{kid: secret}`` (as read from configuration)."""
        return cls(CodeKey.from_secret(kid, secret) for kid, secret in mapping.items())

    def get(self, kid: int) -> CodeKey | None:
        """Return the key with this id, or None."""
        return self._keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def kids(self) -> frozenset[int]:
        """The key ids in this ring."""
        return frozenset(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(kids={sorted(self._keys)})"


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """A verified code: which key issued it and its index in that key's sequence."""

    kid: int
    index: int


def _check_gtin14(gtin14: str) -> bytes:
    if not is_valid_gtin14(gtin14):
        raise ValueError(f"not a valid GTIN-14: {gtin14!r}")
    return gtin14.encode("ascii")


def _format_payload(value: int) -> str:
    t3 = _T3
    n = _T3_BASE
    value, a = divmod(value, n)
    value, b = divmod(value, n)
    value, c = divmod(value, n)
    value, d = divmod(value, n)
    value, e = divmod(value, n)
    value, f = divmod(value, n)
    return "".join((_T2[value], t3[f], t3[e], t3[d], t3[c], t3[b], t3[a]))


def decode_payload(serial: str) -> int | None:
    """Return the 94-bit payload of a code of valid *form*, or None. Does not check the MAC.

    Strips surrounding whitespace and accepts lowercase. Never raises for ``str`` input.
    """
    s = serial.strip()
    if len(s) != CODE_LENGTH or not s.isascii():
        return None
    digits = s.encode("ascii").translate(_DECODE_TABLE)
    if b"!" in digits:
        return None
    value = int(digits, 26)
    if value >= _PAYLOAD_LIMIT:
        return None
    return value


def encode_code(key: CodeKey, index: int, gtin14: str) -> str:
    """Return the 20-character code for ``index`` (0 <= index < 2**40) of ``gtin14`` under key.

    ``ValueError`` for an index out of range or a GTIN that is not a valid 14-digit GTIN.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < INDEX_LIMIT:
        raise ValueError(f"index must be an int in [0, 2**40), got {index!r}")
    gtin_bytes = _check_gtin14(gtin14)
    h = key._mac_proto.copy()
    h.update(index.to_bytes(5, "big") + gtin_bytes)
    tag = int.from_bytes(h.digest(), "big") >> _TAG_SHIFT
    m = key._mask_proto.copy()
    m.update(tag.to_bytes(6, "big"))
    masked = index ^ (int.from_bytes(m.digest(), "big") >> _MASK_SHIFT)
    return _format_payload((key.kid << _KID_SHIFT) | (masked << _TAG_BITS) | tag)


def verify_code(keyring: Keyring, serial: str, gtin14: str) -> DecodedCode | None:
    """Check a scanned serial against a GTIN-14; return its kid and index, or None.

    The scan hot path: no I/O, no exceptions, two BLAKE2b calls for a well-formed code, and
    constant-time tag comparison. Surrounding whitespace and lowercase are accepted.
    Returns None for anything that is not a code issued for this GTIN under a key in the ring.
    """
    s = serial.strip()
    if len(s) != CODE_LENGTH or not s.isascii():
        return None
    digits = s.encode("ascii").translate(_DECODE_TABLE)
    if b"!" in digits:
        return None
    value = int(digits, 26)
    if value >= _PAYLOAD_LIMIT:
        return None
    key = keyring._keys.get(value >> _KID_SHIFT)
    if key is None:
        return None
    if len(gtin14) != 14 or not gtin14.isascii() or not gtin14.isdigit():
        return None
    tag = value & _TAG_MASK
    tag_bytes = tag.to_bytes(6, "big")
    m = key._mask_proto.copy()
    m.update(tag_bytes)
    index = ((value >> _TAG_BITS) & _INDEX_MASK) ^ (
        int.from_bytes(m.digest(), "big") >> _MASK_SHIFT
    )
    h = key._mac_proto.copy()
    h.update(index.to_bytes(5, "big") + gtin14.encode("ascii"))
    expected = (int.from_bytes(h.digest(), "big") >> _TAG_SHIFT).to_bytes(6, "big")
    if not hmac.compare_digest(expected, tag_bytes):
        return None
    return DecodedCode(key.kid, index)


def iter_codes(
    key: CodeKey, gtin14: str, start_index: int, count: int
) -> Iterator[tuple[int, str]]:
    """Yield ``(index, code)`` for ``count`` consecutive indexes from ``start_index``.

    Same codes as ``encode_code``, written for issuance throughput (names bound locally, the
    kid absorbed into the MAC state once, table-driven base-26 formatting). Arguments are
    checked at call time (``ValueError``), not at the first ``next()``.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if start_index < 0 or start_index + count > INDEX_LIMIT:
        raise ValueError("index range must lie within [0, 2**40)")
    return _iter_codes(key, _check_gtin14(gtin14), start_index, count)


def _iter_codes(
    key: CodeKey, gtin_bytes: bytes, start_index: int, count: int
) -> Iterator[tuple[int, str]]:
    mac_copy = key._mac_proto.copy
    mask_copy = key._mask_proto.copy
    from_bytes = int.from_bytes
    t3 = _T3
    t2 = _T2
    n3 = _T3_BASE
    kid_high = key.kid << _KID_SHIFT
    tag_bits = _TAG_BITS
    tag_shift = _TAG_SHIFT
    mask_shift = _MASK_SHIFT
    join = "".join
    for index in range(start_index, start_index + count):
        h = mac_copy()
        h.update(index.to_bytes(5, "big") + gtin_bytes)
        tag = from_bytes(h.digest(), "big") >> tag_shift
        m = mask_copy()
        m.update(tag.to_bytes(6, "big"))
        value = (
            kid_high | ((index ^ (from_bytes(m.digest(), "big") >> mask_shift)) << tag_bits) | tag
        )
        value, a = divmod(value, n3)
        value, b = divmod(value, n3)
        value, c = divmod(value, n3)
        value, d = divmod(value, n3)
        value, e = divmod(value, n3)
        value, f = divmod(value, n3)
        yield index, join((t2[value], t3[f], t3[e], t3[d], t3[c], t3[b], t3[a]))


def _check_pin_length(length: int) -> None:
    if length not in PIN_LENGTHS:
        raise ValueError(f"PIN length must be in 4..12, got {length}")


def derive_pin(key: CodeKey, index: int, length: int) -> str:
    """Return the ``length``-digit (4..12) scratch-off PIN of code ``index`` under ``key``.

    BLAKE2b-128(key=pin_key, kid:2 || index:5) mod 10**length, zero-padded. Deterministic.
    """
    _check_pin_length(length)
    if not 0 <= index < INDEX_LIMIT:
        raise ValueError("index must be in [0, 2**40)")
    h = key._pin_proto.copy()
    h.update(index.to_bytes(5, "big"))
    return str(int.from_bytes(h.digest(), "big") % 10**length).zfill(length)


def verify_pin(key: CodeKey, index: int, pin: str, length: int) -> bool:
    """Constant-time check of a PIN typed by a consumer. Never raises for ``str`` input."""
    _check_pin_length(length)
    if not 0 <= index < INDEX_LIMIT:
        return False
    expected = derive_pin(key, index, length).encode("ascii")
    return hmac.compare_digest(expected, pin.strip().encode("utf-8", "surrogatepass"))
