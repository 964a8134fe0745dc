"""The recent ledger in memory answers the rules as the ledger query does."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import astuple
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from adapters.console import ConsoleChat, TestClock
from bot.app import App, default_config
from bot.bench.synth import SynthConfig, dumps, generate
from bot.events import Event
from bot.features.base import Context, Outcome
from bot.features.karma import KarmaFeature
from bot.features.karma.flows import RecentLedger
from bot.features.karma.link import Profile
from bot.features.karma.rules import Flows, Ledger, QueriedFlows, Windows, find_ring
from bot.features.karma.settings import KarmaSettings
from bot.replay import replay
from storage.db import Database
from storage.repositories import Store
from tests.conftest import START, MakeApp

MEMBERS = [f"m{i}" for i in range(7)]
REASONS = ("thanks", "reaction", "reversal", "moderator")


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    await database.prepare()
    yield database
    await database.dispose()


def windows_at(rng: random.Random, now: Any) -> Windows:
    return Windows(
        today=now.replace(hour=0, minute=0, second=0, microsecond=0),
        ring_since=now - timedelta(days=rng.choice((1, 3, 7))),
        pair_since=now - timedelta(minutes=rng.choice((0, 30, 600))),
        back_since=now - timedelta(minutes=rng.choice((0, 60, 3000))),
    )


def row(rng: random.Random, at: Any) -> dict[str, Any]:
    giver = rng.choice([*MEMBERS, None]) if rng.random() < 0.1 else rng.choice(MEMBERS)
    return {
        "giver": giver,
        "receiver": rng.choice(MEMBERS),
        "points": round(rng.choice((1, -1, 0.5, -0.25, 2.25)) * rng.random() * 4, 2),
        "reason": rng.choice(REASONS),
        "event_key": f"e{rng.random()}",
        "at": at,
    }


def pairs_of(flows: Flows) -> list[tuple[Any, ...]]:
    found = (flows.pair(a, b) for a in MEMBERS for b in MEMBERS)
    return sorted(astuple(p) for p in found if p is not None)


def totals_of(flows: Flows) -> list[tuple[Any, ...]]:
    """Every member's totals and partners (those with rows in the windows)."""
    return [
        (
            m,
            flows.given(m),
            flows.received(m),
            flows.given_today(m),
            flows.received_today(m),
            sorted(r for r in flows.gave_to(m) if flows.pair(m, r) is not None),
            sorted(g for g in flows.got_from(m) if flows.pair(g, m) is not None),
        )
        for m in MEMBERS
    ]


def person(rng: random.Random, members: list[str]) -> Profile:
    """A member, sometimes with a second linked account."""
    key = members.pop()
    accounts = (key, members.pop()) if rng.random() < 0.3 else ()
    return Profile(key=key, name=key, accounts=accounts)


async def compare(
    rng: random.Random, store: Store, recent: RecentLedger, community: str, now: datetime
) -> None:
    windows = windows_at(rng, now)
    ledger = Ledger(store, community)
    kept = await recent.flows(store, community, now, windows)
    assert kept is not None
    queried = await ledger.flows(MEMBERS, windows)
    assert pairs_of(kept) == pairs_of(queried)
    assert totals_of(kept) == totals_of(queried)
    settings = KarmaSettings(
        ring_min_points=rng.choice((1.0, 4.0)), ring_max_size=rng.choice((3, 5))
    )
    members = rng.sample(MEMBERS, 4)
    giver, receiver = person(rng, members), person(rng, members)
    points = rng.choice((0.5, 1.0, 2.0))
    rings = [
        await find_ring(flows, settings, giver, receiver, points)
        for flows in (kept, await ledger.flows([*giver.all_keys, *receiver.all_keys], windows))
    ]
    assert rings[0] == rings[1]
    return rings[0] is not None


@pytest.mark.parametrize("seed", range(12))
async def test_flows_equal_the_ledger_query(db: Database, seed: int) -> None:
    """Random ledgers, written partly before the rows are loaded and partly after (through
    ``record``), asked about random windows as time moves on: sums, partners and rings
    are the same from memory as from the query."""
    rng = random.Random(seed)
    community = f"c{seed}"
    recent = RecentLedger()
    now = START
    async with db.session() as session:
        store = Store(session)
        for _ in range(rng.randrange(0, 40)):  # before anything is kept
            await store.karma.add(community=community, **row(rng, now))
            now += timedelta(minutes=rng.randrange(0, 400))
        for _ in range(60):
            for _ in range(rng.randrange(0, 5)):
                values = row(rng, now)
                await store.karma.add(community=community, **values)
                recent.record(
                    community,
                    values["giver"],
                    values["receiver"],
                    values["points"],
                    values["at"],
                    values["reason"],
                )
            await compare(rng, store, recent, community, now)
            now += timedelta(minutes=rng.randrange(0, 600))
    # Time moved on by days: old rows were let go without reading them again.
    assert recent.loads <= 3
    assert recent.rows(community) > 0


async def test_rings_are_found_the_same_way(db: Database) -> None:
    """A few members trading points among themselves: the rings both ways agree."""
    rng = random.Random(11)
    recent = RecentLedger()
    rings = 0
    async with db.session() as session:
        store = Store(session)
        now = START
        for _ in range(200):
            giver, receiver = rng.sample(MEMBERS[:4], 2)
            values = {**row(rng, now), "giver": giver, "receiver": receiver, "reason": "thanks"}
            values["points"] = abs(values["points"]) + 0.5
            await store.karma.add(community="c", **values)
            recent.record("c", giver, receiver, values["points"], now, "thanks")
            rings += await compare(rng, store, recent, "c", now)
            now += timedelta(minutes=rng.randrange(0, 90))
    assert rings > 20


