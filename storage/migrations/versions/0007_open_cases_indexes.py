"""indexes for the open cases a tick reads

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 22:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every tick looks for overdue complaint cases and the chats with open ones. Cases left
    # open accumulate (1,500 after 80,000 lines of the bench's community, growing with each
    # complaint nobody resolves), and both walked all of them: 19 ms a tick at 17,500.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_open_due",
            ["community", "kind", "status", "escalated_at", "due_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_open_chat", ["community", "kind", "status", "chat"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_open_chat")
        batch_op.drop_index("ix_cases_open_due")
