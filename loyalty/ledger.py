"""The points ledger: append-only entries, accounts kept in step, oldest-first lots.

Every movement is one ``LedgerEntry`` (with a unique idempotency key, so a retried step can
never post twice) and one atomic ``UPDATE`` of the ``Account`` running sums in the same
transaction. A debit is a conditional ``UPDATE ... WHERE balance >= amount``: under any
concurrency the balance never goes negative (and a CHECK constraint backs that up).

Lots: each credit to the available bucket is a lot with an expiry; debits (redemptions,
expiries, merges) consume lots soonest-expiring first (= oldest first, as every lot lives the
same number of days). ``open_lots`` replays an account's entries to find what is left of each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import utcnow
from loyalty.models import Account, LedgerEntry

__all__ = [
    "AVAILABLE",
    "PENDING",
    "Lot",
    "account_entries",
    "ensure_account",
    "insert_ignore",
    "lock_account",
    "open_lots",
    "post",
]

AVAILABLE = "available"
PENDING = "pending"
_NEVER = datetime.max.replace(tzinfo=None)  # noqa: DTZ901 - compared as naive UTC only


@dataclass(frozen=True, slots=True)
class Lot:
    entry_id: int
    remaining: int
    expires_at: datetime | None


def open_lots(entries: Iterable[tuple[int, int, datetime | None]]) -> list[Lot]:
    """What is left of each credit, given (entry id, delta, expires_at) of an account's
    available-bucket entries: debits consume credits soonest-expiring first (ties by id),
    never-expiring credits last. Lots with nothing left are omitted."""
    credits: list[tuple[int, int, datetime | None]] = []
    debit = 0
    for entry_id, delta, expires_at in entries:
        if delta > 0:
            credits.append((entry_id, delta, expires_at))
        else:
            debit -= delta
    credits.sort(key=lambda c: (c[2] is None, _naive(c[2]), c[0]))
    lots: list[Lot] = []
    for entry_id, amount, expires_at in credits:
        used = min(amount, debit)
        debit -= used
        if amount - used > 0:
            lots.append(Lot(entry_id, amount - used, expires_at))
    return lots


def _naive(value: datetime | None) -> datetime:
    return _NEVER if value is None else value.replace(tzinfo=None)


def insert_ignore(
    session: AsyncSession, model: Any, values: dict[str, Any], index_elements: Sequence[str]
) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for either backend (a statement to execute)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements)


async def ensure_account(
    session: AsyncSession, consumer_id: uuid.UUID, brand_id: uuid.UUID
) -> None:
    await session.execute(
        insert_ignore(
            session,
            Account,
            {
                "consumer_id": consumer_id,
                "brand_id": brand_id,
                "balance": 0,
                "pending": 0,
                "updated_at": utcnow(),
            },
            ["consumer_id", "brand_id"],
        )
    )


async def lock_account(session: AsyncSession, consumer_id: uuid.UUID, brand_id: uuid.UUID) -> None:
    """Create the account if needed and take its row lock (PostgreSQL) / the write lock
    (SQLite) until the transaction ends: serialises one consumer's claims at one brand."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = insert(Account).values(
        consumer_id=consumer_id, brand_id=brand_id, balance=0, pending=0, updated_at=now
    )
    # One round trip: create the row or, when it exists, update it (which takes its lock).
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["consumer_id", "brand_id"], set_={"updated_at": now}
        )
    )


async def post(
    session: AsyncSession,
    *,
    consumer_id: uuid.UUID,
    brand_id: uuid.UUID,
    delta: int,
    reason: str,
    ref_type: str,
    ref_id: object,
    idem_key: str,
    bucket: str = AVAILABLE,
    campaign_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
    note: str | None = None,
) -> bool:
    """Append one entry and move the account's sum; False (nothing written) when a debit
    would take the bucket below zero. The account must exist (``ensure_account``)."""
    column = Account.balance if bucket == AVAILABLE else Account.pending
    stmt = (
        update(Account)
        .where(Account.consumer_id == consumer_id, Account.brand_id == brand_id)
        .values({column.key: column + delta, "updated_at": utcnow()})
    )
    if delta < 0:
        stmt = stmt.where(column >= -delta)
    result = await session.execute(stmt)
    if getattr(result, "rowcount", 0) != 1:
        return False
    session.add(
        LedgerEntry(
            consumer_id=consumer_id,
            brand_id=brand_id,
            bucket=bucket,
            delta=delta,
            reason=reason,
            ref_type=ref_type,
            ref_id=str(ref_id),
            campaign_id=campaign_id,
            idem_key=idem_key,
            expires_at=expires_at if delta > 0 else None,
            note=note,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return True


async def account_entries(
    session: AsyncSession, consumer_id: uuid.UUID, brand_id: uuid.UUID
) -> list[tuple[int, int, datetime | None]]:
    """(id, delta, expires_at) of an account's available-bucket entries, for ``open_lots``."""
    rows = await session.execute(
        select(LedgerEntry.id, LedgerEntry.delta, LedgerEntry.expires_at)
        .where(
            LedgerEntry.consumer_id == consumer_id,
            LedgerEntry.brand_id == brand_id,
            LedgerEntry.bucket == AVAILABLE,
        )
        .order_by(LedgerEntry.id)
    )
    return [(int(r[0]), int(r[1]), r[2]) for r in rows]
