"""The driver connection under a session's transaction, for the statements of every event.

``storage.repositories.Prebuilt`` and ``Query`` compile their statements once with
SQLAlchemy and hand the SQL and converted values to the driver here: SQLAlchemy's
execution layers (and, on PostgreSQL, its greenlet bridge) cost more per statement than
the database's own work on such a row. Both drivers wrap their errors as SQLAlchemy
would, so callers and ``storage.retry`` see the same exceptions either way.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any, NoReturn

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from storage.inline_sqlite import InlineConnection

# asyncpg's status of a write: "INSERT 0 1", "UPDATE 3", "DELETE 0".
_COUNT = re.compile(r"(\d+)$")


class SqliteDirect:
    """SQLite's connection (``InlineConnection``: calls run on the event loop's thread)."""

    __slots__ = ("connection",)
    dialect = "sqlite"

    def __init__(self, connection: InlineConnection) -> None:
        self.connection = connection

    async def write(self, sql: str, values: Any, *, many: bool = False) -> int:
        """Run a write (``many``: once per row of ``values``); the rows it touched."""
        return (await self.cursor(sql, values, many=many)).rowcount

    async def insert(self, sql: str, values: Any) -> int:
        """Run an INSERT of one row; the new row's id."""
        cursor = await self.cursor(sql, values)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def fetch(self, sql: str, values: Any) -> list[Any]:
        """Every row of a query."""
        cursor = await self.cursor(sql, values)
        try:
            return cursor.fetchall()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc

    async def cursor(self, sql: str, values: Any, *, many: bool = False) -> sqlite3.Cursor:
        """The cursor of a statement run with ``values``."""
        try:
            return await self.connection.run(sql, values, many=many)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc


class PgDirect:
    """asyncpg's connection, inside the transaction SQLAlchemy's adapter keeps on it.

    ``adapted`` is SQLAlchemy's ``AsyncAdapt_asyncpg_connection``. Its transaction starts
    lazily with the first statement; a statement run here first starts it the same way,
    so SQLAlchemy's commit and rollback end what ran here too.
    """

    __slots__ = ("_adapted", "_connection", "_dialect")
    dialect = "postgresql"

    def __init__(self, adapted: Any, dialect: Dialect) -> None:
        self._adapted = adapted
        self._connection = adapted._connection
        self._dialect = dialect

    @staticmethod
    def supports(adapted: Any) -> bool:
        """Whether ``adapted`` has the parts this relies on (else SQLAlchemy runs all)."""
        return all(
            hasattr(adapted, name)
            for name in ("_connection", "_transaction", "_start_transaction", "_handle_exception")
        )

    async def write(self, sql: str, values: Any, *, many: bool = False) -> int:
        """Run a write (``many``: once per row of ``values``); the rows it touched.

        asyncpg reports no count for ``many``: it gives -1, as SQLAlchemy's adapter does.
        """
        await self._begin()
        try:
            if many:
                await self._connection.executemany(sql, values)
                return -1
            status = await self._connection.execute(sql, *values)
        except Exception as exc:
            self._raise(exc, sql, values)
        found = _COUNT.search(status or "")
        return int(found.group(1)) if found else -1

    async def insert(self, sql: str, values: Any) -> int:
        """Run an INSERT ... RETURNING id of one row; the new row's id."""
        await self._begin()
        try:
            return int(await self._connection.fetchval(sql, *values))
        except Exception as exc:
            self._raise(exc, sql, values)

    async def fetch(self, sql: str, values: Any) -> list[Any]:
        """Every row of a query."""
        await self._begin()
        try:
            records = await self._connection.fetch(sql, *values)
        except Exception as exc:
            self._raise(exc, sql, values)
        return [tuple(record) for record in records]

    async def result_types(self, sql: str) -> list[int]:
        """The type (oid) of each column a query returns, as the server describes it."""
        await self._begin()
        try:
            statement = await self._connection.prepare(sql)
        except Exception as exc:
            self._raise(exc, sql, ())
        return [attribute.type.oid for attribute in statement.get_attributes()]

    async def _begin(self) -> None:
        adapted = self._adapted
        if adapted._transaction is None:
            await adapted._start_transaction()

    def _raise(self, exc: Exception, sql: str, values: Any) -> NoReturn:
        """Raise ``exc`` as SQLAlchemy would have raised it from the same statement."""
        try:
            self._adapted._handle_exception(exc)  # raises the DBAPI form of the error
        except Exception as translated:
            dbapi_error = self._adapted.dbapi.Error
            if not isinstance(translated, dbapi_error):
                raise
            lost = self._dialect.is_disconnect(translated, self._adapted, None)
            raise DBAPIError.instance(
                sql,
                values,
                translated,
                dbapi_error,
                connection_invalidated=lost,
                dialect=self._dialect,
            ) from exc
        raise AssertionError("the adapter raises every error it handles")  # pragma: no cover


Direct = SqliteDirect | PgDirect
