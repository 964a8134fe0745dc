"""SQLite on the event-loop thread: the same results, errors and transactions as aiosqlite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from storage import models
from storage.db import Database
from storage.inline_sqlite import InlineConnection, connect
from storage.repositories import Store

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


async def _count(db: Database) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(models.Member)
        return int((await session.execute(stmt)).scalar_one())


@pytest.mark.parametrize("name", ["file", "memory"])
async def test_calls_run_on_the_loop_thread_and_transactions_hold(
    tmp_path: Path, name: str
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}" if name == "file" else "sqlite+aiosqlite://"
    )
    threads_before = threading.active_count()
    db = Database(url, sqlite_on_loop=True)
    try:
        await db.prepare()
        async with db.session() as session:
            raw = await session.connection()
            driver = (await raw.get_raw_connection()).driver_connection
            assert isinstance(driver, InlineConnection)
            await Store(session).members.ensure("telegram:1", "Ada", "ada", False, AT)
        # No worker thread was started for the connection.
        assert threading.active_count() == threads_before
        assert await _count(db) == 1

        # An error rolls the whole transaction back, as with the worker thread.
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                await Store(session).members.ensure("telegram:2", "Bea", None, False, AT)
                await session.execute(
                    text(
                        "INSERT INTO processed_events (key, kind, community, at) VALUES "
                        "('k', 'x', 'c', :at), ('k', 'x', 'c', :at)"
                    ),
                    {"at": AT},
                )
        assert await _count(db) == 1

        # Isolation levels go through the connection's call queue.
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            assert (await auto.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()


async def test_a_closed_connection_refuses_work(tmp_path: Path) -> None:
    conn = await connect(str(tmp_path / "closed.db"))
    cursor = await conn.execute("SELECT 2")
    assert await cursor.fetchone() == (2,)
    await conn.close()
    # As with aiosqlite: a closed connection says so instead of touching SQLite.
    with pytest.raises(ValueError, match="no active connection"):
        await conn.execute("SELECT 1")
