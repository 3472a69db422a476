"""The install id: which database this is, so a cache never mistakes another one's data for it.

Redis keys name codes by numbers a new database reuses (roll ids, code indexes). A database
dropped and created again next to the same Redis would otherwise find every code "scanned
before". One row (``installation``), written by migration 0012d or, when missing, at the
first start, holds a random id; every process reads it once at start-up and puts it into the
keys of what it caches about the database's rows (``Runtime.scoped_key``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, utcnow

__all__ = ["INSTALLATION_ROW", "Installation", "load_install_id", "new_install_id"]

INSTALLATION_ROW = 1  # the table holds this one row


class Installation(Base):
    """This database's identity (one row, id 1)."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    install_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


def new_install_id() -> str:
    return uuid.uuid4().hex


async def load_install_id(session_factory: async_sessionmaker[AsyncSession]) -> str:
    """This database's install id; created when missing (a first start, or emptied tables).

    Several processes may start at once: the primary key lets one insert win and the others
    read the winner's id."""
    async with session_factory() as session:
        found = await session.scalar(
            select(Installation.install_id).where(Installation.id == INSTALLATION_ROW)
        )
        if found is not None:
            return found
        session.add(
            Installation(id=INSTALLATION_ROW, install_id=new_install_id(), created_at=utcnow())
        )
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        install_id = await session.scalar(
            select(Installation.install_id).where(Installation.id == INSTALLATION_ROW)
        )
    assert install_id is not None  # inserted above, by us or by the process that won
    return install_id
