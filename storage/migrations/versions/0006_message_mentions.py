"""message mentions: one row per mentioned member, instead of searching the JSON lists

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As it was in storage.models (a migration keeps its own copy: models change later).
MENTIONING = "CAST(mentions AS VARCHAR) != '[]'"


def upgrade() -> None:
    # Promo read the mentions a member received by searching the JSON text of every
    # mentioning message of a week: its cost grew with the community's activity.
    op.create_table(
        "message_mentions",
        sa.Column("chat", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=128), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat", "message_id", "member"),
    )
    with op.batch_alter_table("message_mentions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_mentions_member_at", ["community", "member", "at"], unique=False
        )
    # Only lists are taken apart (a JSON null would stop the whole upgrade on PostgreSQL).
    if op.get_bind().dialect.name == "postgresql":
        lists = "json_typeof(mentions) = 'array'"
        items = "json_array_elements_text(m.mentions) AS j(value)"
    else:
        lists, items = "json_type(mentions) = 'array'", "json_each(m.mentions) AS j"
    op.execute(
        "INSERT INTO message_mentions (chat, message_id, member, community, at) "
        "SELECT DISTINCT m.chat, m.message_id, j.value, m.community, m.at "
        f"FROM (SELECT * FROM messages WHERE {MENTIONING} AND {lists}) AS m, "
        f"{items} WHERE j.value IS NOT NULL"
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_mentioning",
            sqlite_where=sa.text(MENTIONING),
            postgresql_where=sa.text(MENTIONING),
        )
    # The answers leave out bots' messages: the bots are found without reading every member.
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_is_bot", ["is_bot"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_is_bot")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_mentioning",
            ["community", "at"],
            unique=False,
            sqlite_where=sa.text(MENTIONING),
            postgresql_where=sa.text(MENTIONING),
        )
    with op.batch_alter_table("message_mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_message_mentions_member_at")
    op.drop_table("message_mentions")
