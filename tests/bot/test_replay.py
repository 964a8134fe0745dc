"""Replays: decisions out, bad lines counted, and a second run changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

import storage.db
from adapters.imports.jsonl import LineEvent
from bot.app import App, default_config
from bot.replay import jsonl_reader, read_ahead, replay
from storage import models
from tests.bot.test_engine import Echo
from tests.conftest import MakeApp


def conversation(n: int) -> list[str]:
    start = datetime(2026, 11, 16, 9, tzinfo=UTC)
    lines = []
    for i in range(n):
        lines.append(
            json.dumps(
                {
                    "type": "message",
                    "id": f"m{i}",
                    "chat": "c1" if i % 2 else "c2",
                    "author": {"id": f"u{i % 7}", "name": f"user{i % 7}"},
                    "ts": (start + timedelta(seconds=i)).isoformat(),
                    "text": f"hallo {i}",
                }
            )
        )
        if i % 5 == 0:
            lines.append(
                json.dumps(
                    {
                        "type": "reaction",
                        "id": f"r{i}",
                        "chat": "c1" if i % 2 else "c2",
                        "message_id": f"m{i}",
                        "user": {"id": "u9", "name": "nine"},
                        "emoji": "👍",
                        "ts": (start + timedelta(seconds=i)).isoformat(),
                    }
                )
            )
    return lines


async def counts(app: object) -> tuple[int, int, int]:
    async with app.db.session() as session:  # type: ignore[attr-defined]
        return (
            await session.scalar(select(func.count()).select_from(models.Message)),
            await session.scalar(select(func.count()).select_from(models.Decision)),
            await session.scalar(select(func.count()).select_from(models.ProcessedEvent)),
        )


async def test_replay_twice_changes_nothing(make_app: MakeApp) -> None:
    app = await make_app(features=[Echo()])
    lines = conversation(1200)
    out = io.StringIO()
    first = await replay(app, lines, decisions_out=out, batch_size=100)
    assert (first.messages, first.reactions, first.duplicates) == (1200, 240, 0)
    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sum(1 for d in logged if d["kind"] == "echo") == 1200
    assert {d["kind"] for d in logged} == {"echo", "reply"}
    before = await counts(app)
    assert before == (1200, 2400, 1440)
    second = await replay(app, lines, batch_size=100)
    assert second.duplicates == 1440 and not second.decisions
    assert await counts(app) == before


async def test_bad_lines_are_skipped_and_reported(make_app: MakeApp) -> None:
    app = await make_app(features=[Echo()])
    lines = conversation(3)
    lines.insert(1, "{oops")
    stats = await replay(app, lines)
    assert [str(e) for e in stats.errors] == [
        "line 2: invalid JSON: Expecting property name enclosed in double quotes"
    ]
    assert stats.messages == 3


async def test_interrupted_replay_completes_on_rerun(make_app: MakeApp) -> None:
    """A replay that dies half-way keeps whole events only; a re-run completes it exactly."""
    app = await make_app(features=[Echo()])
    lines = conversation(500)

    def dying() -> object:
        for number, line in enumerate(lines):
            if number == 333:
                raise KeyboardInterrupt
            yield line

    with contextlib.suppress(KeyboardInterrupt):
        await replay(app, dying(), batch_size=50)  # type: ignore[arg-type]
    partial = await counts(app)
    # Only whole batches of 50 events were committed before the interruption.
    assert partial[2] == 300
    await replay(app, lines, batch_size=50)
    reference = await make_app(features=[Echo()])
    await replay(reference, lines, batch_size=50)
    assert await counts(app) == await counts(reference)


async def test_commits_of_a_replay_leave_checkpoints_to_a_worker(tmp_path: Path) -> None:
    """SQLite's log is copied into the file by a worker thread, not in the batch commits."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'replay.db'}"
    app = await App.create(default_config(url, features=[Echo()]), database_url=url)
    seen: list[int] = []

    def on_commit(conn: Any) -> None:
        seen.append(int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()))

    event.listen(app.db.engine.sync_engine, "commit", on_commit)
    try:
        stats = await replay(app, conversation(2_000), batch_size=100)
        after = await app.db.current_revision()  # a connection checked out after the replay
    finally:
        await app.close()
    assert stats.messages == 2_000 and after is not None
    assert len(seen) >= 20
    # The first batch may begin before the worker has its connection; none after it.
    assert seen[1:-1] and set(seen[1:-1]) == {0}


