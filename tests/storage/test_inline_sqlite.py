"""SQLite on the event-loop thread: the same results, errors and transactions as aiosqlite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import models
from storage.db import CACHE_KIB, Database
from storage.inline_sqlite import YIELD_SECONDS, InlineConnection, connect
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
    db = Database(url)
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


async def test_a_lock_held_elsewhere_is_waited_for_without_holding_up_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.prepare()
    # Another process's writer: a plain connection holding the write lock.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.005)
            beats += 1

    async def release() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    beating = asyncio.create_task(heartbeat())
    try:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            group.create_task(release())
            async with db.session() as session:
                await Store(session).members.ensure("telegram:1", "Ada", "ada", False, AT)
        waited = time.perf_counter() - started
        assert 0.3 <= waited < 5
        # The loop ran the heartbeat all the while (every 5 ms, give or take).
        assert beats >= 20
        assert await _count(db) == 1
    finally:
        beating.cancel()
        other.close()
        await db.dispose()


async def test_a_lock_that_stays_taken_fails_after_the_busy_time(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"
    sqlite3.connect(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    conn = await connect(str(path))
    conn.busy_seconds = 0.2
    try:
        started = time.perf_counter()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await conn.execute("INSERT INTO t VALUES (1)")
        assert 0.15 <= time.perf_counter() - started < 2
    finally:
        await conn.close()
        other.close()


async def test_locked_is_reported_through_the_session(tmp_path: Path) -> None:
    path = tmp_path / "session.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.prepare()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with db.session() as session:
            raw = await session.connection()
            locked = (await raw.get_raw_connection()).driver_connection
            assert isinstance(locked, InlineConnection)
            locked.busy_seconds = 0.1
            with pytest.raises(OperationalError, match="database is locked"):
                await Store(session).members.ensure("telegram:1", "Ada", "ada", False, AT)
            await session.rollback()
    finally:
        other.close()
        await db.dispose()


async def test_long_work_lets_the_loop_run_other_tasks(tmp_path: Path) -> None:
    conn = await connect(str(tmp_path / "long.db"))
    ran: list[float] = []

    async def other() -> None:
        ran.append(time.perf_counter())

    try:
        await conn.execute("CREATE TABLE t (x)")
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(other()))
        started = time.perf_counter()
        # Calls that never wait on anything: without the pause the other task would only
        # run after the last of them.
        while time.perf_counter() - started < 10 * YIELD_SECONDS:
            await conn.execute("INSERT INTO t VALUES (1)")
        assert ran, "the loop never ran the other task"
        assert ran[0] - started < 3 * YIELD_SECONDS
    finally:
        await conn.close()


async def test_every_connection_gets_the_pragmas_of_storage_db(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await db.prepare()
    try:
        # Two connections at once: each is set up when the pool opens it.
        async with db.session() as first, db.session() as second:
            for session in (first, second):
                await session.execute(select(func.count()).select_from(models.Message))
                pragma = {
                    name: (await session.execute(text(f"PRAGMA {name}"))).scalar_one()
                    for name in ("journal_mode", "synchronous", "foreign_keys", "cache_size")
                }
                # synchronous 1 is NORMAL; a negative cache size is in KiB.
                assert pragma == {
                    "journal_mode": "wal",
                    "synchronous": 1,
                    "foreign_keys": 1,
                    "cache_size": -CACHE_KIB,
                }
    finally:
        await db.dispose()
