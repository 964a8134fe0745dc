"""aiosqlite's connection without its worker thread: SQLite calls run on the event loop.

aiosqlite hands every call (execute, each fetch, commit) to a worker thread and wakes the
event loop with the answer: two thread switches per call, a dozen per event, and the two
threads take turns holding the interpreter lock. Measured on an event of the live bot:
1.6 ms on the loop's thread against 5.4 ms through the worker thread (median).

Two things would otherwise hold up everything else the loop runs (the platform
connections, the ticker):
- waiting for another connection's lock: SQLite's busy handler sleeps inside the call,
  so these connections set no busy timeout and wait for the lock here, asynchronously;
- long work (a weekly summary reads a whole week): a call first lets the loop run what is
  waiting when ``YIELD_SECONDS`` have passed since the last such pause.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any, cast

import aiosqlite

# How long a statement waits for another connection's lock before it fails with
# "database is locked" (SQLite's busy_timeout, which these connections leave at 0).
BUSY_SECONDS = 10.0
YIELD_SECONDS = 0.02
# Calls that did nothing when SQLite answered SQLITE_BUSY, so running them again is safe.
# A fetch that fails half-way is not among them: its statement is gone.
_RETRIED = frozenset({"execute", "executemany", "commit"})


class _Inline:
    """Stands in for the worker thread's queue: runs what is put in at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiter, as the worker thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose SQLite calls run on the calling (event-loop) thread."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        *,
        busy_seconds: float = BUSY_SECONDS,
        yield_seconds: float = YIELD_SECONDS,
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _Inline()  # type: ignore[assignment]
        self.busy_seconds = busy_seconds
        self.yield_seconds = yield_seconds
        self._pause_due = time.perf_counter() + yield_seconds

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
            self._connection.execute("PRAGMA busy_timeout=0")
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if time.perf_counter() >= self._pause_due:
            # At most one pause per YIELD_SECONDS, whether or not the loop got its turn
            # some other way in between: a pause costs microseconds.
            await asyncio.sleep(0)
            self._pause_due = time.perf_counter() + self.yield_seconds
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or getattr(fn, "__name__", "") not in _RETRIED:
                raise
        return await self._when_free(fn, args, kwargs)

    async def _when_free(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run ``fn`` again, with growing pauses, until the lock is free or time is up."""
        deadline = time.monotonic() + self.busy_seconds
        pause = 0.001
        while True:
            await asyncio.sleep(pause)
            if not self._running or self._connection is None:
                raise ValueError("Connection closed")
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + pause > deadline:
                    raise
            pause = min(pause * 2, 0.05)

    async def run(self, sql: str, parameters: Any, *, many: bool = False) -> sqlite3.Cursor:
        """Execute one statement (``many``: once per row) on the driver's connection."""
        call = self._conn.executemany if many else self._conn.execute
        return cast(sqlite3.Cursor, await self._execute(call, sql, parameters))

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        self.stop()


def _busy(exc: sqlite3.OperationalError) -> bool:
    # Only the plain lock wait: SQLITE_BUSY_SNAPSHOT (another connection wrote since this
    # transaction read) does not clear by waiting; the whole transaction has to run again.
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY"


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """What ``aiosqlite.connect`` does, without the worker thread (SQLAlchemy's creator)."""
    return InlineConnection(lambda: sqlite3.connect(database, **kwargs))
