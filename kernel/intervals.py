"""Half-open integer intervals ``[lo, hi)``: merging them (code_id ranges, index windows)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["coalesce"]


def coalesce(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged half-open ranges (touching ranges join)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged
