"""Replays on PostgreSQL: a killed connection, and two engines replaying one stream at once.

Both must end with exactly the totals of one uninterrupted replay into an empty database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import App, default_config
from bot.bench.synth import SynthConfig, dumps, generate
from bot.replay import replay
from storage import models
from tests.conftest import _truncate
from tests.storage.postgres import empty_postgres, terminate_backends

# Most of a day in a small community: thanks (a few blocked by the rules), reactions,
# one taken back, complaints and a promoter's flags.
STREAM = SynthConfig(lines=500, members=60, days=0.75)
LINES = [dumps(record) for record in generate(STREAM)]
ROOT = Path(__file__).parents[2]
Totals = dict[str, object]
_reference: list[Totals] = []


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> str:
    return await empty_postgres(request)


async def totals(app: App) -> Totals:
    """What the replay left behind: the ledger, messages, cases, flags and decisions."""
    async with app.db.session() as session:
        entry = models.KarmaEntry
        count, points = (await session.execute(select(func.count(), func.sum(entry.points)))).one()

        async def rows(table: type[object]) -> int:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)

        kind = models.Decision.kind
        by_kind = (await session.execute(select(kind, func.count()).group_by(kind))).all()
        return {
            "ledger": (int(count), round(float(points or 0.0), 6)),
            "kinds": {str(k): int(n) for k, n in by_kind},
            "messages": await rows(models.Message),
            "cases": await rows(models.Case),
            "flags": await rows(models.Flag),
            "decisions": await rows(models.Decision),
            "events": await rows(models.ProcessedEvent),
        }


async def reference(url: str) -> Totals:
    """The totals of one uninterrupted replay into an empty database (computed once)."""
    if not _reference:
        app = await App.create(default_config(url), database_url=url)
        try:
            await replay(app, LINES, batch_size=100)
            _reference.append(await totals(app))
        finally:
            await app.close()
        await _truncate(url)
    return _reference[0]


@pytest.mark.postgres
async def test_the_reference_stream_exercises_every_total(pg_url: str) -> None:
    expected = await reference(pg_url)
    assert expected["ledger"][0] > 20  # type: ignore[index]
    assert all(expected[key] for key in ("messages", "cases", "flags", "decisions"))
    kinds = expected["kinds"]
    assert isinstance(kinds, dict)
    assert {"karma", "karma_blocked", "karma_reversed", "complaint", "promo"} <= set(kinds)


@pytest.mark.postgres
async def test_a_replay_whose_connection_is_killed_completes_exactly(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = await reference(pg_url)
    app = await App.create(default_config(pg_url), database_url=pg_url)
    reached = asyncio.Event()
    killed: list[int] = []

    def lines() -> Iterator[str]:
        for number, line in enumerate(LINES):
            if number == 250:  # in the middle of the third batch of 100
                reached.set()
            yield line

    async def killer() -> None:
        await reached.wait()
        killed.append(await terminate_backends(pg_url))

    task = asyncio.create_task(killer())
    try:
        with caplog.at_level(logging.WARNING, logger="storage.retry"):
            stats = await replay(app, lines(), batch_size=100)
        await task
        assert killed and killed[0] >= 1
        assert "trying again" in caplog.text  # the batch was rolled back and fed again
        assert stats.events == len(LINES) - stats.duplicates
        assert await totals(app) == expected
    finally:
        task.cancel()
        await app.close()


def child(url: str, batch_size: int) -> None:
    """One bot process replaying the stream (run in a subprocess); prints its counts."""

    async def run() -> dict[str, int]:
        app = await App.create(default_config(url), database_url=url)
        try:
            stats = await replay(app, LINES, batch_size=batch_size)
        finally:
            await app.close()
        return {"events": stats.events, "duplicates": stats.duplicates}

    print(json.dumps(asyncio.run(run())))


async def replay_in_process(url: str, batch_size: int) -> asyncio.subprocess.Process:
    code = f"from {__name__} import child; child({url!r}, {batch_size})"
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.postgres
async def test_two_processes_replaying_one_stream_count_everything_once(pg_url: str) -> None:
    expected = await reference(pg_url)
    # Committing every event, the two race for each claim and wait on each other's
    # uncommitted claims, member rows and karma locks.
    processes = [await replay_in_process(pg_url, 2) for _ in range(2)]
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 120)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()[-3000:]
    counts = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    handled = [c["events"] - c["duplicates"] for c in counts]
    assert all(handled), handled  # both did part of the work
    assert sum(handled) == counts[0]["events"] == counts[1]["events"]  # each event once
    app = await App.create(default_config(pg_url), database_url=pg_url)
    try:
        assert await totals(app) == expected
    finally:
        await app.close()
