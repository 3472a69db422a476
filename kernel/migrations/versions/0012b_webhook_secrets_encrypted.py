"""webhook secrets encrypted at rest (issue 12 §2)

The column widens to hold a Fernet token and every plaintext secret is encrypted under the
newest key of SCANGUARD_SECRETS_KEY (kernel.secretbox). The downgrade decrypts them again.

Revision ID: 0012b
Revises: 0012d
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

# A data migration needs the key: the same keyring code as the application (stable format).
from kernel.secretbox import ENCRYPTED_PREFIX, SecretBox
from kernel.settings import Settings

revision: str = "0012b"
down_revision: str | None = "0012d"
branch_labels: str | Sequence[str] | None = None
# The table is made on the notifications branch (0008): run after it whatever the chain.
depends_on: str | Sequence[str] | None = "0008"

_subscriptions = sa.table(
    "webhook_subscriptions", sa.column("id", sa.Uuid()), sa.column("secret", sa.String())
)


def _box() -> SecretBox:
    settings: Settings = context.config.attributes.get("settings") or Settings.from_env()
    return SecretBox.from_settings(settings)


def _rewrite(encrypting: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_subscriptions.c.id, _subscriptions.c.secret)).all()
    pending = [r for r in rows if r.secret.startswith(ENCRYPTED_PREFIX) != encrypting]
    if not pending:
        return  # an empty install needs no key
    box = _box()
    for row in pending:
        value = box.encrypt(row.secret) if encrypting else box.decrypt(row.secret)
        bind.execute(
            _subscriptions.update().where(_subscriptions.c.id == row.id).values(secret=value)
        )


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=100), type_=sa.String(length=400)
        )
    _rewrite(encrypting=True)


def downgrade() -> None:
    _rewrite(encrypting=False)
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=400), type_=sa.String(length=100)
        )