def _log_bytes(database: Path) -> int:
    wal = Path(f"{database}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _never_empty(_db: storage.db.Database, _limit: int | None = None) -> None:
    """``limit_log`` as it was not: the log is never emptied."""


@pytest.mark.parametrize("limit", [64 * 1024, None])
async def test_a_long_replay_keeps_sqlites_log_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    """Batch after batch without pause: the log is emptied between batches once it is large."""
    if limit is not None:
        monkeypatch.setattr(storage.db, "LOG_LIMIT_BYTES", limit)
    else:  # what happened before the limit: the log only grows
        monkeypatch.setattr(storage.db.Database, "limit_log", _never_empty)
    path = tmp_path / "replay.db"
    url = f"sqlite+aiosqlite:///{path}"
    app = await App.create(default_config(url, features=[Echo()]), database_url=url)
    sizes: list[int] = []

    def on_commit(_conn: Any) -> None:
        sizes.append(_log_bytes(path))

    event.listen(app.db.engine.sync_engine, "commit", on_commit)
    try:
        stats = await replay(app, conversation(3_000), batch_size=100)
    finally:
        await app.close()
    assert stats.messages == 3_000 and len(sizes) >= 30
    grown = max(sizes)
    if limit is not None:
        # At most the limit and one batch's writes (100 messages and their rows).
        assert grown < limit + 512 * 1024, sizes
    else:
        assert grown > 2 * 1024 * 1024, sizes


@pytest.mark.parametrize("limit", [64 * 1024, None])
async def test_events_back_to_back_keep_sqlites_log_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    """As the running bot handles them: one transaction per event, no pause between them,
    the checkpoint worker beside; it empties the log when it catches a moment between two."""
    if limit is not None:
        monkeypatch.setattr(storage.db, "RUNNING_LOG_LIMIT_BYTES", limit)
    else:  # what happened before: the log only grew
        monkeypatch.setattr(storage.db.Database, "limit_log", _never_empty)
    path = tmp_path / "live.db"
    url = f"sqlite+aiosqlite:///{path}"
    app = await App.create(default_config(url, features=[Echo()]), database_url=url)
    reader = jsonl_reader(app.config, "demo")
    events = [
        item.event for item in reader.read(conversation(3_000)) if isinstance(item, LineEvent)
    ]
    stop = asyncio.Event()
    worker = asyncio.create_task(app.db.checkpoints(stop, every=0.2))
    sizes: list[int] = []
    try:
        for one in events:
            assert not (await app.engine.process(one)).duplicate
            sizes.append(_log_bytes(path))
    finally:
        stop.set()
        await worker
        await app.close()
    assert len(sizes) == len(events) >= 3_000
    emptied = sum(1 for before, after in itertools.pairwise(sizes) if after < before)
    # Everything the events wrote comes to some 80 MB; with the limit the log holds at most
    # what a checkpoint interval (0.2 s) of them wrote.
    if limit is not None:
        assert emptied >= 5 and max(sizes) < 32 * 1024 * 1024, (emptied, max(sizes))
    else:
        assert emptied == 0 and max(sizes) > 32 * 1024 * 1024, (emptied, max(sizes))


def test_read_ahead_takes_lines_a_chunk_at_a_time_in_order() -> None:
    taken: list[int] = []

    def source() -> Iterator[int]:
        for n in range(7):
            taken.append(n)
            yield n

    ahead = read_ahead(source(), 3)
    assert next(ahead) == 0
    assert taken == [0, 1, 2]  # the whole chunk, before the first item is fed
    assert list(ahead) == [1, 2, 3, 4, 5, 6]


def test_read_ahead_raises_an_error_of_the_input_after_what_came_before_it() -> None:
    def source() -> Iterator[int]:
        yield from (1, 2, 3, 4)
        raise ConnectionResetError("the network share went away")

    ahead = read_ahead(source(), 3)
    got = [next(ahead) for _ in range(4)]
    assert got == [1, 2, 3, 4]
    with pytest.raises(ConnectionResetError, match="network share"):
        next(ahead)
