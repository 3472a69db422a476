"""Request and response bodies of aggregation, shipments, whereabouts and distributor checks.

Inputs forbid unknown fields and bound every string and list (a wrong shape is a 400 naming
the field); per-code problems in bulk calls are answered in ``failures``, not as errors.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from anticounterfeit.codes.identity import split_code_id
from channel_control.distributors.models import Distributor
from channel_control.logistics.aggregation import (
    MAX_CODES_PER_CALL,
    AggregationRecord,
    ContainerRef,
    container_label,
)
from channel_control.logistics.models import Container, Shipment
from channel_control.logistics.units import RangeInput
from kernel.pagination import Page

__all__ = [
    "AggregationOut",
    "AggregationResultOut",
    "CheckIn",
    "CheckOut",
    "ContainerRefIn",
    "PackIn",
    "RangeIn",
    "ShipmentCreate",
    "ShipmentDetailOut",
    "ShipmentOut",
    "UnpackIn",
    "WhereaboutsOut",
]

CodeText = Annotated[str, Meta(min_length=1, max_length=300)]
Codes = Annotated[list[CodeText], Meta(max_length=MAX_CODES_PER_CALL)]
# Printable text only: PostgreSQL refuses NUL in text, and control characters in a document
# number or note are never intended.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
DocumentNumber = Annotated[str, Meta(min_length=1, max_length=100, pattern=PRINTABLE)]
Note = Annotated[str, Meta(max_length=500, pattern=PRINTABLE)]
Seq = Annotated[int, Meta(ge=0, lt=2**40)]


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class RangeIn(_Input):
    """Codes ``[seq_start, seq_end)`` of one roll (seq = position in the roll)."""

    roll_id: uuid.UUID
    seq_start: Seq
    seq_end: Seq

    def to_range(self) -> RangeInput:
        return RangeInput(self.roll_id, self.seq_start, self.seq_end)


class ContainerRefIn(_Input):
    """A case or pallet: ``code`` (its issued code as a Digital Link) or ``sscc``."""

    code: CodeText | None = None
    sscc: Annotated[str, Meta(min_length=1, max_length=100)] | None = None

    def to_ref(self) -> ContainerRef:
        return ContainerRef(code=self.code, sscc=self.sscc)


Ranges = Annotated[list[RangeIn], Meta(max_length=1000)]
Refs = Annotated[list[ContainerRefIn], Meta(max_length=MAX_CODES_PER_CALL)]


class PackIn(_Input):
    """Pack ``codes``/``ranges`` into a case, or ``cases`` onto a pallet. The container is
    registered on first use. ``move``: take children out of the container they are in."""

    container: ContainerRefIn
    kind: Literal["case", "pallet"]
    codes: Codes = msgspec.field(default_factory=list)
    ranges: Ranges = msgspec.field(default_factory=list)
    cases: Refs = msgspec.field(default_factory=list)
    move: bool = False


class UnpackIn(_Input):
    """Take ``codes``/``ranges`` out of a case or ``cases`` off a pallet, or ``all``."""

    container: ContainerRefIn
    codes: Codes = msgspec.field(default_factory=list)
    ranges: Ranges = msgspec.field(default_factory=list)
    cases: Refs = msgspec.field(default_factory=list)
    everything: bool = msgspec.field(default=False, name="all")


class ContainerBriefOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    label: str

    @classmethod
    def of(cls, c: Container) -> ContainerBriefOut:
        return cls(id=c.id, kind=c.kind, label=container_label(c))


class FailureOut(msgspec.Struct, kw_only=True):
    input: str
    field: str
    code: str
    detail: str
    count: int | None = None  # units of a failed sub-range
    kid: int | None = None  # where that sub-range starts
    index: int | None = None


class AggregationResultOut(msgspec.Struct, kw_only=True):
    operation_id: uuid.UUID
    action: str
    container: ContainerBriefOut
    units: int
    containers: int
    unchanged: int
    failures: list[FailureOut]
    replayed: bool


class AggregationOut(msgspec.Struct, kw_only=True):
    """One aggregation period (EPCIS: ADD at packed_at, DELETE at unpacked_at)."""

    parent_id: uuid.UUID
    parent_kind: str
    parent_label: str
    child_kid: int | None
    child_first_index: int | None
    child_count: int | None
    child_container_id: uuid.UUID | None
    packed_at: datetime
    packed_operation_id: uuid.UUID
    unpacked_at: datetime | None
    unpacked_operation_id: uuid.UUID | None

    @classmethod
    def of(cls, r: AggregationRecord) -> AggregationOut:
        kid = index = count = None
        if r.child_code_start is not None and r.child_code_end is not None:
            kid, index = split_code_id(r.child_code_start)
            count = r.child_code_end - r.child_code_start
        return cls(
            parent_id=r.parent_id,
            parent_kind=r.parent_kind,
            parent_label=r.parent_label,
            child_kid=kid,
            child_first_index=index,
            child_count=count,
            child_container_id=r.child_container_id,
            packed_at=r.packed_at,
            packed_operation_id=r.packed_operation_id,
            unpacked_at=r.unpacked_at,
            unpacked_operation_id=r.unpacked_operation_id,
        )


class ShipmentCreate(_Input):
    """A shipping document. ``outbound``: brand -> ``to_distributor_id``; ``transfer``:
    ``from_distributor_id`` -> ``to_distributor_id``; ``return``: ``from_distributor_id`` ->
    brand. Carries item ``codes``, roll ``ranges`` and ``containers`` (cases, pallets)."""

    document_number: DocumentNumber
    kind: Literal["outbound", "transfer", "return"]
    from_distributor_id: uuid.UUID | None = None
    to_distributor_id: uuid.UUID | None = None
    codes: Codes = msgspec.field(default_factory=list)
    ranges: Ranges = msgspec.field(default_factory=list)
    containers: Refs = msgspec.field(default_factory=list)
    note: Note | None = None


class DistributorShipmentCreate(_Input):
    """A distributor ships goods it holds: ``transfer`` to another distributor of the
    brand, or ``return`` to the brand."""

    document_number: DocumentNumber
    kind: Literal["transfer", "return"]
    to_distributor_id: uuid.UUID | None = None
    codes: Codes = msgspec.field(default_factory=list)
    ranges: Ranges = msgspec.field(default_factory=list)
    containers: Refs = msgspec.field(default_factory=list)
    note: Note | None = None


class PartyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str

    @classmethod
    def of(cls, d: Distributor | None) -> PartyOut | None:
        return cls(id=d.id, code=d.code, name=d.name) if d else None


class ShipmentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    document_number: str
    kind: str
    from_distributor: PartyOut | None
    to_distributor: PartyOut | None
    status: str
    unit_count: int
    note: str | None
    shipped_at: datetime
    received_at: datetime | None
    created_via: str

    @classmethod
    def of(cls, s: Shipment, parties: dict[uuid.UUID, Distributor]) -> ShipmentOut:
        return cls(
            id=s.id,
            document_number=s.document_number,
            kind=s.kind,
            from_distributor=PartyOut.of(parties.get(s.from_distributor_id))
            if s.from_distributor_id
            else None,
            to_distributor=PartyOut.of(parties.get(s.to_distributor_id))
            if s.to_distributor_id
            else None,
            status=s.status,
            unit_count=s.unit_count,
            note=s.note,
            shipped_at=s.shipped_at,
            received_at=s.received_at,
            created_via=s.created_via,
        )


class ShipmentPage(Page[ShipmentOut], kw_only=True):
    """One page of shipment entries."""

    items: list[ShipmentOut]


class LineOut(msgspec.Struct, kw_only=True):
    kind: Literal["range", "case", "pallet"]
    kid: int | None = None
    first_index: int | None = None
    count: int | None = None
    container: ContainerBriefOut | None = None


class ShipmentDetailOut(msgspec.Struct, kw_only=True):
    shipment: ShipmentOut
    lines: list[LineOut]


class CurrentOut(msgspec.Struct, kw_only=True):
    """Where the thing is supposed to be: ``distributor`` None means at the brand (returned)."""

    distributor: PartyOut | None
    territory: dict[str, Any] | None
    shipment_id: uuid.UUID
    document_number: str
    shipped_at: datetime
    received: bool
    via: str  # unit | case | pallet: whose shipment put it there


class ChainOut(msgspec.Struct, kw_only=True):
    shipment_id: uuid.UUID
    document_number: str
    kind: str
    from_distributor_id: uuid.UUID | None
    to_distributor_id: uuid.UUID | None
    shipped_at: datetime
    status: str
    via: str
    via_label: str | None


class WhereaboutsOut(msgspec.Struct, kw_only=True):
    kind: str
    gtin: str | None
    product_name: str | None
    lot: str | None
    container: ContainerBriefOut | None
    units: int | None  # items in the container now (a case, or all cases on a pallet)
    current: CurrentOut | None
    case: ContainerBriefOut | None
    pallet: ContainerBriefOut | None
    shipments: list[ChainOut]
    aggregation: list[AggregationOut]


class CheckIn(_Input):
    """What a distributor checks: a code (URL, path or element string) or an SSCC."""

    code: CodeText | None = None
    sscc: Annotated[str, Meta(min_length=1, max_length=100)] | None = None


class ContentOut(msgspec.Struct, kw_only=True):
    kind: str  # item | case
    label: str  # a Digital Link path for an item, the case's label


class ContentsOut(msgspec.Struct, kw_only=True):
    total: int
    limit: int
    offset: int
    items: list[ContentOut]


class CheckOut(msgspec.Struct, kw_only=True):
    """``destination``: ``you``, ``another_distributor`` (no more is said about whom) or
    ``brand`` (not shipped yet, or returned)."""

    genuine: bool
    reason: str | None = None
    kind: str | None = None
    gtin: str | None = None
    product_name: str | None = None
    lot: str | None = None
    label: str | None = None
    destination: Literal["you", "another_distributor", "brand"] | None = None
    shipped_to_you: bool | None = None
    received: bool | None = None
    contents: ContentsOut | None = None
