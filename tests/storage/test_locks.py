"""Transaction-scoped member locks: taken on PostgreSQL, nothing on SQLite (one process)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.repositories import Store, lock_key


def test_lock_numbers_are_the_same_in_every_process_and_version() -> None:
    # Fixed values: a process that numbered locks differently would not exclude the others.
    assert lock_key("member:console:alice") == -9127595521934909725
    assert lock_key("leumund:leader") == 4595179084861159216


async def test_locks_exclude_other_transactions_until_commit(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.session() as session:
            store = Store(session)
            await store.locks.members("console:alice", "console:bob")
            assert store.shared == (not db.is_sqlite)
            if db.is_sqlite:
                return  # one process: nothing to exclude, and nothing was taken
            busy = await other_try(db, "member:console:bob")
            assert busy is False
        assert await other_try(db, "member:console:bob") is True  # released at commit
    finally:
        await db.dispose()


async def other_try(db: Database, name: str) -> bool:
    """Whether another transaction could take the lock right now."""
    async with db.session() as session:
        got = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(CAST(:key AS bigint))"), {"key": lock_key(name)}
        )
        return bool(got)


async def test_a_second_transaction_waits_for_the_first(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite is used by one process: it takes no locks")
    db = Database(db_url)
    order: list[str] = []
    first_has_lock = asyncio.Event()
    try:

        async def first() -> None:
            async with db.session() as session:
                await Store(session).locks.members("console:alice")
                first_has_lock.set()
                await asyncio.sleep(0.2)
                order.append("first done")

        async def second() -> None:
            await first_has_lock.wait()
            async with db.session() as session:
                await Store(session).locks.members("console:carol", "console:alice")
                order.append("second has the lock")

        await asyncio.gather(first(), second())
        assert order == ["first done", "second has the lock"]
    finally:
        await db.dispose()
