"""diversion: drop the full group index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 01:17:21.852188
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diversion_signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_diversion_signals_group"))


def downgrade() -> None:
    with op.batch_alter_table("diversion_signals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_diversion_signals_group"),
            ["brand_id", "distributor_id", "area", "observed_at"],
            unique=False,
        )
