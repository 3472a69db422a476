"""diversion: partial index on signals no alert holds yet

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-25 00:56:42.434205
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diversion_signals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_diversion_signals_pending",
            ["brand_id", "distributor_id", "area", "observed_at"],
            unique=False,
            postgresql_where=sa.text("alert_id IS NULL"),
            sqlite_where=sa.text("alert_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("diversion_signals", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_diversion_signals_pending",
            postgresql_where=sa.text("alert_id IS NULL"),
            sqlite_where=sa.text("alert_id IS NULL"),
        )
