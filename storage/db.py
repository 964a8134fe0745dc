"""Database engine, sessions and Alembic migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from storage import inline_sqlite

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be used as it is (wrong revision, unreachable, read-only)."""


def alembic_config(url: str | None = None) -> AlembicConfig:
    """An Alembic config pointing at the bundled migrations."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration revision bundled with this version."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (summary, /karma) run beside the writer; NORMAL is durable in WAL
    # across application crashes, which is the failure we guard against.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The PostgreSQL connection pool of one process (``[bot] pool_*``); SQLite has none.

    ``recycle_seconds`` 0 keeps connections for ever; ``pre_ping`` tests each connection
    as it is taken from the pool, so one the server dropped is replaced, not used.
    """

    size: int = 5
    max_overflow: int = 10
    timeout_seconds: float = 30.0
    recycle_seconds: int = 1800
    pre_ping: bool = True


class Database:
    """Owns the async engine and hands out sessions; one per process."""

    def __init__(
        self,
        url: str,
        *,
        pool: PoolSettings | None = None,
        echo: bool = False,
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # One process and one writer: the pool settings do not apply. SQLite runs on
            # the event loop's thread and waits for locks there (storage.inline_sqlite).
            connect_args: dict[str, Any] = {"async_creator_fn": inline_sqlite.connect}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
                connect_args["check_same_thread"] = False
            else:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = connect_args
        else:
            pool = pool or PoolSettings()
            kwargs["pool_size"] = pool.size
            kwargs["max_overflow"] = pool.max_overflow
            kwargs["pool_timeout"] = pool.timeout_seconds
            kwargs["pool_recycle"] = pool.recycle_seconds or -1
            kwargs["pool_pre_ping"] = pool.pre_ping
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def current_revision(self) -> str | None:
        """The revision the database is at, or None for an empty database."""

        def read(conn: Connection) -> str | None:
            return MigrationContext.configure(conn).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(read)

    async def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision``."""

        def run(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

        async with self.engine.begin() as conn:
            await conn.run_sync(run)

    async def prepare(self) -> None:
        """Upgrade an empty database; refuse one at an unknown or older revision."""
        current = await self.current_revision()
        head = head_revision()
        if current is None:
            log.info("empty database: creating the schema (revision %s)", head)
            await self.upgrade()
        elif current != head:
            raise DatabaseError(
                f"the database is at revision {current}, this version needs {head}: "
                "back it up, then run `leumund db upgrade`"
            )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
