"""The shape of a buffered diversion signal and the keys signals are counted and grouped by."""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["SIGNAL_COLUMNS", "GroupKey", "Signal", "Tallies"]

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
Tallies = dict[tuple[uuid.UUID, uuid.UUID, int, str], list[int]]  # (brand, distributor, hour,
# area) -> [located scans, diverted scans]
GroupKey = tuple[uuid.UUID, uuid.UUID, str]  # (brand, distributor, area): what alerts group by
