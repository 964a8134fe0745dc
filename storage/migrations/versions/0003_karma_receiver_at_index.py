"""karma ledger index by receiver and time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The rules read a receiver's awards of a time window; with (community, receiver) alone
    # that read walks the receiver's whole history. The new index serves both.
    with op.batch_alter_table("karma_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_karma_community_receiver")
        batch_op.create_index(
            "ix_karma_community_receiver_at", ["community", "receiver", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("karma_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_karma_community_receiver_at")
        batch_op.create_index(
            "ix_karma_community_receiver", ["community", "receiver"], unique=False
        )
