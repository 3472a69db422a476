"""Channel control's side of the gateway's ports (``gateway.ports``).

``ChannelScanPort`` is the scan path's channel check: the diversion recorder's own bound
methods (no wrapper call per scan). ``ChannelWhereabouts`` answers where a unit is held now
(its open case, its latest shipment) from the current-position projection.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.diversion.recorder import DiversionRecorder
from channel_control.logistics.destination import current_position
from gateway.ports import UnitHolder

__all__ = ["ChannelScanPort", "ChannelWhereabouts"]


class ChannelScanPort:
    """``gateway.ports.ChannelPort`` over a ``DiversionRecorder``."""

    __slots__ = ("judge", "observe", "recorder", "resolve")

    def __init__(self, recorder: DiversionRecorder) -> None:
        self.recorder = recorder
        self.resolve = recorder.resolve
        self.judge = recorder.judge
        self.observe = recorder.observe


class ChannelWhereabouts:
    """``gateway.ports.UnitWhereabouts`` over the current-position projection."""

    __slots__ = ()

    async def holder_of(
        self, session: AsyncSession, brand_id: uuid.UUID, code_id: int
    ) -> UnitHolder:
        position, case_id, _pallet_id = await current_position(session, brand_id, code_id)
        return UnitHolder(
            case_id=case_id, shipment_id=position.shipment_id if position is not None else None
        )