async def test_an_earlier_question_reads_the_rows_again(db: Database) -> None:
    recent = RecentLedger()
    rng = random.Random(5)
    async with db.session() as session:
        store = Store(session)
        at = START
        for _ in range(50):
            await store.karma.add(community="c", **{**row(rng, at), "reason": "thanks"})
            at += timedelta(hours=7)
        for now in (at, START + timedelta(days=3)):
            await compare(rng, store, recent, "c", now)
        assert recent.loads == 2  # the earlier moment was no longer held


async def test_too_many_rows_are_left_to_the_query(db: Database) -> None:
    recent = RecentLedger(max_rows=10)
    async with db.session() as session:
        store = Store(session)
        rng = random.Random(9)
        for i in range(20):
            values = {**row(rng, START + timedelta(minutes=i)), "reason": "reaction", "giver": "m1"}
            await store.karma.add(community="c", **values)
        now = START + timedelta(hours=1)
        windows = windows_at(rng, now)
        assert await recent.flows(store, "c", now, windows) is None
        assert recent.rows("c") == 0
        # The rules fall back to the query.
        flows = await Ledger(store, "c", recent=recent, now=now).flows(MEMBERS, windows)
        assert isinstance(flows, QueriedFlows)
        assert pairs_of(flows) != []
        recent.clear()
        assert await RecentLedger().flows(store, "c", now, windows) is not None


class Fails:
    """A feature after karma that fails with a database error on one message text."""

    name = "fails"
    settings_model = KarmaFeature.settings_model
    handles = KarmaFeature.handles
    commands = ()

    async def handle(self, event: Event, ctx: Context[Any]) -> Outcome:
        if getattr(event, "text", "") == "danke @bob!!":
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return Outcome()


async def test_a_rolled_back_award_is_forgotten(make_app: MakeApp) -> None:
    """The award of an event that rolls back is gone from memory too: the next thanks
    is not held back by a cooldown of an award that was never stored."""
    karma = KarmaFeature()
    app = await make_app(features=[karma, Fails()])
    chat = ConsoleChat(app.engine, community="demo", clock=TestClock(START, timedelta(minutes=1)))
    await chat.say("bob", "hallo")
    await chat.say("carol", "danke @bob")  # loads the (empty) recent ledger
    with pytest.raises(OperationalError):
        await chat.say("alice", "danke @bob!!")
    await chat.say("alice", "danke @bob")
    rules = [(d.kind, d.data.get("rule")) for d in chat.decisions if d.kind.startswith("karma")]
    assert rules[-1][0] == "karma", rules
    async with app.db.session() as session:
        ledger = await Store(session).karma.balances("demo")
    # carol's award and alice's second: the rolled-back one is in neither place.
    awarded = [d.data["points"] for d in chat.decisions if d.kind == "karma"]
    assert len(awarded) == 2
    assert ledger == {"console:bob": pytest.approx(sum(awarded))}


async def test_a_replay_decides_the_same_with_and_without_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every feature on, a busy synthetic community: the same decisions, line for line."""
    config = SynthConfig(lines=8_000, members=150, chats=3, seed=3, days=4.0)
    lines = [dumps(record).encode() for record in generate(config)]

    async def run(name: str) -> list[dict[str, Any]]:
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        app = await App.create(default_config(url), database_url=url)
        out = tmp_path / f"{name}.jsonl"
        try:
            with out.open("w", encoding="utf-8") as log:
                stats = await replay(app, lines, decisions_out=log)
        finally:
            await app.close()
        assert stats.errors == []
        return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

    kept = await run("kept")
    monkeypatch.setattr(KarmaFeature, "_kept", lambda self, ctx: None)
    queried = await run("queried")
    karma = [d for d in kept if d["kind"].startswith("karma")]
    assert len(karma) > 300
    rules = {d["rule"] for d in karma if d["kind"] == "karma_blocked"}
    assert {"cooldown", "reciprocal"} <= rules, rules
    assert kept == queried


@pytest.mark.parametrize("seed", range(5))
async def test_rows_out_of_order_are_summed_as_in_order(db: Database, seed: int) -> None:
    """Platforms deliver late: rows recorded older than the newest keep every sum right."""
    rng = random.Random(seed)
    recent = RecentLedger()
    async with db.session() as session:
        store = Store(session)
        now = START + timedelta(days=3)
        widest = Windows(now, now - timedelta(days=7), now, now)
        await recent.flows(store, "c", now, widest)  # loads the empty ledger
        for _ in range(120):
            at = now - timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
            values = {**row(rng, at), "reason": rng.choice(("thanks", "reaction", "reversal"))}
            await store.karma.add(community="c", **values)
            recent.record(
                "c", values["giver"], values["receiver"], values["points"], at, values["reason"]
            )
        for _ in range(10):
            windows = windows_at(rng, now)
            kept = await recent.flows(store, "c", now, windows)
            queried = await Ledger(store, "c").flows(MEMBERS, windows)
            assert kept is not None
            assert pairs_of(kept) == pairs_of(queried)
            assert totals_of(kept) == totals_of(queried)
        assert recent.loads == 1
