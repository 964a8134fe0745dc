"""Passing database errors are told from real ones, and retried a bounded number of times."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, PendingRollbackError

from storage.retry import is_transient, retry


def wrapped(error: BaseException, *, invalidated: bool = False) -> DBAPIError:
    """An error as SQLAlchemy raises it around a driver error."""
    return DBAPIError("SELECT 1", {}, error, connection_invalidated=invalidated)  # type: ignore[arg-type]


def caused(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


TRANSIENT = {
    "deadlock": wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
    "serialization": wrapped(asyncpg.exceptions.SerializationError("could not serialize")),
    "terminated": wrapped(
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator")
    ),
    "connection_gone": wrapped(
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle")
    ),
    "cannot_connect_now": asyncpg.exceptions.CannotConnectNowError("the database is starting"),
    "invalidated": wrapped(RuntimeError("whatever"), invalidated=True),
    "closed_interface": caused(
        RuntimeError("wrapper"), asyncpg.exceptions.InterfaceError("connection is closed")
    ),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "swallowed_then_refused": PendingRollbackError(
        "Can't reconnect until invalid transaction is rolled back.  Please rollback() fully"
    ),
}
PERMANENT = {
    "unique": IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("dup")),  # type: ignore[arg-type]
    "syntax": wrapped(asyncpg.exceptions.PostgresSyntaxError("syntax error")),
    "aborted": wrapped(asyncpg.exceptions.InFailedSQLTransactionError("current transaction")),
    "flush": PendingRollbackError("This Session's transaction has been rolled back"),
    "bug": ValueError("a bug"),
    "interface": asyncpg.exceptions.InterfaceError("cannot use a closed pool"),
}


@pytest.mark.parametrize("name", sorted(TRANSIENT))
def test_passing_errors_are_transient(name: str) -> None:
    assert is_transient(TRANSIENT[name])


@pytest.mark.parametrize("name", sorted(PERMANENT))
def test_real_errors_are_not(name: str) -> None:
    assert not is_transient(PERMANENT[name])


async def test_retry_runs_again_after_transient_errors_and_undoes_each_attempt() -> None:
    calls: list[int] = []
    undone: list[int] = []

    async def work() -> str:
        calls.append(len(calls) + 1)
        if len(calls) < 3:
            raise TRANSIENT["deadlock"]
        return "done"

    result = await retry(work, attempts=5, delay=0.0, on_retry=lambda _e, n: undone.append(n))
    assert (result, calls, undone) == ("done", [1, 2, 3], [1, 2])


async def test_retry_gives_up_after_the_last_attempt() -> None:
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        raise TRANSIENT["terminated"]

    with pytest.raises(DBAPIError):
        await retry(work, attempts=3, delay=0.0)
    assert calls == 3


async def test_retry_raises_a_real_error_at_once() -> None:
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        raise PERMANENT["unique"]

    with pytest.raises(IntegrityError):
        await retry(work, attempts=5, delay=0.0)
    assert calls == 1
