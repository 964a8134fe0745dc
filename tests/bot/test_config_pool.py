"""The PostgreSQL connection pool settings: validated like every key, applied to the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.config import ConfigError, parse_config
from storage.db import Database, PoolSettings

POOLED = """
[bot]
database_url = "postgresql+asyncpg://leumund@127.0.0.1:1/leumund"
pool_size = 7
max_overflow = 3
pool_timeout_seconds = 12.5
pool_recycle_seconds = 600
pool_pre_ping = false
"""


def test_defaults_are_a_modest_pool_that_replaces_dropped_connections() -> None:
    assert parse_config("", {}).bot.pool() == PoolSettings(
        size=5, max_overflow=10, timeout_seconds=30.0, recycle_seconds=1800, pre_ping=True
    )


def test_the_settings_are_read_from_the_bot_section() -> None:
    assert parse_config(POOLED, {}).bot.pool() == PoolSettings(
        size=7, max_overflow=3, timeout_seconds=12.5, recycle_seconds=600, pre_ping=False
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pool_size = 0", "bot.pool_size: must be >= 1 (line 3)"),
        ("pool_size = 101", "bot.pool_size: must be <= 100 (line 3)"),
        ("pool_size = '5'", "bot.pool_size: must be an integer (line 3)"),
        ("pool_size = 5.0", "bot.pool_size: must be an integer (line 3)"),
        ("max_overflow = -1", "bot.max_overflow: must be >= 0 (line 3)"),
        ("max_overflow = true", "bot.max_overflow: must be an integer (line 3)"),
        ("pool_timeout_seconds = 0", "bot.pool_timeout_seconds: must be > 0 (line 3)"),
        ("pool_timeout_seconds = '30'", "bot.pool_timeout_seconds: must be a number (line 3)"),
        ("pool_recycle_seconds = -1", "bot.pool_recycle_seconds: must be >= 0 (line 3)"),
        ("pool_recycle_seconds = 90000", "bot.pool_recycle_seconds: must be <= 86400 (line 3)"),
        ("pool_pre_ping = 'yes'", "bot.pool_pre_ping: must be true or false (line 3)"),
        ("pool_pre_ping = 1", "bot.pool_pre_ping: must be true or false (line 3)"),
        ("pool_sise = 5", "bot.pool_sise: unknown key (line 3)"),
    ],
)
def test_bad_values_are_reported_with_key_and_line(line: str, expected: str) -> None:
    text = f'[bot]\nlanguage = "de"\n{line}\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    assert [str(p) for p in info.value.problems] == [expected]


async def test_the_postgres_engine_gets_the_pool_settings() -> None:
    # Building the engine does not connect, so no server is needed here.
    db = Database(
        parse_config(POOLED, {}).bot.database_url, pool=parse_config(POOLED, {}).bot.pool()
    )
    try:
        pool = db.engine.pool
        assert pool.size() == 7  # type: ignore[attr-defined]
        assert pool._max_overflow == 3  # type: ignore[attr-defined]
        assert pool._timeout == 12.5  # type: ignore[attr-defined]
        assert pool._recycle == 600
        assert pool._pre_ping is False
    finally:
        await db.dispose()


async def test_recycle_zero_means_never() -> None:
    db = Database("postgresql+asyncpg://x@127.0.0.1:1/x", pool=PoolSettings(recycle_seconds=0))
    try:
        assert db.engine.pool._recycle == -1
    finally:
        await db.dispose()


async def test_sqlite_ignores_the_pool_settings(tmp_path: Path) -> None:
    settings = PoolSettings(size=42, max_overflow=0, pre_ping=True, recycle_seconds=5)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", pool=settings)
    try:
        assert db.engine.pool._recycle == -1
        assert db.engine.pool._pre_ping is False
        await db.prepare()  # and it works
    finally:
        await db.dispose()


async def test_the_app_opens_its_database_with_the_configured_pool(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite has no connection pool to configure")
    config = parse_config(f'[bot]\ndatabase_url = "{db_url}"\npool_size = 7\n', {})
    app = await App.create(config)
    try:
        assert app.db.engine.pool.size() == 7  # type: ignore[attr-defined]
    finally:
        await app.close()
