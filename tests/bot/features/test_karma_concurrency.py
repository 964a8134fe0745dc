"""Two bot processes on one PostgreSQL database never grant more than a daily cap allows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App, default_config
from bot.events import Member, MessagePosted
from bot.features.karma import KarmaFeature
from bot.features.karma import feature as karma_feature
from storage import models
from storage.repositories import Locks
from tests.storage.postgres import empty_postgres

AT = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
# Every thanks is worth one point (full weight), so a cap of 4 lets exactly four through.
CONFIG = """
[karma]
thanks_points = 1.0
weight_min = 1.0
weight_max = 1.0
daily_cap_giver = 4.0
daily_cap_receiver = 4.0
acknowledge = "silent"
"""


@pytest.fixture
async def two_apps(request: pytest.FixtureRequest) -> AsyncIterator[tuple[App, App]]:
    """Two independent apps (engines, pools) on one PostgreSQL database, like two processes."""
    url = await empty_postgres(request)
    config = default_config(url, extra=CONFIG, features=[KarmaFeature()])
    first = await App.create(config, database_url=url, features=[KarmaFeature()])
    second = await App.create(config, database_url=url, features=[KarmaFeature()])
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def thanks(number: int, giver: str, receiver: str) -> MessagePosted:
    return MessagePosted(
        key=f"console:general:t{number}",
        community="demo",
        chat="console:general",
        message_id=f"t{number}",
        author=Member(key=f"console:{giver}", name=giver),
        text=f"danke @{receiver}",
        mentions=(f"console:{receiver}",),
        at=AT,
    )


async def ledger(app: App) -> tuple[int, float]:
    async with app.db.session() as session:
        entry = models.KarmaEntry
        row = (await session.execute(select(func.count(), func.sum(entry.points)))).one()
        return int(row[0]), float(row[1] or 0.0)


async def settle(*apps: App) -> None:
    """The chat is known to both (the rules weigh givers by when the community started)."""
    for number, app in enumerate(apps):
        await app.engine.handle(
            MessagePosted(
                key=f"console:general:hello{number}",
                community="demo",
                chat="console:general",
                message_id=f"hello{number}",
                author=Member(key="console:host", name="host"),
                text="Hallo zusammen",
                at=AT,
            )
        )


def slow_judge(monkeypatch: pytest.MonkeyPatch, pause: Callable[[], Awaitable[None]]) -> None:
    """Let every judgement wait a moment before its award is written (a wider race)."""
    judge = karma_feature.judge

    async def judged(*args: Any, **kwargs: Any) -> Any:
        verdict = await judge(*args, **kwargs)
        await pause()
        return verdict

    monkeypatch.setattr(karma_feature, "judge", judged)


# One giver thanking twelve members, or twelve members thanking one receiver.
SCENARIOS = {
    "giver_cap": [("alice", f"member{i}") for i in range(12)],
    "receiver_cap": [(f"member{i}", "bob") for i in range(12)],
}


@pytest.mark.postgres
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_two_processes_grant_no_more_than_the_daily_cap(
    two_apps: tuple[App, App], monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    first, second = two_apps
    await settle(first, second)
    slow_judge(monkeypatch, lambda: asyncio.sleep(0.02))
    events = [thanks(i, giver, receiver) for i, (giver, receiver) in enumerate(SCENARIOS[scenario])]
    # Alternate the engines, all at once: every award alone would fit under the cap.
    await asyncio.gather(
        *((first if i % 2 else second).engine.handle(e) for i, e in enumerate(events))
    )
    assert await ledger(first) == (4, 4.0)


@pytest.mark.postgres
async def test_without_the_locks_both_processes_pass_the_cap(
    two_apps: tuple[App, App], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the locks close: both judge before either writes, so both see room."""
    first, second = two_apps

    async def no_lock(self: Locks, *names: str) -> None:
        return None

    monkeypatch.setattr(Locks, "hold", no_lock)
    await settle(first, second)
    # The giver has room for one more point only; two processes judge one award each.
    for number in range(3):
        await first.engine.handle(thanks(number, "alice", f"member{number}"))
    barrier = asyncio.Barrier(2)
    slow_judge(monkeypatch, barrier.wait)
    await asyncio.gather(
        first.engine.handle(thanks(3, "alice", "member3")),
        second.engine.handle(thanks(4, "alice", "member4")),
    )
    assert await ledger(first) == (5, 5.0)
