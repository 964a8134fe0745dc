"""A replay batch lost to a passing database error is fed again; an input error is not."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from bot.app import App, default_config
from bot.bench.synth import SynthConfig, dumps, generate
from bot.engine import Engine, Result
from bot.events import Event
from bot.replay import replay
from storage import models
from tests.bot.test_engine import Echo
from tests.bot.test_replay import conversation, counts
from tests.conftest import MakeApp


def lost_connection() -> DBAPIError:
    return DBAPIError(
        "INSERT", {}, ConnectionResetError("reset by peer"), connection_invalidated=True
    )


def lose_connections(monkeypatch: pytest.MonkeyPatch, calls: list[int]) -> list[int]:
    """Make the engine's n-th calls fail as a dropped connection; the list empties as
    they happen."""
    process = Engine.process
    planned, count = list(calls), 0

    async def flaky(self: Engine, event: Event) -> Result:
        nonlocal count
        count += 1
        if planned and count == planned[0]:
            planned.pop(0)
            raise lost_connection()
        return await process(self, event)

    monkeypatch.setattr(Engine, "process", flaky)
    return planned


async def test_a_batch_lost_to_a_dropped_connection_is_fed_again_exactly(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = conversation(300)
    # The uninterrupted replay goes to a database of its own (make_app shares the test's).
    url = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    config = default_config(url, features=[Echo()])
    reference = await App.create(config, database_url=url, features=[Echo()])
    expected_log = io.StringIO()
    try:
        expected = await replay(reference, lines, decisions_out=expected_log, batch_size=50)
        expected_counts = await counts(reference)
    finally:
        await reference.close()

    app = await make_app(features=[Echo()])
    planned = lose_connections(monkeypatch, [130, 131, 290])  # twice in a batch, once later
    log = io.StringIO()
    stats = await replay(app, lines, decisions_out=log, batch_size=50)
    assert not planned  # every planned failure happened
    assert (stats.messages, stats.reactions, stats.duplicates) == (
        expected.messages,
        expected.reactions,
        0,
    )
    assert stats.decisions == expected.decisions
    # Every decision is logged once, in order, as in a replay that never failed.
    assert [json.loads(x) for x in log.getvalue().splitlines()] == [
        json.loads(x) for x in expected_log.getvalue().splitlines()
    ]
    assert await counts(app) == expected_counts


async def test_with_every_feature_on_a_batch_fed_again_decides_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What features keep in memory of a lost batch goes with it: fed again, its thanks
    meet no cooldown of their own awards, its links are no copies of themselves."""
    config = SynthConfig(lines=4_000, members=120, chats=3, seed=7, days=2.0)
    lines = [dumps(record).encode() for record in generate(config)]

    async def run(name: str) -> list[Any]:
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        app = await App.create(default_config(url), database_url=url)
        log = io.StringIO()
        try:
            await replay(app, lines, decisions_out=log, batch_size=200)
        finally:
            await app.close()
        return [json.loads(x) for x in log.getvalue().splitlines()]

    expected = await run("reference")
    planned = lose_connections(monkeypatch, [1190, 2390, 3590])  # late in batches of 200
    got = await run("flaky")
    assert not planned
    kinds = Counter(d["kind"] for d in expected)
    assert kinds["karma"] > 50 and kinds["promo"] > 0, kinds
    assert got == expected


async def test_events_sharing_a_transaction_decide_what_events_committed_one_by_one_decide(
    tmp_path: Path,
) -> None:
    """A replay's batch must not hide an event's writes from the events after it: the
    running bot commits every event, and a replay has to decide as it does."""
    config = SynthConfig(lines=3_000, members=100, chats=3, seed=11, days=3.0)
    lines = [dumps(record).encode() for record in generate(config)]

    async def run(name: str, batch_size: int) -> tuple[list[Any], list[Any]]:
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        app = await App.create(default_config(url), database_url=url)
        log = io.StringIO()
        try:
            await replay(app, lines, decisions_out=log, batch_size=batch_size)
            async with app.db.session() as session:
                cases = await session.execute(
                    select(models.Case.id, models.Case.status, models.Case.escalated_at)
                )
                events = await session.execute(
                    select(models.CaseEvent.case_id, models.CaseEvent.action)
                )
                rows = [sorted(cases.all()), sorted(events.all())]
        finally:
            await app.close()
        return [json.loads(x) for x in log.getvalue().splitlines()], rows

    one_by_one = await run("one_by_one", 1)
    batched = await run("batched", 500)
    kinds = Counter(d["kind"] for d in one_by_one[0])
    assert kinds["complaint_escalated"] > 0, kinds
    assert kinds["karma"] > 50 and kinds["promo"] > 0, kinds
    assert batched == one_by_one


async def test_an_error_of_the_input_is_raised_not_retried(make_app: MakeApp) -> None:
    app = await make_app(features=[Echo()])
    lines = conversation(100)

    def broken() -> Iterator[Any]:
        for number, line in enumerate(lines):
            if number == 70:
                raise ConnectionResetError("the network share went away")
            yield line

    with pytest.raises(ConnectionResetError):
        await replay(app, broken(), batch_size=25)
    # Whole batches before the error are kept; nothing after it was pretended to be read.
    assert (await counts(app))[2] == 50
