"""scan follow-ups and counterfeit flush ledger (what a scan produced survives a crash);
the diversion flush ledger goes: taking a follow-up is what makes a signal count once

Revision ID: 0012e
Revises: 0012f
Create Date: 2026-12-03 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012e"
down_revision: str | None = "0012f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diversion_flushes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_diversion_flushes_flushed_at"))
    op.drop_table("diversion_flushes")
    op.create_table(
        "scan_followups",
        sa.Column("scan_uid", sa.Uuid(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scan_uid", name=op.f("pk_scan_followups")),
    )
    op.create_table(
        "counterfeit_flushes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counterfeit_flushes")),
    )
    with op.batch_alter_table("counterfeit_flushes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_counterfeit_flushes_flushed_at"), ["flushed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("counterfeit_flushes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_counterfeit_flushes_flushed_at"))
    op.drop_table("counterfeit_flushes")
    op.drop_table("scan_followups")
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
