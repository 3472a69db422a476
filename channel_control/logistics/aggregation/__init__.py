"""Aggregation: items packed into cases, cases onto pallets; unpack and repack.

Bulk calls take thousands of codes (explicit list or roll ranges) and answer per input:
what was packed, what was already there (a replay is harmless), and a failure with a stable
code for each code or sub-range that could not be applied — never a silent drop, never the
whole call failing for one bad code. Ranges are stored as ranges (one row per contiguous
run). Rows are never deleted: unpacking stamps ``unpacked_at`` (splitting a row when only part
of it leaves), which is the history ``aggregation_history`` reads (issue 6 exports it as
EPCIS AggregationEvents).

Units keep their place when they leave a container: unpacking copies the container's
position onto what leaves it (unless the unit's own is newer), so a pallet shipped to D1 and
unpacked there leaves its cases at D1.
"""

from __future__ import annotations

from channel_control.logistics.aggregation.containers import (
    MAX_CODES_PER_CALL,
    ContainerRef,
    container_label,
    find_container,
)
from channel_control.logistics.aggregation.history import (
    AggregationRecord,
    aggregation_history,
    container_units,
)
from channel_control.logistics.aggregation.pack import pack
from channel_control.logistics.aggregation.projection import Projection
from channel_control.logistics.aggregation.unpack import unpack

__all__ = [
    "MAX_CODES_PER_CALL",
    "AggregationRecord",
    "ContainerRef",
    "Projection",
    "aggregation_history",
    "container_label",
    "container_units",
    "find_container",
    "pack",
    "unpack",
]
