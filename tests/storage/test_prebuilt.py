"""Writes run for every event: the same rows, errors and transactions on both paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel, col
from sqlmodel.sql.sqltypes import UTCDateTime

from bot.features.karma.rules import _PAIRS
from storage import models
from storage.db import Database
from storage.direct import PgDirect
from storage.repositories import _BALANCES, Query, Store, _direct, _quick_bind
from storage.retry import is_transient
from tests.storage.postgres import empty_postgres, terminate_backends

AT = datetime(2026, 11, 20, 10, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> str:
    return await empty_postgres(request)


async def _claimed(db: Database) -> list[str]:
    """The event keys the database holds."""
    async with db.session() as session:
        return list((await session.execute(select(col(models.ProcessedEvent.key)))).scalars())


async def _count(db: Database, model: type[SQLModel]) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(model)
        return int((await session.execute(stmt)).scalar_one())


async def test_rows_read_back_as_sqlalchemy_writes_them(db_url: str) -> None:
    db = Database(db_url)
    await db.prepare()
    try:
        async with db.session() as session:
            store = Store(session)
            assert await store.events.claim("k1", "message", "demo", AT)
            assert not await store.events.claim("k1", "message", "demo", AT)
            await store.members.ensure("chat:u1", "Ada", "ada", False, AT)
            added = await store.messages.add(
                community="demo",
                chat="chat:c",
                message_id="m1",
                author="chat:u1",
                text="Grüße 👋",
                mentions=["chat:u2", "chat:u3"],
                forwarded=True,
                at=AT,
            )
            assert added
            assert not await store.messages.add(
                community="demo", chat="chat:c", message_id="m1", author="chat:u1", at=AT
            )
            # Read back in the same transaction, and unknown messages have no author.
            assert await store.messages.author("chat:c", "m1") == "chat:u1"
            assert await store.messages.author("chat:c", "m2") is None
            assert await store.messages.author("chat:other", "m1") is None
            await store.decisions.add_many(
                [
                    {
                        "community": "demo",
                        "event_key": "k1",
                        "kind": "karma",
                        "message_id": "m1",
                        "data": {"points": 1.5, "who": ["a", "b"]},
                        "at": AT,
                    },
                    {
                        "community": "demo",
                        "event_key": "k1",
                        "kind": "reply",
                        "message_id": None,
                        "data": {},
                        "at": AT,
                    },
                ]
            )
        async with db.session() as session:
            message = await Store(session).messages.get("chat:c", "m1")
            assert message is not None
            assert (message.text, message.mentions, message.forwarded, message.deleted) == (
                "Grüße 👋",
                ["chat:u2", "chat:u3"],
                True,
                False,
            )
            assert message.at == AT
            # Field for field what the ORM loads (on SQLite the lookup bypasses it).
            loaded = (
                await session.execute(
                    select(models.Message).where(col(models.Message.message_id) == "m1")
                )
            ).scalar_one()
            fields = list(models.Message.model_fields)
            assert [getattr(message, f) for f in fields] == [getattr(loaded, f) for f in fields]
            assert message.id is not None
            assert await Store(session).messages.get("chat:c", "nope") is None
            member = (
                await session.execute(
                    select(models.Member).where(col(models.Member.key) == "chat:u1")
                )
            ).scalar_one()
            assert (member.name, member.username, member.first_seen) == ("Ada", "ada", AT)
            decisions = (
                (await session.execute(select(models.Decision).order_by(col(models.Decision.id))))
                .scalars()
                .all()
            )
            assert [(d.kind, d.message_id, d.data, d.at) for d in decisions] == [
                ("karma", "m1", {"points": 1.5, "who": ["a", "b"]}, AT),
                ("reply", None, {}, AT),
            ]
        # The upsert keeps the earliest sighting and a known username.
        async with db.session() as session:
            await Store(session).members.ensure("chat:u1", "Ada L.", None, False, AT.replace(day=1))
        async with db.session() as session:
            member = (
                await session.execute(
                    select(models.Member).where(col(models.Member.key) == "chat:u1")
                )
            ).scalar_one()
            assert (member.name, member.username, member.first_seen) == (
                "Ada L.",
                "ada",
                AT.replace(day=1),
            )
    finally:
        await db.dispose()


async def test_an_error_is_sqlalchemys_and_rolls_the_transaction_back(db_url: str) -> None:
    db = Database(db_url)
    await db.prepare()
    try:
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                store = Store(session)
                assert await store.events.claim("k1", "message", "demo", AT)
                # kind is NOT NULL.
                await store.decisions.add_many(
                    [
                        {
                            "community": "demo",
                            "event_key": "k1",
                            "kind": None,
                            "message_id": None,
                            "data": {},
                            "at": AT,
                        }
                    ]
                )
        assert await _count(db, models.ProcessedEvent) == 0
    finally:
        await db.dispose()


async def test_writes_after_a_commit_land_in_the_next_transaction(db_url: str) -> None:
    db = Database(db_url)
    await db.prepare()
    try:
        async with db.sessions() as session:
            store = Store(session)
            await session.begin()
            assert await store.events.claim("k1", "message", "demo", AT)
            await session.commit()
            # The pool may hand the next transaction another connection.
            await db.engine.dispose()
            await session.begin()
            assert await store.events.claim("k2", "message", "demo", AT)
            await session.rollback()
            await session.begin()
            assert await store.events.claim("k3", "message", "demo", AT)
            await session.commit()
        keys = await _claimed(db)
        assert sorted(keys) == ["k1", "k3"]
    finally:
        await db.dispose()


async def test_a_query_returns_what_sqlalchemy_returns_for_every_list_length(
    db_url: str,
) -> None:
    db = Database(db_url)
    await db.prepare()
    members = ["chat:a", "chat:b", "chat:c", "chat:d"]
    try:
        async with db.session() as session:
            ledger = Store(session).karma
            ids = []
            for n, (giver, receiver) in enumerate(
                [("chat:a", "chat:b"), ("chat:b", "chat:c"), ("chat:c", "chat:a"), (None, "chat:d")]
            ):
                ids.append(
                    await ledger.add(
                        community="demo",
                        giver=giver,
                        receiver=receiver,
                        points=1.5 + n,
                        reason="thanks" if n % 2 else "reaction",
                        event_key=f"k{n}",
                        at=AT.replace(hour=n + 1),
                    )
                )
            # Each row's own id, in order.
            assert ids == sorted(ids) and len(set(ids)) == 4
        async with db.session() as session:
            # Lengths 1, 2, 3, 4 and back to 2: each shape compiled once, then reused.
            for size in (1, 2, 3, 4, 2):
                keys = members[:size]
                params = {
                    "community": "demo",
                    "keys": keys,
                    "since": AT.replace(hour=0),
                    "today": AT.replace(hour=2),
                    "ring_since": AT.replace(hour=3),
                    "pair_since": AT.replace(hour=2, minute=30),
                    "back_since": AT.replace(hour=1, minute=30),
                }
                expected = [tuple(r) for r in (await session.execute(_PAIRS.stmt, params)).all()]
                assert sorted(await _PAIRS.all(session, params)) == sorted(expected)
                assert expected, "the ledger rows must be found"
                balances = {"community": "demo", "members": keys}
                expected = [tuple(r) for r in (await session.execute(_BALANCES.stmt, balances))]
                assert sorted(await _BALANCES.all(session, balances)) == sorted(expected)
                assert len(expected) == size
    finally:
        await db.dispose()


async def test_feature_state_keeps_any_json_value(db_url: str) -> None:
    db = Database(db_url)
    await db.prepare()
    try:
        for value in ({"a": [1, 2.5, "ü"]}, None, [], "text", 0):
            async with db.session() as session:
                await Store(session).state.set("promo", "demo", "k", value, AT)
            async with db.session() as session:
                state = Store(session).state
                assert await state.get("promo", "demo", "k", "missing") == (
                    "missing" if value is None else value
                )
                assert await state.get("promo", "demo", "other", "missing") == "missing"
    finally:
        await db.dispose()


async def test_recent_messages_are_what_the_orm_loads_newest_first(db_url: str) -> None:
    db = Database(db_url)
    await db.prepare()
    try:
        async with db.session() as session:
            store = Store(session)
            for n in range(6):
                await store.messages.add(
                    community="demo",
                    chat="chat:c" if n != 4 else "chat:other",
                    message_id=f"m{n}",
                    author=f"chat:u{n % 2}",
                    text=f"text {n}",
                    reply_to="m0" if n == 3 else None,
                    reply_to_author="chat:u0" if n == 3 else None,
                    mentions=["chat:u9"] if n == 2 else [],
                    thread="t1" if n == 5 else None,
                    # m0, m1 and m2 at the same moment: later rows come first.
                    at=AT.replace(minute=10 + max(n, 2)),
                )
            await store.messages.set_fields("chat:c", "m5", deleted=True)
        async with db.session() as session:
            window = (AT.replace(minute=11), AT.replace(minute=20))
            recent = await Store(session).messages.recent("chat:c", *window, limit=3)
            assert [m.message_id for m in recent] == ["m3", "m2", "m1"]
            loaded = {
                m.message_id: m
                for m in (await session.execute(select(models.Message))).scalars().all()
            }
            fields = list(models.Message.model_fields)
            for message in recent:
                original = loaded[message.message_id]
                assert [getattr(message, f) for f in fields] == [
                    getattr(original, f) for f in fields
                ]
            assert await Store(session).messages.recent("chat:none", *window) == []
    finally:
        await db.dispose()


async def test_a_streamed_query_gives_sqlalchemys_rows_a_few_at_a_time(db_url: str) -> None:
    db = Database(db_url)
    await db.prepare()
    stmt = (
        select(
            col(models.Message.message_id),
            col(models.Message.mentions),
            col(models.Message.at),
            col(models.Message.text),
        )
        .where(col(models.Message.community) == bindparam("community"))
        .order_by(col(models.Message.at), col(models.Message.id))
    )
    query = Query(stmt)
    try:
        async with db.session() as session:
            store = Store(session)
            for n in range(7):
                await store.messages.add(
                    community="demo",
                    chat="chat:c",
                    message_id=f"m{n}",
                    author="chat:u1",
                    text=None if n == 3 else f"text {n}",
                    mentions=[f"chat:u{n}"] if n % 2 else [],
                    at=AT.replace(minute=n),
                )
        async with db.session() as session:
            expected = [tuple(r) for r in await session.execute(stmt, {"community": "demo"})]
            parts = [p async for p in query.stream(session, {"community": "demo"}, 3)]
            assert [len(p) for p in parts] == [3, 3, 1]
            assert [row for part in parts for row in part] == expected
            assert expected[1][1:3] == (["chat:u1"], AT.replace(minute=1))
            # The connection is free for the next statement.
            assert len(await query.all(session, {"community": "demo"})) == 7
            assert [p async for p in query.stream(session, {"community": "none"}, 3)] == []
    finally:
        await db.dispose()


async def test_times_and_json_read_as_sqlalchemy_reads_them_whatever_their_form(
    sqlite_url: str,
) -> None:
    # Rows written by SQLAlchemy take a shortcut; any other form (an older writer, a
    # hand-made row) goes through SQLAlchemy's own conversion.
    db = Database(sqlite_url)
    await db.prepare()
    ats = [
        "2026-11-20 10:30:15.123456",
        "2026-11-20 10:30:15.000000",
        "2026-11-20 10:30:15",
        "2026-11-20T10:30:15.123456",
        "2026-11-20 10:30",
        "2026-11-20 10:30:15.5",
    ]
    mentions = ["[]", "[]", "[ ]", '["chat:a"]', "null", '{"a": []}']
    stmt = select(col(models.Message.at), col(models.Message.mentions)).order_by(
        col(models.Message.id)
    )
    try:
        async with db.session() as session:
            for n, (at, mentioned) in enumerate(zip(ats, mentions, strict=True)):
                await session.execute(
                    text(
                        "INSERT INTO messages (community, chat, message_id, author, mentions,"
                        " at, deleted, forwarded, is_thanks) VALUES ('demo', 'chat:c', :id,"
                        " 'chat:u', :mentions, :at, 0, 0, 0)"
                    ),
                    {"id": f"m{n}", "mentions": mentioned, "at": at},
                )
        async with db.session() as session:
            expected = [tuple(r) for r in await session.execute(stmt)]
            assert await Query(stmt).all(session, {}) == expected
            assert expected[0] == (datetime(2026, 11, 20, 10, 30, 15, 123456, tzinfo=UTC), [])
            assert [r[0].tzinfo for r in expected] == [UTC] * len(ats)
            lists = [r[1] for r in await Query(stmt).all(session, {})]
            assert lists[0] is not lists[1]  # every row its own list
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "value",
    [
        AT,
        datetime(2026, 11, 20, 10, 30, 15, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # the year in four digits
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Europe/London")),  # offset zero
        datetime(2026, 11, 20, 10, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        TypeAdapter(datetime).validate_python("2026-11-20T10:30:15.5Z"),  # pydantic's UTC
    ],
)
def test_times_are_written_as_sqlalchemy_writes_them(value: datetime) -> None:
    dialect = sqlite.dialect()
    kind = UTCDateTime()
    full = kind.dialect_impl(dialect).bind_processor(dialect)
    assert full is not None
    quick = _quick_bind(kind, dialect, full)
    assert quick is not None and quick is not full
    assert quick(value) == full(value)
    assert quick(None) is None
    with pytest.raises(ValueError, match="timezone"):
        quick(datetime(2026, 11, 20, 10, 30))  # a naive time is refused as before


@pytest.mark.parametrize("value", [[], ["chat:a"], [[]], {}, None, ["ü"], ()])
def test_json_is_written_as_sqlalchemy_writes_it(value: Any) -> None:
    dialect = sqlite.dialect()
    kind = models.Message.__table__.c.mentions.type  # type: ignore[attr-defined]
    full = kind.dialect_impl(dialect).bind_processor(dialect)
    quick = _quick_bind(kind, dialect, full)
    assert quick is not None and quick(value) == full(value)


@pytest.mark.postgres
async def test_postgres_writes_on_the_driver_belong_to_the_sessions_transaction(
    pg_url: str,
) -> None:
    db = Database(pg_url)
    await db.prepare()
    try:
        async with db.sessions() as session:
            store = Store(session)
            await session.begin()
            assert isinstance(await _direct(session), PgDirect)
            # The transaction's first statement runs on the driver: it must start the
            # transaction SQLAlchemy rolls back, not run on its own.
            assert await store.events.claim("k1", "message", "demo", AT)
            await session.rollback()
            await session.begin()
            assert await store.events.claim("k2", "message", "demo", AT)
            assert not await store.events.claim("k2", "message", "demo", AT)
            await session.commit()
        keys = await _claimed(db)
        assert keys == ["k2"]
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_lost_postgres_connection_is_a_passing_error_and_the_next_session_works(
    pg_url: str,
) -> None:
    db = Database(pg_url)
    await db.prepare()
    try:
        with pytest.raises(DBAPIError) as lost:
            async with db.session() as session:
                store = Store(session)
                assert await store.events.claim("k1", "message", "demo", AT)
                assert await terminate_backends(pg_url) >= 1
                await store.events.claim("k2", "message", "demo", AT)
        assert is_transient(lost.value)
        async with db.session() as session:
            assert await Store(session).events.claim("k3", "message", "demo", AT)
        keys = await _claimed(db)
        assert keys == ["k3"]
    finally:
        await db.dispose()
