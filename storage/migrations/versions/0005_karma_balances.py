"""karma balances kept with the ledger; the ledger by time; cases by subject

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # /karma, /top and every award's level check summed a member's (or the community's)
    # whole ledger; the balance is now kept with each ledger row, in the same transaction.
    op.create_table(
        "karma_balances",
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=128), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("community", "member"),
    )
    with op.batch_alter_table("karma_balances", schema=None) as batch_op:
        batch_op.create_index("ix_karma_balances_points", ["community", "points"], unique=False)
    op.execute(
        "INSERT INTO karma_balances (community, member, points) "
        "SELECT community, receiver, SUM(points) FROM karma_ledger GROUP BY community, receiver"
    )
    # /top week and month read the ledger of a period, not the community's whole history.
    with op.batch_alter_table("karma_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_karma_community_at", ["community", "at"], unique=False)
    # A member's open case of a kind is looked up for every flag and warning; the open
    # cases of a community are many where complaints wait for a human.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_subject_kind_status", ["subject", "kind", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_subject_kind_status")
    with op.batch_alter_table("karma_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_karma_community_at")
    with op.batch_alter_table("karma_balances", schema=None) as batch_op:
        batch_op.drop_index("ix_karma_balances_points")
    op.drop_table("karma_balances")
