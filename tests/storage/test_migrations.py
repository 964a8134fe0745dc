"""Migrations: an empty database is upgraded; an old one is refused until upgraded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text
from sqlmodel import SQLModel

from storage import models
from storage.db import Database, DatabaseError, head_revision


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_empty_database_is_upgraded_to_head(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert await db.current_revision() is None
        await db.prepare()
        assert await db.current_revision() == head_revision()
        assert set(SQLModel.metadata.tables) <= await tables(db)
        await db.prepare()  # a second start changes nothing
    finally:
        await db.dispose()


async def test_database_behind_head_is_refused(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        await db.upgrade("base")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0000old')")
        with pytest.raises(DatabaseError, match="leumund db upgrade"):
            await db.prepare()
    finally:
        await db.dispose()


async def test_models_match_migrations(empty_db_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations create exactly the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(empty_db_url)
    try:
        await db.prepare()
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
        assert diff == []
    finally:
        await db.dispose()


async def test_mentions_are_filled_from_the_messages_lists(empty_db_url: str) -> None:
    """Revision 0006 writes one row per mentioned member of every stored message."""
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    db = Database(empty_db_url)
    try:
        await db.upgrade("0005")
        async with db.engine.begin() as conn:
            # A JSON null or a null inside a list (never written by the bot) is skipped.
            lists = ['["chat:a", "chat:b"]', "[]", '["chat:b", null]', "null"]
            for n, mentions in enumerate(lists):
                await conn.execute(
                    text(
                        "INSERT INTO messages (community, chat, message_id, author, mentions, at, "
                        "deleted, forwarded, is_thanks) "
                        "VALUES ('demo', 'chat:c', :id, 'chat:x', :mentions, :at, "
                        "false, false, false)"
                    ),
                    {"id": f"m{n}", "mentions": mentions, "at": at},
                )
        await db.upgrade()
        async with db.session() as session:
            rows = (await session.execute(select(models.Mention))).scalars().all()
        assert sorted((r.message_id, r.member, r.community, r.at) for r in rows) == [
            ("m0", "chat:a", "demo", at),
            ("m0", "chat:b", "demo", at),
            ("m2", "chat:b", "demo", at),
        ]
    finally:
        await db.dispose()
