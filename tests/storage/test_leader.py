"""Leader election: of several processes on one PostgreSQL database exactly one ticks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import App, default_config
from bot.runtime import Runtime
from storage.db import Database
from storage.leader import APPLICATION_NAME, Leadership
from tests.storage.postgres import empty_postgres, terminate_backends


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> str:
    return await empty_postgres(request)


@pytest.fixture
async def databases(pg_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first, second = Database(pg_url), Database(pg_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def test_sqlite_is_single_process_so_always_the_leader(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}")
    first, second = Leadership(db), Leadership(db)
    try:
        assert await first.check() and await second.check()
    finally:
        await first.release()
        await second.release()
        await db.dispose()


@pytest.mark.postgres
async def test_one_leader_until_it_releases(databases: tuple[Database, Database]) -> None:
    first, second = Leadership(databases[0]), Leadership(databases[1])
    try:
        assert await first.check()
        assert not await second.check()
        assert await first.check()  # a leader stays the leader
        assert not await second.check()
        await first.release()
        assert await second.check()
        assert not await first.check()
    finally:
        await first.release()
        await second.release()


@pytest.mark.postgres
async def test_a_dropped_connection_loses_the_lead_to_whoever_asks_next(
    pg_url: str, databases: tuple[Database, Database]
) -> None:
    first, second = Leadership(databases[0]), Leadership(databases[1])
    try:
        assert await first.check()
        assert not await second.check()
        # Both leader connections die (a failover, a restart): the server drops the lock.
        assert await terminate_backends(pg_url, APPLICATION_NAME) == 2
        assert not await first.check()  # it notices at its next check
        assert not first.leader
        assert not await second.check()  # its own connection was dropped as well
        assert await second.check()  # on a new connection it takes the lead
        assert not await first.check()
    finally:
        await first.release()
        await second.release()


@pytest.mark.postgres
async def test_of_two_runtimes_only_the_leader_ticks_and_the_other_takes_over(
    pg_url: str,
) -> None:
    apps = [await App.create(default_config(pg_url), database_url=pg_url) for _ in range(2)]
    runtimes = [Runtime(app, [], tick_seconds=0.05) for app in apps]
    ticks = [0, 0]
    ticked = asyncio.Event()

    def counting(index: int, runtime: Runtime) -> None:
        original = runtime.tick

        async def tick(now: datetime | None = None) -> None:
            ticks[index] += 1
            ticked.set()
            await original(now)

        runtime.tick = tick  # type: ignore[method-assign]

    async def until(check: Callable[[], bool]) -> None:
        async with asyncio.timeout(15):
            while not check():
                ticked.clear()
                await ticked.wait()

    for index, runtime in enumerate(runtimes):
        counting(index, runtime)
    tasks = [asyncio.create_task(r.run()) for r in runtimes]
    try:
        await until(lambda: max(ticks) >= 5)
        leader = 0 if ticks[0] else 1
        other = 1 - leader
        assert ticks[other] == 0
        runtimes[leader].stop()
        await asyncio.wait_for(tasks[leader], 15)
        stopped_at = ticks[leader]
        await until(lambda: ticks[other] >= 3)  # the other takes over
        assert ticks[leader] == stopped_at
    finally:
        for runtime in runtimes:
            runtime.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
        for app in apps:
            await app.close()
