"""Database engine, sessions and Alembic migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
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
from sqlalchemy.orm import configure_mappers
from sqlalchemy.pool import StaticPool

from storage import inline_sqlite

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite's default; while ``Database.checkpoints`` runs, commits leave it to that task.
AUTOCHECKPOINT_PAGES = 1000
CHECKPOINT_SECONDS = 1.0
# A replay or an import empties the log between batches once it is this large (see
# Database.limit_log); the worker waits at most TRUNCATE_WAIT_MS for nobody to be writing.
LOG_LIMIT_BYTES = 64 * 1024 * 1024
TRUNCATE_WAIT_MS = 250
# The running bot's limit is larger: emptying the log holds the next events' writes for some
# milliseconds (a replay has nobody waiting), so it happens a quarter as often.
RUNNING_LOG_LIMIT_BYTES = 256 * 1024 * 1024
# The page cache of each SQLite connection, in KiB (see _sqlite_pragmas).
CACHE_KIB = 32 * 1024


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
    # SQLite's own default is 2 MB: with a few months of messages the indexes every
    # message is written to no longer fit, and each insert read its pages back from the
    # operating system. Pages are only held once read, so a small database costs less.
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


def _checkpoint_connection(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    # PASSIVE never waits. TRUNCATE waits in its worker thread for the writer's transaction
    # to end and holds off the next one (whose statements wait without blocking the loop);
    # briefly, since it holds off writers just as long while a long read (a summary) runs.
    conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
    return conn


def _checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> None:
    # PASSIVE copies what no reader still needs and never waits for anyone. TRUNCATE
    # copies the rest too and empties the log file (only when no one is writing).
    conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()


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
        # The database file, None for an in-memory database.
        file = None if parsed.database in (None, "", ":memory:") else parsed.database
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # One process and one writer: the pool settings do not apply. SQLite runs on
            # the event loop's thread and waits for locks there (storage.inline_sqlite).
            connect_args: dict[str, Any] = {"async_creator_fn": inline_sqlite.connect}
            if file is None:
                kwargs["poolclass"] = StaticPool
                connect_args["check_same_thread"] = False
            else:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = connect_args
        else:
            pool = pool or PoolSettings()
            kwargs["pool_size"] = pool.size
            kwargs["max_overflow"] = pool.max_overflow
            kwargs["pool_timeout"] = pool.timeout_seconds
            kwargs["pool_recycle"] = pool.recycle_seconds or -1
            kwargs["pool_pre_ping"] = pool.pre_ping
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._file = file if self.is_sqlite else None
        self._checkpointing = False
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = asyncio.Lock()
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "checkout", self._autocheckpoint)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # SQLAlchemy configures the model mappers on their first use (some 10 ms): at
        # start-up, not in the first member's event.
        configure_mappers()

    def _autocheckpoint(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # SQLite copies its write-ahead log into the database file in the commit that
        # fills 1,000 pages: several milliseconds for that one event. While
        # ``checkpoints`` runs, a worker thread does it and commits never do.
        wanted = 0 if self._checkpointing else AUTOCHECKPOINT_PAGES
        if record.info.get("wal_autocheckpoint") != wanted:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA wal_autocheckpoint={wanted}")
            cursor.close()
            record.info["wal_autocheckpoint"] = wanted

    async def checkpoints(self, until: asyncio.Event, every: float = CHECKPOINT_SECONDS) -> None:
        """Checkpoint SQLite's write-ahead log from a worker thread until ``until`` is set.

        For the running bot: its commits then never pay for a checkpoint. PostgreSQL and
        in-memory databases need none; this returns when ``until`` is set.
        """
        if self._file is None:
            await until.wait()
            return
        try:
            conn = await asyncio.to_thread(_checkpoint_connection, self._file)
        except sqlite3.Error as exc:  # commits go on checkpointing as SQLite does
            log.warning("no checkpoints from a worker for %s: %s", self._file, exc)
            await until.wait()
            return
        self._checkpointing = True
        self._checkpointer = conn
        try:
            while not until.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), every)
                await self._run_checkpoint(conn, "PASSIVE")
                # Events back to back (a busy community, a backlog after a reconnect) leave
                # SQLite no moment to start its log afresh: it grew by some 50 KB an event.
                await self.limit_log(RUNNING_LOG_LIMIT_BYTES)
        finally:
            self._checkpointing = False
            self._checkpointer = None
            async with self._checkpoint_lock:
                conn.close()

    async def limit_log(self, limit: int | None = None) -> None:
        """Empty SQLite's log if it grew past ``limit`` bytes (while ``checkpoints`` runs).

        SQLite starts its log afresh only when a write begins after a checkpoint copied all
        of it and no one reads an older state. A writer that commits batch after batch (a
        replay, an import) or event after event (a busy community) never leaves SQLite that
        moment, and the log grew by everything written: gigabytes over a long import, some
        50 KB an event for the running bot. The checkpoint worker calls this every second;
        batch writers call it between batches too, where it need not wait. Never call it
        from a task that holds a transaction open: it would wait for that transaction.
        """
        conn, file = self._checkpointer, self._file
        if conn is None or file is None:
            return
        try:
            size = os.stat(f"{file}-wal").st_size
        except OSError:
            return
        if size > (LOG_LIMIT_BYTES if limit is None else limit):
            await self._run_checkpoint(conn, "TRUNCATE")

    async def _run_checkpoint(self, conn: sqlite3.Connection, mode: str) -> None:
        async with self._checkpoint_lock:  # one call at a time on the worker's connection
            try:
                await asyncio.to_thread(_checkpoint, conn, mode)
            except sqlite3.Error as exc:  # the next commit will report a real problem
                log.warning("checkpoint of %s failed: %s", self._file, exc)

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
