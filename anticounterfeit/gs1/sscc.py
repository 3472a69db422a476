"""What aggregation, shipments and checks are given: item codes, roll ranges, containers.

Every input is turned into code_id ranges (``code_id = kid * 2**40 + index``) and checked
against the keyring (genuine?) and the roll directory (issued? this brand's? void?), and each
bad input gets its own failure with a stable code instead of failing a whole bulk call.
Also: SSCC validation (GS1 check digit) and the interval arithmetic the projection uses."""

from __future__ import annotations

import re

from anticounterfeit.gs1.gtin import gtin_check_digit
from kernel.errors import InvalidInput

__all__ = ["is_valid_sscc", "normalize_sscc", "sscc_check_digit"]


# ---------------------------------------------------------------------------------------------
# SSCC
# ---------------------------------------------------------------------------------------------
_SSCC_URL_RE = re.compile(r"(?:^|/)00/(\d{18})/?$")


_SSCC_AI_RE = re.compile(r"^\(00\)(\d{18})$")


def sscc_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the 17 data digits of an SSCC (same rule as a GTIN)."""
    if len(body) != 17:
        raise ValueError("an SSCC has 17 data digits")
    return gtin_check_digit(body)


def is_valid_sscc(value: str) -> bool:
    """True for exactly 18 ASCII digits whose last digit is the GS1 check digit."""
    if len(value) != 18 or not value.isascii() or not value.isdigit():
        return False
    return sscc_check_digit(value[:17]) == ord(value[17]) - 48


def normalize_sscc(value: str, *, field: str = "sscc") -> str:
    """The 18 digits of an SSCC given bare, as ``(00)...`` or as a Digital Link ``/00/...``.

    ``InvalidInput`` (code ``invalid_sscc``, naming ``field``) for anything else.
    """
    text = value.strip()
    match = _SSCC_AI_RE.fullmatch(text) or _SSCC_URL_RE.search(text)
    digits = match.group(1) if match else text
    if len(digits) != 18 or not digits.isascii() or not digits.isdigit():
        raise InvalidInput(f"{field} must be 18 digits", code="invalid_sscc", field=field)
    expected = sscc_check_digit(digits[:17])
    if ord(digits[17]) - 48 != expected:
        raise InvalidInput(
            f"{field} has check digit {digits[17]}, expected {expected}",
            code="invalid_sscc",
            field=field,
        )
    return digits
