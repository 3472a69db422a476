"""Export planning: check a roll (or a sub-range of it) for export and describe its print
file; the rendering itself is ``anticounterfeit.codes.export``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Product
from anticounterfeit.codes.export import (
    DEFAULT_CHUNK_SIZE,
    _chunk_ranges,
    _render_chunk,
    _validate,
    export_header,
    iter_export_csv,
)
from anticounterfeit.codes.format import CodeKey, Keyring
from anticounterfeit.codes.models import CodeRoll
from anticounterfeit.codes.services.lifecycle import check_range
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.errors import Conflict

__all__ = ["ExportPlan", "plan_export"]


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """Everything needed to render a roll's print file (or a sub-range of it)."""

    roll_id: uuid.UUID
    key: CodeKey
    gtin14: str
    roll_first_index: int
    from_seq: int
    to_seq: int
    resolver_base_url: str
    lot: str | None
    pin_length: int | None

    @property
    def count(self) -> int:
        return self.to_seq - self.from_seq

    @property
    def is_whole_roll(self) -> bool:
        return self.from_seq == 0

    def iter_csv(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[str]:
        """The CSV in text chunks; ``seq`` is always the position in the whole roll."""
        if self.is_whole_roll:
            return iter_export_csv(
                self.key,
                self.gtin14,
                self.roll_first_index,
                self.count,
                resolver_base_url=self.resolver_base_url,
                lot=self.lot,
                pin_length=self.pin_length,
                chunk_size=chunk_size,
            )
        # export.iter_export_csv numbers rows from its start index; a sub-range must keep the
        # roll's numbering, so render its chunks directly (same row format, same validation).
        prefix = _validate(
            self.gtin14,
            self.roll_first_index,
            self.to_seq,
            self.resolver_base_url,
            self.lot,
            self.pin_length,
            chunk_size,
        )
        return self._iter_sub_range(prefix, chunk_size)

    def _iter_sub_range(self, prefix: str, chunk_size: int) -> Iterator[str]:
        yield export_header(self.pin_length)
        start = self.roll_first_index
        for first, n in _chunk_ranges(start + self.from_seq, self.count, chunk_size):
            yield _render_chunk(self.key, self.gtin14, start, first, n, prefix, self.pin_length)


async def plan_export(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    roll: CodeRoll,
    *,
    resolver_base_url: str,
    from_seq: int | None = None,
    to_seq: int | None = None,
) -> ExportPlan:
    """Check and describe an export of ``roll``; records the ``roll.exported`` audit entry."""
    lo, hi = check_range(roll, from_seq, to_seq, from_field="from_seq", to_field="to_seq")
    key = keyring.get(roll.kid)
    if key is None:
        raise Conflict(
            f"code key {roll.kid} is not configured on this server", code="code_key_unavailable"
        )
    product = await session.get(Product, roll.product_id)
    assert product is not None  # foreign key
    lot = None
    if roll.batch_id is not None:
        batch = await session.get(Batch, roll.batch_id)
        lot = batch.lot if batch else None
    plan = ExportPlan(
        roll_id=roll.id,
        key=key,
        gtin14=product.gtin,
        roll_first_index=roll.first_index,
        from_seq=lo,
        to_seq=hi,
        resolver_base_url=resolver_base_url,
        lot=lot,
        pin_length=product.pin_length,
    )
    record_audit(
        session,
        actor,
        "roll.exported",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=roll.brand_id,
        details={"from_seq": lo, "to_seq": hi, "pin": product.pin_length is not None},
    )
    return plan
