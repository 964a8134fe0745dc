"""Leader election: of several bot processes on one database, one runs the scheduled work.

On PostgreSQL the leader is the process holding a session-level advisory lock on a
connection of its own, kept for the life of the process. Every other process tries
again at each tick, so when the leader stops (or its connection drops, which releases
the lock in the server) another process takes over within a tick. Until the old leader
notices a dropped connection at its next check, two processes may tick once each: the
scheduled work is idempotent (weekly summaries and purges are claimed in
``scheduler_runs``), leadership only keeps it from being done twice as often.

SQLite is used by one process only, which is therefore always the leader.
"""

from __future__ import annotations

import logging

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import Database
from storage.repositories import lock_key

log = logging.getLogger(__name__)
LEADER_LOCK = "leumund:leader"
APPLICATION_NAME = "leumund-leader"

_TRY = text("SELECT pg_try_advisory_lock(:key)").bindparams(bindparam("key", type_=BigInteger))
_UNLOCK = text("SELECT pg_advisory_unlock(:key)").bindparams(bindparam("key", type_=BigInteger))


class Leadership:
    """Whether this process is the one that runs scheduled work (see the module docs)."""

    def __init__(self, db: Database, name: str = LEADER_LOCK) -> None:
        self.db = db
        self.key = lock_key(name)
        self.leader = False
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None

    async def check(self) -> bool:
        """Stay or become the leader if possible; True while this process leads."""
        if self.db.is_sqlite:
            self.leader = True
            return True
        try:
            if self._conn is not None and self.leader:
                # The lock lives as long as this connection: make sure it still does.
                await self._conn.execute(text("SELECT 1"))
                return True
            conn = await self._connection()
            self.leader = bool((await conn.execute(_TRY, {"key": self.key})).scalar())
            if self.leader:
                log.info("this process now runs the scheduled work")
        except Exception as exc:
            if self.leader:
                log.warning("lost the lead for scheduled work: %s", exc)
            else:
                log.debug("cannot try for the lead: %s", exc)
            await self._drop()
        return self.leader

    async def release(self) -> None:
        """Give the lead up (if held) and close the connection."""
        if self._conn is not None and self.leader:
            try:
                await self._conn.execute(_UNLOCK, {"key": self.key})
            except Exception as exc:  # closing the connection releases it anyway
                log.debug("unlock failed: %s", exc)
        await self._drop()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            if self._engine is None:
                # A connection of its own, outside the pool: the pool may recycle or
                # replace its connections, which would silently release the lock.
                self._engine = create_async_engine(
                    self.db.url,
                    poolclass=NullPool,
                    connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
                )
            conn = await self._engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _drop(self) -> None:
        self.leader = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:
                log.debug("closing the leader connection failed: %s", exc)
