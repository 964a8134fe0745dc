"""Karma balances: always the sum of the ledger, through replays, rollbacks, concurrent
writers and the migration that introduces them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import text

from bot.replay import replay
from storage.db import Database
from storage.repositories import Store
from tests.conftest import MakeApp

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


def award(receiver: str, points: float, key: str, giver: str | None = "chat:g") -> dict[str, Any]:
    return {
        "community": "demo",
        "giver": giver,
        "receiver": receiver,
        "points": points,
        "reason": "thanks",
        "event_key": key,
        "at": AT,
    }


async def assert_balances_match_ledger(db: Database, community: str = "demo") -> dict[str, float]:
    async with db.session() as session:
        karma = Store(session).karma
        ledger, balances = await karma.totals(community), await karma.balances(community)
    assert balances.keys() == ledger.keys()
    for member, points in ledger.items():
        assert balances[member] == pytest.approx(points, abs=1e-9), member
    return balances


async def test_a_replay_of_the_sample_community_keeps_them_equal(make_app: MakeApp) -> None:
    app = await make_app()  # every feature: awards, reversals, moderators' changes, rings
    data = resources.files("bot").joinpath("data/sample_community.jsonl").read_bytes()
    stats = await replay(app, data.splitlines())
    assert stats.errors == [] and stats.decisions["karma_reversed"] >= 1
    balances = await assert_balances_match_ledger(app.db)
    assert len(balances) >= 5
    async with app.db.session() as session:
        karma = Store(session).karma
        top = await karma.top("demo", limit=3)
        assert [t.member for t in top] == sorted(
            (m for m, p in balances.items() if p > 0), key=lambda m: (-balances[m], m)
        )[:3]
        total = await karma.total("demo", [top[0].member, top[1].member])
        assert total == pytest.approx(balances[top[0].member] + balances[top[1].member])


async def test_a_rolled_back_award_leaves_no_balance(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.prepare()
        async with db.session() as session:
            await Store(session).karma.add(**award("chat:a", 2.0, "k1"))
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await Store(session).karma.add(**award("chat:a", 5.0, "k2"))
                await Store(session).karma.add(**award("chat:b", 1.0, "k3"))
                raise RuntimeError("the event failed after its awards")
        assert await assert_balances_match_ledger(db) == {"chat:a": 2.0}
    finally:
        await db.dispose()


async def test_concurrent_writers_add_up(db_url: str) -> None:
    """Two transactions award the same new member: the second waits for the first."""
    db = Database(db_url)
    try:
        await db.prepare()
        first_wrote = asyncio.Event()

        async def first() -> None:
            async with db.session() as session:
                await Store(session).karma.add(**award("chat:new", 1.5, "k1"))
                first_wrote.set()
                await asyncio.sleep(0.3)  # the second writer is waiting meanwhile

        async def second() -> None:
            await first_wrote.wait()
            async with db.session() as session:
                await Store(session).karma.add(**award("chat:new", 2.0, "k2"))

        await asyncio.wait_for(asyncio.gather(first(), second()), timeout=20)
        assert await assert_balances_match_ledger(db) == {"chat:new": 3.5}
    finally:
        await db.dispose()


async def test_the_migration_fills_them_from_an_existing_ledger(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        await db.upgrade("0004")
        async with db.engine.begin() as conn:
            for n, (community, receiver, points) in enumerate(
                [
                    ("demo", "chat:a", 1.0),
                    ("demo", "chat:a", -0.25),
                    ("demo", "chat:b", 2.0),
                    ("other", "chat:a", 4.0),
                ]
            ):
                await conn.execute(
                    text(
                        "INSERT INTO karma_ledger (community, receiver, points, reason, "
                        "event_key, at) VALUES (:c, :r, :p, 'thanks', :k, :at)"
                    ),
                    {"c": community, "r": receiver, "p": points, "k": f"k{n}", "at": AT},
                )
        await db.upgrade()
        assert await assert_balances_match_ledger(db) == {"chat:a": 0.75, "chat:b": 2.0}
        assert await assert_balances_match_ledger(db, "other") == {"chat:a": 4.0}
        async with db.session() as session:  # and new awards are added to them
            await Store(session).karma.add(**award("chat:b", 1.0, "k9"))
        assert await assert_balances_match_ledger(db) == {"chat:a": 0.75, "chat:b": 3.0}
    finally:
        await db.dispose()
