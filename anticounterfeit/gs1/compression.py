"""Compressed GS1 Digital Links (GS1 Digital Link standard, compression section): the AI/value
pairs of a link packed into a bit string and written in a URI-safe base 64 alphabet, as one
path segment after the resolver's root: ``https://brand.example/AQnYUc1gmiERBhQ0ytiyZuAGOLc1TQ``.

Bit layout, per element: the AI as 4-bit digits (2, 3 or 4 of them, by the first two digits'
table entry), or one optimisation code (two 4-bit hex digits, at least one above 9, naming a
fixed sequence of AIs), or ``F`` + a 7-bit length + a 6-bit-per-character key for a non-GS1
key. Then each component of the value, by the AI's format: a fixed-length number in
``ceil(n·log2 10)`` bits; a variable-length number as a length in ``ceil(log2 max)`` bits then
the digits' bits; text as a 3-bit encoding (0 digits, 1 lower hex, 2 upper hex, 3 base 64,
4 7-bit ASCII), the length (variable-length only) and the characters. Trailing zero bits pad to
the last character. The tables come from ``anticounterfeit.gs1.ai``.
"""

from __future__ import annotations

import math
import re

from anticounterfeit.gs1.ai import compression_tables
from kernel.errors import InvalidInput

__all__ = ["COMPRESSED_SEGMENT_RE", "compress_ais", "decompress_segment"]

#: A path segment that may be a compressed link (the URI-safe base 64 alphabet only).
COMPRESSED_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]{4,}")

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_INDEX = {ch: i for i, ch in enumerate(_B64)}
_HEX = "0123456789ABCDEF"
_ENCODINGS = (
    (0, re.compile(r"[0-9]+")),
    (2, re.compile(r"[0-9A-F]+")),
    (1, re.compile(r"[0-9a-f]+")),
    (3, re.compile(r"[A-Za-z0-9_-]+")),
)


def _length_bits(max_length: int) -> int:
    return math.ceil(math.log2(max_length) + 0.01)


def _value_bits(digits: int) -> int:
    return math.ceil(digits * math.log2(10) + 0.01)


class _Bits:
    """A cursor over a string of '0'/'1'; reading past the end is a malformed link."""

    def __init__(self, bits: str) -> None:
        self.bits = bits
        self.pos = 0

    def remaining(self) -> int:
        return len(self.bits) - self.pos

    def take(self, n: int) -> int:
        if n > self.remaining():
            raise ValueError("the compressed link ends in the middle of a value")
        chunk = self.bits[self.pos : self.pos + n]
        self.pos += n
        return int(chunk, 2) if chunk else 0


def _read_number(bits: _Bits, digits: int) -> str:
    return "" if digits == 0 else str(bits.take(_value_bits(digits))).zfill(digits)


def _read_text(bits: _Bits, encoding: int, count: int) -> str:
    if encoding == 0:
        return _read_number(bits, count)
    if encoding in (1, 2):
        text = "".join(_HEX[bits.take(4)] for _ in range(count))
        return text.lower() if encoding == 1 else text
    if encoding == 3:
        return "".join(_B64[bits.take(6)] for _ in range(count))
    if encoding == 4:
        return "".join(chr(bits.take(7)) for _ in range(count))
    raise ValueError(f"unknown value encoding {encoding}")


def _read_value(bits: _Bits, ai: str) -> str:
    formats = compression_tables()["value_format"]
    if ai not in formats:
        raise ValueError(f"AI ({ai}) has no value format for compression")
    value = ""
    for part in formats[ai]:
        numeric = part["E"] == "N"
        if "L" in part:
            length = int(part["L"])
            if numeric:
                value += _read_number(bits, length)
            else:
                value += _read_text(bits, bits.take(3), length)
        else:
            max_length = int(part.get("M") or part.get("N") or 0)
            if numeric:
                value += _read_number(bits, bits.take(_length_bits(max_length)))
            else:
                encoding = bits.take(3)
                value += _read_text(bits, encoding, bits.take(_length_bits(max_length)))
    return value


