"""diversion flush ledger; signals without the unique scan_uid index

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 03:07:19.737451
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diversion_signals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_diversion_signals_scan_uid"), type_="unique")
    op.create_table(
        "diversion_flushes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diversion_flushes")),
    )
    with op.batch_alter_table("diversion_flushes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_diversion_flushes_flushed_at"), ["flushed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("diversion_flushes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_diversion_flushes_flushed_at"))

    op.drop_table("diversion_flushes")
    with op.batch_alter_table("diversion_signals", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_diversion_signals_scan_uid"), ["scan_uid"])
