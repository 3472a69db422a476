"""The stream publisher's durable cursors: how far each source has been published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base

__all__ = ["StreamCursor"]


class StreamCursor(Base):
    """One (consumer, source) position: ``consumer`` is the stream name, ``source`` the table.

    ``position`` is the highest source id published. ``gaps`` lists ids below it that were
    missing when it advanced (``[[id, first_seen_epoch_s], ...]``): on PostgreSQL a transaction
    may commit a lower id after higher ones were read, so those ids are looked for again
    until they turn up or age out (a rolled-back insert leaves a gap for ever).
    """

    __tablename__ = "stream_cursors"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    published: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]