def _read_ai(bits: _Bits, first_two: str) -> str:
    length = compression_tables()["ai_length_by_prefix"].get(first_two)
    if length is None:
        raise ValueError(f"no GS1 AI starts with {first_two}")
    ai = first_two
    for _ in range(length - 2):
        digit = bits.take(4)
        if digit > 9:
            raise ValueError(f"AI {ai}{_HEX[digit]}… is not all digits")
        ai += str(digit)
    return ai


def _decode(bits: _Bits) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    optimisations = compression_tables()["optimisations"]
    while bits.remaining() > 8:
        h1, h2 = bits.take(4), bits.take(4)
        if h1 <= 9 and h2 <= 9:
            ai = _read_ai(bits, f"{h1}{h2}")
            pairs.append((ai, _read_value(bits, ai)))
        elif f"{_HEX[h1]}{_HEX[h2]}" in optimisations:
            for ai in optimisations[f"{_HEX[h1]}{_HEX[h2]}"]:
                pairs.append((ai, _read_value(bits, ai)))
        elif h1 == 15:  # F: a non-GS1 key=value pair, key length in h2 + 3 more bits
            key_length = (h2 << 3) | bits.take(3)
            key = "".join(_B64[bits.take(6)] for _ in range(key_length))
            encoding = bits.take(3)
            pairs.append((key, _read_text(bits, encoding, bits.take(7))))
        else:
            raise ValueError(f"no optimisation code {_HEX[h1]}{_HEX[h2]}")
    return pairs


def decompress_segment(segment: str, *, field: str = "url") -> list[tuple[str, str]]:
    """The (AI, value) pairs of a compressed link's path segment, in their encoded order.

    Values are not validated here (the Digital Link parser checks them like any other); a
    segment that is not a well-formed compressed link raises ``InvalidInput`` naming ``field``.
    """
    try:
        bits = "".join(format(_B64_INDEX[ch], "06b") for ch in segment)
        return _decode(_Bits(bits))
    except (KeyError, ValueError) as exc:
        detail = f"{field}: not a valid compressed GS1 Digital Link ({exc})"
        raise InvalidInput(detail, code="invalid_digital_link", field=field) from None


def _encoding_of(text: str) -> int:
    return next((enc for enc, regex in _ENCODINGS if regex.fullmatch(text)), 4)


def _write_text(text: str, length_bits: str) -> str:
    encoding = _encoding_of(text)
    out = format(encoding, "03b") + length_bits
    if encoding == 0:
        return out + format(int(text), f"0{_value_bits(len(text))}b")
    if encoding in (1, 2):
        return out + "".join(format(_HEX.index(ch.upper()), "04b") for ch in text)
    if encoding == 3:
        return out + "".join(format(_B64_INDEX[ch], "06b") for ch in text)
    return out + "".join(format(ord(ch), "07b") for ch in text)


def _write_value(ai: str, value: str) -> str:
    out = ""
    pos = 0
    for part in compression_tables()["value_format"][ai]:
        numeric = part["E"] == "N"
        if "L" in part:
            chunk = value[pos : pos + int(part["L"])]
            out += (
                format(int(chunk), f"0{_value_bits(len(chunk))}b")
                if numeric
                else _write_text(chunk, "")
            )
        else:
            chunk = value[pos:]
            length = format(len(chunk), f"0{_length_bits(int(part.get('M') or part['N']))}b")
            if numeric:
                digits = format(int(chunk), f"0{_value_bits(len(chunk))}b") if chunk else ""
                out += length + digits
            else:
                out += _write_text(chunk, length)
        pos += len(chunk)
    return out


def compress_ais(pairs: dict[str, str]) -> str:
    """The compressed path segment for the AI → value map ``pairs`` (values already valid for
    their AIs; keys written in sorted order, without optimisation codes, which every decoder
    reads). Used to print compressed links and, in the tests, to check ``decompress_segment``."""
    bits = "".join(
        "".join(format(int(d), "04b") for d in ai) + _write_value(ai, value)
        for ai, value in sorted(pairs.items())
    )
    bits += "0" * (-len(bits) % 6)
    return "".join(_B64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
