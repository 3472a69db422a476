"""Tables owned by anticounterfeit: brands, keys, products, batches, code rolls and ranges.

Storage grows with rolls and range events, never with codes issued: a roll of 10 million
codes is one ``code_rolls`` row. A code's identity is ``code_id = kid * 2**40 + index``."""

from __future__ import annotations

__all__ = ["INDEX_BITS", "code_id_of", "split_code_id"]


INDEX_BITS = 40


def code_id_of(kid: int, index: int) -> int:
    """The platform-wide integer identity of a code (fits a signed 64-bit column)."""
    return (kid << INDEX_BITS) | index


def split_code_id(code_id: int) -> tuple[int, int]:
    return code_id >> INDEX_BITS, code_id & ((1 << INDEX_BITS) - 1)
