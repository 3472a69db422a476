"""Rebuild the diversion signals and tallies of logged scans no process wrote.

A located scan of a shipped unit leaves a follow-up in the scan log's own transaction
(``gateway.followups``). When the process that buffered its signal and tally dies, or drops
them from memory during a long database outage, the follow-up is still there; the recorder
takes it and rebuilds the same observation from the scan row (brand, code, roll, place,
distributor, shipment, diverted) and the current catalogue: the serial from the code's key,
product and batch from the roll's metadata, distributor name and territory, shipment document
number. Only the territory and the names can differ from what the scan saw, and only when
they were edited between the scan and its rebuild.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.format import Keyring, encode_code
from anticounterfeit.codes.identity import split_code_id
from anticounterfeit.codes.metadata import RollMetadata, load_roll_metadata
from channel_control.distributors.models import Distributor
from channel_control.distributors.territory import territory_from_json
from channel_control.diversion.signals import Observation, Signal
from channel_control.logistics.models import Shipment
from gateway.followups import FollowedScan

__all__ = ["rebuild_observations"]


def area_of(country: str | None, region: str | None) -> str:
    """The grouping key of an observed place: region, else country, else ``GPS``."""
    return region or country or "GPS"


async def rebuild_observations(
    session: AsyncSession, scans: list[FollowedScan], keyring: Keyring | None
) -> list[Observation]:
    """The observations (tally key, signal when diverted) of ``scans``, as the scan path
    would have buffered them."""
    if not scans:
        return []
    diverted = [s for s in scans if s.diverted]
    distributors: dict[uuid.UUID, Any] = {}
    documents: dict[uuid.UUID, str] = {}
    rolls: dict[uuid.UUID, RollMetadata | None] = {}
    if diverted:
        rows = await session.execute(
            select(Distributor.id, Distributor.name, Distributor.territory).where(
                Distributor.id.in_({s.distributor_id for s in diverted})
            )
        )
        distributors = {row.id: row for row in rows}
        rows = await session.execute(
            select(Shipment.id, Shipment.document_number).where(
                Shipment.id.in_({s.shipment_id for s in diverted})
            )
        )
        documents = {row.id: row.document_number for row in rows}
        for roll_id in {s.roll_id for s in diverted}:
            rolls[roll_id] = await load_roll_metadata(session, roll_id)
    out: list[Observation] = []
    for scan in scans:
        area = area_of(scan.country, scan.region)
        hour = int(scan.scanned_at.timestamp()) // 3600
        key = (scan.brand_id, scan.distributor_id, hour, area)
        signal = None
        if scan.diverted:
            signal = _signal(
                scan,
                area,
                distributors.get(scan.distributor_id),
                documents.get(scan.shipment_id, ""),
                rolls.get(scan.roll_id),
                keyring,
            )
        out.append((scan.scan_uid, key, signal))
    return out


def _signal(
    scan: FollowedScan,
    area: str,
    distributor: Any | None,
    document_number: str,
    meta: RollMetadata | None,
    keyring: Keyring | None,
) -> Signal:
    kid, index = split_code_id(scan.code_id)
    key = keyring.get(kid) if keyring is not None else None
    gtin = meta.product.gtin if meta is not None else ""
    serial = encode_code(key, index, gtin) if key is not None and gtin else ""
    batch = meta.state_of(index).batch if meta is not None else None
    return (
        scan.brand_id,
        scan.scan_uid,
        scan.scanned_at,
        scan.code_id,
        serial,
        gtin,
        scan.product_id,
        (meta.product.name if meta is not None else "")[:200],
        batch.id if batch else None,
        batch.lot if batch else None,
        scan.distributor_id,
        (distributor.name if distributor is not None else "")[:200],
        scan.shipment_id,
        document_number[:100],
        territory_from_json(distributor.territory if distributor is not None else {}),
        area,
        scan.country,
        scan.region,
        scan.city,
        scan.lat,
        scan.lon,
        scan.location_source,
        float(scan.location_confidence or 0.0),
    )
