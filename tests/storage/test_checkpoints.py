"""SQLite's write-ahead log is checkpointed by a worker thread while the bot runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import AUTOCHECKPOINT_PAGES, Database
from storage.repositories import Store

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _size(path: Path) -> int:
    return path.stat().st_size


async def _autocheckpoint(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


async def _write(db: Database, rows: int, tag: str) -> None:
    async with db.session() as session:
        store = Store(session)
        for n in range(rows):
            await store.messages.add(
                community="demo",
                chat="chat:c",
                message_id=f"{tag}{n}",
                author="chat:u",
                text="x" * 2000,
                at=AT,
            )


async def test_commits_leave_checkpoints_to_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.prepare()
    stop = asyncio.Event()
    try:
        assert await _autocheckpoint(db) == AUTOCHECKPOINT_PAGES
        # A long interval: the only checkpoint the task runs is its last one, at the stop.
        task = asyncio.create_task(db.checkpoints(stop, every=3600))
        await asyncio.sleep(0.05)
        assert await _autocheckpoint(db) == 0
        before = _size(path)
        # About 3,000 pages: SQLite's own rule would have checkpointed in these commits.
        for batch in range(3):
            await _write(db, 1500, f"b{batch}-")
        wal = Path(f"{path}-wal")
        assert _size(wal) > 2 * AUTOCHECKPOINT_PAGES * 4096
        assert _size(path) == before, "a commit checkpointed"
        stop.set()
        await task
        assert _size(path) > before + 5_000_000
        # Afterwards commits checkpoint as SQLite does by default again.
        assert await _autocheckpoint(db) == AUTOCHECKPOINT_PAGES
    finally:
        stop.set()
        await db.dispose()


async def test_the_worker_checkpoints_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "tick.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(db.checkpoints(stop, every=0.05))
    try:
        await asyncio.sleep(0.1)
        before = _size(path)
        await _write(db, 1500, "t")
        for _ in range(100):
            if _size(path) > before + 2_000_000:
                break
            await asyncio.sleep(0.05)
        assert _size(path) > before + 2_000_000
        assert not task.done()
    finally:
        stop.set()
        await task
        await db.dispose()


async def test_memory_databases_need_no_checkpoints() -> None:
    db = Database("sqlite+aiosqlite://")
    await db.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(db.checkpoints(stop, every=0.01))
    try:
        await asyncio.sleep(0.05)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 1)
    finally:
        await db.dispose()


async def test_without_a_worker_connection_commits_checkpoint_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gone.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.prepare()
    # The worker cannot open the file (here: a directory stands where it would be).
    db._file = str(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(db.checkpoints(stop, every=0.01))
    try:
        await asyncio.sleep(0.1)
        assert not task.done()
        assert await _autocheckpoint(db) == AUTOCHECKPOINT_PAGES
        assert "no checkpoints from a worker" in caplog.text
    finally:
        stop.set()
        await asyncio.wait_for(task, 1)
        await db.dispose()
