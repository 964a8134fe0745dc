"""indexes for the answers a member received

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As storage.models.MENTIONING (a migration keeps its own copy: models change later).
MENTIONING = "CAST(mentions AS VARCHAR) != '[]'"


def upgrade() -> None:
    # Promo's window reads the replies and mentions a member received in a week; without
    # these it walked every message of the week.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_community_reply_author_at",
            ["community", "reply_to_author", "at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_messages_mentioning",
            ["community", "at"],
            unique=False,
            sqlite_where=sa.text(MENTIONING),
            postgresql_where=sa.text(MENTIONING),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_mentioning",
            sqlite_where=sa.text(MENTIONING),
            postgresql_where=sa.text(MENTIONING),
        )
        batch_op.drop_index("ix_messages_community_reply_author_at")
