"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from adapters.console import ConsoleChat, TestClock
from bot.app import App, default_config
from bot.config import parse_config
from bot.events import Member, MessagePosted
from bot.features.base import Feature
from storage.db import Database

# python-telegram-bot warns when its duration attributes are read as ints; the warning
# would turn into an error under filterwarnings=error.
os.environ.setdefault("PTB_TIMEDELTA", "true")
POSTGRES_URL = os.environ.get("LEUMUND_TEST_POSTGRES_URL", "")
# A Monday 09:00 UTC: week arithmetic in tests stays readable.
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

MakeApp = Callable[..., Awaitable[App]]
MakeChat = Callable[..., Awaitable[ConsoleChat]]


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _postgres_url(database: str) -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole run; emptied before each test."""
    name = f"leumund_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        await _admin(f'CREATE DATABASE "{name}"')
        db = Database(_postgres_url(name))
        try:
            await db.prepare()
        finally:
            await db.dispose()

    _in_thread(create)
    try:
        yield _postgres_url(name)
    finally:

        async def drop() -> None:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        _in_thread(drop)


def _in_thread(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion on its own loop (a test's loop may be running)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work()).result()


async def _truncate(url: str) -> None:
    import asyncpg

    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a database with the current schema and no rows (SQLite file or PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LEUMUND_TEST_POSTGRES_URL (set by .ci/run)")
    url: str = request.getfixturevalue("shared_postgres")
    await _truncate(url)
    yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database without any schema; PostgreSQL ones are made per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LEUMUND_TEST_POSTGRES_URL (set by .ci/run)")
    name = f"leumund_empty_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL, for tests that are about SQLite itself."""
    return f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}"


@pytest.fixture
async def make_app(db_url: str) -> AsyncIterator[MakeApp]:
    """Build apps on the test database; closed after the test."""
    apps: list[App] = []

    async def factory(
        extra_config: str = "",
        *,
        features: Sequence[Feature[Any]] | None = None,
        language: str = "de",
        config_text: str | None = None,
    ) -> App:
        if config_text is not None:
            from bot.app import feature_models

            config = parse_config(config_text, feature_models(features), source="<test>")
        else:
            config = default_config(
                db_url, language=language, extra=extra_config, features=features
            )
        app = await App.create(config, database_url=db_url, features=features)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.close()


@pytest.fixture
async def make_chat(make_app: MakeApp) -> MakeChat:
    """A console chat on a fresh app, with a test clock that moves one minute per event."""

    async def factory(
        extra_config: str = "",
        *,
        features: Sequence[Feature[Any]] | None = None,
        language: str = "de",
        step: timedelta = timedelta(minutes=1),
        start: datetime = START,
    ) -> ConsoleChat:
        app = await make_app(extra_config, features=features, language=language)
        return ConsoleChat(
            app.engine,
            community="demo",
            clock=TestClock(start, step),
            moderators=frozenset({"mod"}),
        )

    return factory


async def introduce(chat: ConsoleChat, key: str, name: str, username: str | None) -> None:
    """A member with a display name and a username of their own says hello."""
    await chat.send(
        MessagePosted(
            key=f"{chat.chat}:intro:{key}",
            community=chat.community,
            chat=f"console:{chat.chat}",
            at=chat.clock(),
            message_id=f"intro:{key}",
            author=Member(key=key, name=name, username=username),
            text="Hallo zusammen",
        )
    )
