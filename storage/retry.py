"""Passing database failures: telling them from real ones, and running the work again.

A transaction that failed because its connection was lost (PostgreSQL restarted, a
failover, ``pg_terminate_backend``) or because the server chose it as the victim of a
deadlock or a serialization conflict did nothing: it was rolled back as a whole. Running
the same work again in a new transaction is safe wherever the work is idempotent, which
event handling is (every event is claimed once).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, PendingRollbackError

log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLSTATEs after which the same transaction may succeed when run again: serialization
# failure, deadlock detected, and the server shutting the session down (admin shutdown,
# which pg_terminate_backend sends, crash shutdown, cannot connect now). Class 08 is
# "connection exception".
TRANSIENT_STATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})
# asyncpg's InterfaceError has no SQLSTATE when the socket is already gone.
CLOSED_MESSAGES = ("connection is closed", "connection was closed", "underlying connection")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, the driver error it wraps, and what caused either (bounded)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        for nxt in (orig, current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def is_transient(exc: BaseException) -> bool:
    """True when the failed transaction may succeed if it is simply run again."""
    for err in _causes(exc):
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return True
        # The connection was invalidated (lost) earlier in the transaction, and whoever saw
        # that error swallowed it: what surfaces is the next statement being refused.
        if isinstance(err, PendingRollbackError) and str(err).startswith("Can't reconnect"):
            return True
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(state, str) and (state in TRANSIENT_STATES or state.startswith("08")):
            return True
        if isinstance(err, ConnectionError | TimeoutError):
            return True
        message = str(err).lower()
        if type(err).__name__ == "InterfaceError" and any(m in message for m in CLOSED_MESSAGES):
            return True
    return False


async def retry(
    work: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    delay: float = 0.1,
    max_delay: float = 5.0,
    on_retry: Callable[[BaseException, int], None] | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Run ``work``; after a transient failure wait and run it again, ``attempts`` in all.

    The wait doubles from ``delay`` up to ``max_delay``, with jitter so that processes
    that failed together do not retry together. ``work`` must open its own transaction
    each time; ``on_retry`` (error, attempt number) can undo in-memory effects of the
    failed attempt; ``transient`` decides which errors are worth another attempt. Other
    errors, and the last transient one, are raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    attempt = 1
    while True:
        try:
            return await work()
        except Exception as exc:
            if attempt >= attempts or not transient(exc):
                raise
            wait = min(max_delay, delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            log.warning(
                "database error (attempt %d of %d), trying again in %.2f s: %s",
                attempt,
                attempts,
                wait,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            if on_retry is not None:
                on_retry(exc, attempt)
            await asyncio.sleep(wait)
            attempt += 1
