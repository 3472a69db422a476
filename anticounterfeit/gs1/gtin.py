"""GS1 GTIN validation: check digit, normalisation to the 14-digit form.

A GTIN-8, -12 (UPC-A), -13 (EAN) or -14 is the same number space: left-padding with zeros gives
the GTIN-14 used in GS1 Digital Link URIs and in the code MAC, so one product has one canonical
string everywhere in scanguard.
"""

from __future__ import annotations

from kernel.errors import InvalidInput

__all__ = ["GTIN_LENGTHS", "gtin_check_digit", "is_valid_gtin14", "normalize_gtin"]

GTIN_LENGTHS = frozenset({8, 12, 13, 14})
_DIGITS = frozenset("0123456789")


def gtin_check_digit(body: str) -> int:
    """Return the GS1 mod-10 check digit for ``body`` (the data digits, without the check digit).

    Weights alternate 3, 1, 3, ... starting from the rightmost data digit. ``body`` must be
    ASCII digits; a ``ValueError`` is raised otherwise.
    """
    if not body.isascii() or not body.isdigit():
        raise ValueError("GTIN body must be ASCII digits")
    total = 0
    weight = 3
    for ch in reversed(body):
        total += (ord(ch) - 48) * weight
        weight = 4 - weight  # 3 -> 1 -> 3
    return (10 - total % 10) % 10


def normalize_gtin(value: str, *, field: str = "gtin") -> str:
    """Validate a GTIN-8/12/13/14 and return its 14-digit form (left-padded with zeros).

    Surrounding whitespace is stripped. Raises ``InvalidInput`` (code ``invalid_gtin``, naming
    ``field``) when the value is not digits, has the wrong length or a wrong check digit.
    """
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field} is empty", code="invalid_gtin", field=field)
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(
            f"{field} must contain only digits 0-9", code="invalid_gtin", field=field
        )
    if len(text) not in GTIN_LENGTHS:
        raise InvalidInput(
            f"{field} must have 8, 12, 13 or 14 digits, not {len(text)}",
            code="invalid_gtin",
            field=field,
        )
    expected = gtin_check_digit(text[:-1])
    if ord(text[-1]) - 48 != expected:
        raise InvalidInput(
            f"{field} has check digit {text[-1]}, expected {expected}",
            code="invalid_gtin",
            field=field,
        )
    return text.zfill(14)


def is_valid_gtin14(value: str) -> bool:
    """Return True if ``value`` is exactly 14 ASCII digits with a correct check digit."""
    if len(value) != 14 or not value.isascii() or not value.isdigit():
        return False
    return gtin_check_digit(value[:13]) == ord(value[13]) - 48
