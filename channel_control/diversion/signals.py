"""The shape of a buffered diversion signal and the keys signals are counted and grouped by."""

from __future__ import annotations

import uuid
from typing import Any

__all__ = [
    "SIGNAL_COLUMNS",
    "GroupKey",
    "Observation",
    "Signal",
    "Tallies",
    "TallyKey",
    "tallies_of",
]

# A buffered signal: one tuple per diverted scan in ``SIGNAL_COLUMNS`` order minus ``alert_id``
# (the flush adds it). Tuples, not dicts: thousands are held between flushes, and on
# PostgreSQL they go to COPY as they are (``territory`` becomes its JSON text there).
SIGNAL_COLUMNS = (
    "brand_id",
    "scan_uid",
    "observed_at",
    "code_id",
    "serial",
    "gtin",
    "product_id",
    "product_name",
    "batch_id",
    "lot",
    "distributor_id",
    "distributor_name",
    "shipment_id",
    "document_number",
    "expected_territory",
    "area",
    "country",
    "region",
    "city",
    "lat",
    "lon",
    "location_source",
    "location_confidence",
    "alert_id",
)
_BRAND, _AT, _CODE, _DISTRIBUTOR, _TERRITORY, _AREA, _CONFIDENCE = (
    SIGNAL_COLUMNS.index(name)
    for name in (
        "brand_id",
        "observed_at",
        "code_id",
        "distributor_id",
        "expected_territory",
        "area",
        "location_confidence",
    )
)
Signal = tuple[Any, ...]
TallyKey = tuple[uuid.UUID, uuid.UUID, int, str]  # (brand, distributor, hour, area)
Tallies = dict[TallyKey, list[int]]  # -> [located scans, diverted scans]
# One located scan of a shipped unit, as buffered: its scan id (the follow-up the flush takes),
# the tally it counts in, and its signal when it was diverted.
Observation = tuple[uuid.UUID, TallyKey, Signal | None]
GroupKey = tuple[uuid.UUID, uuid.UUID, str]  # (brand, distributor, area): what alerts group by


def tallies_of(observations: list[Observation]) -> Tallies:
    """Located and diverted scans per tally key."""
    tallies: Tallies = {}
    for _, key, signal in observations:
        counts = tallies.get(key)
        if counts is None:
            counts = tallies[key] = [0, 0]
        counts[0] += 1
        if signal is not None:
            counts[1] += 1
    return tallies
