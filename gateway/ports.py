"""What the gateway needs from channel control, as ports (channel_control implements them).

The gateway imports no channel_control module: the composition root (``admin_api.app``)
passes ``channel_control.scan_port.ChannelScanPort`` when channel checks are on
(``SCANGUARD_CHANNEL_CHECKS``), else ``NULL_CHANNEL``; and ``UnitWhereabouts`` for the
packages that sit on the gateway (loyalty groups claims by case / shipment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.geo import ScanLocation

__all__ = [
    "NULL_CHANNEL",
    "ChannelPort",
    "Destination",
    "NullChannel",
    "UnitHolder",
    "UnitWhereabouts",
]


class Destination(Protocol):
    """Where a unit was last shipped: what the scan log keeps of it."""

    @property
    def distributor_id(self) -> uuid.UUID: ...

    @property
    def shipment_id(self) -> uuid.UUID: ...


class ChannelPort(Protocol):
    """The scan path's channel check: resolve (cached), judge (no I/O), observe (buffered)."""

    async def resolve(self, brand_id: uuid.UUID, kid: int, index: int) -> Any | None:
        """The unit's current destination (a ``Destination``), None when never shipped."""

    def judge(self, destination: Any, location: ScanLocation) -> bool | None:
        """Diverted? True outside the destination's territory, False inside, None unknown."""

    def observe(
        self,
        destination: Any,
        location: ScanLocation,
        diverted: bool,
        *,
        brand_id: uuid.UUID,
        scan_uid: uuid.UUID,
        at: datetime,
        code_id: int,
        serial: str,
        gtin: str,
        product_id: uuid.UUID,
        product_name: str,
        batch_id: uuid.UUID | None,
        lot: str | None,
    ) -> None:
        """Count one located scan of a shipped unit (buffered, written in the background)."""


class NullChannel:
    """Channel checks off: no unit has a destination, so nothing is judged or observed."""

    __slots__ = ()

    async def resolve(self, brand_id: uuid.UUID, kid: int, index: int) -> Any | None:
        return None

    def judge(self, destination: Any, location: ScanLocation) -> bool | None:
        return None

    def observe(
        self,
        destination: Any,
        location: ScanLocation,
        diverted: bool,
        *,
        brand_id: uuid.UUID,
        scan_uid: uuid.UUID,
        at: datetime,
        code_id: int,
        serial: str,
        gtin: str,
        product_id: uuid.UUID,
        product_name: str,
        batch_id: uuid.UUID | None,
        lot: str | None,
    ) -> None:
        return None


NULL_CHANNEL = NullChannel()


@dataclass(frozen=True, slots=True)
class UnitHolder:
    """Where channel control has a unit now: its open case and its latest shipment."""

    case_id: uuid.UUID | None
    shipment_id: uuid.UUID | None


class UnitWhereabouts(Protocol):
    async def holder_of(
        self, session: AsyncSession, brand_id: uuid.UUID, code_id: int
    ) -> UnitHolder: ...
