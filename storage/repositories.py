"""Async repositories over one session (one transaction): the only way features touch data."""

from __future__ import annotations

import enum
import hashlib
import operator
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import sqltypes
from sqlmodel import SQLModel, col
from sqlmodel.sql.sqltypes import UTCDateTime

from storage import models
from storage.direct import Direct, PgDirect, SqliteDirect
from storage.inline_sqlite import InlineConnection


def _insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT DO NOTHING on both SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def _changed(session: AsyncSession, stmt: Any, params: Any = None) -> bool:
    """Run a Core DML statement; True if it touched a row."""
    # On the session's connection: the ORM layer adds nothing to a Core statement.
    connection = await session.connection()
    result = cast("CursorResult[Any]", await connection.execute(stmt, params))
    return bool(result.rowcount)


class Prebuilt:
    """A write run for nearly every event, built once per dialect.

    On SQLite it is compiled once per set of parameter names and handed to the driver
    directly, with SQLAlchemy's own value conversions (times, JSON, booleans): the layers
    between a statement and the driver cost more than SQLite's work on such a row. Errors
    are wrapped as SQLAlchemy wraps them, so callers see the same exceptions.
    """

    def __init__(self, build: Callable[[str], Any]) -> None:
        self._build = build
        self._statements: dict[str, Any] = {}
        self._compiled: dict[tuple[str, bool, tuple[str, ...]], _Compiled] = {}

    def statement(self, dialect: str) -> Any:
        """The SQLAlchemy statement for a dialect."""
        stmt = self._statements.get(dialect)
        if stmt is None:
            stmt = self._statements[dialect] = self._build(dialect)
        return stmt

    async def run(self, session: AsyncSession, params: dict[str, Any]) -> bool:
        """Execute with one row of parameters; True if it touched a row."""
        direct = await _direct(session)
        if direct is None:
            stmt = self.statement(session.get_bind().dialect.name)
            return await _changed(session, stmt, params)
        compiled = self._compile(session, direct, tuple(params))
        return bool(await direct.write(compiled.sql, compiled.values(params)))

    async def insert(self, session: AsyncSession, params: dict[str, Any]) -> int:
        """Execute an INSERT with one row; the new row's id."""
        direct = await _direct(session)
        if direct is None:
            stmt = self.statement(session.get_bind().dialect.name)
            result = await (await session.connection()).execute(
                stmt.returning(stmt.table.c.id), params
            )
            return int(result.scalar_one())
        # SQLite gives the id with the cursor; PostgreSQL returns it.
        returning = isinstance(direct, PgDirect)
        compiled = self._compile(session, direct, tuple(params), returning=returning)
        return await direct.insert(compiled.sql, compiled.values(params))

    async def run_many(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Execute once per row (one executemany); the rows share their parameter names."""
        if not rows:
            return
        direct = await _direct(session)
        if direct is None:
            stmt = self.statement(session.get_bind().dialect.name)
            await _changed(session, stmt, rows)
            return
        compiled = self._compile(session, direct, tuple(rows[0]))
        await direct.write(compiled.sql, [compiled.values(row) for row in rows], many=True)

    def _compile(
        self,
        session: AsyncSession,
        direct: Direct,
        keys: tuple[str, ...],
        *,
        returning: bool = False,
    ) -> _Compiled:
        compiled = self._compiled.get((direct.dialect, returning, keys))
        if compiled is None:
            dialect = session.get_bind().dialect
            stmt = self.statement(dialect.name)
            if returning:
                stmt = stmt.returning(stmt.table.c.id)
            compiled = _Compiled(stmt, keys, dialect)
            self._compiled[(direct.dialect, returning, keys)] = compiled
        return compiled


async def _direct(session: AsyncSession) -> Direct | None:
    """The driver connection of the session's transaction (see ``storage.direct``)."""
    # Kept with the transaction that opened it: asking the session for its connection
    # costs more than the write itself, and a commit may hand out another connection.
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cast(Direct | None, cached[1])
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    direct: Direct | None = None
    if isinstance(raw.driver_connection, InlineConnection):
        direct = SqliteDirect(raw.driver_connection)
    elif connection.dialect.driver == "asyncpg" and PgDirect.supports(raw.dbapi_connection):
        direct = PgDirect(raw.dbapi_connection, connection.dialect)
    session.info[_DRIVER] = (session.sync_session.get_transaction(), direct)
    return direct


_DRIVER = "leumund.driver"
# Rows a streamed query fetches from PostgreSQL at a time (see Query.stream).
_FETCH_ROWS = 5_000


class _Compiled:
    """A statement compiled for SQLite: its SQL, parameter order and conversions."""

    def __init__(self, stmt: Any, keys: tuple[str, ...], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        # A column default SQLAlchemy would fill in has no value here.
        if not set(order) <= set(keys):
            raise ValueError(f"parameters {keys} do not bind {order}")
        processors = compiled._bind_processors
        self.sql: str = compiled.string
        self._get = _getter(order)
        quick = (
            (i, _quick_bind(compiled.binds[name].type, dialect, processors.get(name)))
            for i, name in enumerate(order)
        )
        self._convert = tuple((i, convert) for i, convert in quick if convert is not None)

    def values(self, params: dict[str, Any]) -> list[Any]:
        """The parameters in statement order, converted as SQLAlchemy converts them."""
        values = list(self._get(params))
        # As SQLAlchemy does, None goes through the conversion too (JSON stores "null").
        for i, convert in self._convert:
            values[i] = convert(values[i])
        return values


def _getter(names: Sequence[str]) -> Callable[[dict[str, Any]], Sequence[Any]]:
    """The values of ``names`` in order, as a sequence (itemgetter alone unpacks one)."""
    if len(names) == 1:
        name = names[0]
        return lambda params: (params[name],)
    if not names:
        return lambda params: ()
    return operator.itemgetter(*names)


def _on_conflict(table: str, *columns: str) -> Prebuilt:
    def build(dialect: str) -> Any:
        module = postgresql if dialect == "postgresql" else sqlite
        return module.insert(_table(table)).on_conflict_do_nothing(index_elements=list(columns))

    return Prebuilt(build)


_CLAIM = _on_conflict("processed_events", "key")
_MESSAGE = _on_conflict("messages", "chat", "message_id")


def _member_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_table("members"))
    new, old = stmt.excluded, stmt.table.c
    # An imported export may know no username and may be older than what was seen live:
    # keep a known username, and let first_seen move back to the earliest sighting.
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "name": new.name,
            "username": func.coalesce(new.username, old.username),
            "first_seen": case(
                (new.first_seen < old.first_seen, new.first_seen), else_=old.first_seen
            ),
        },
        where=or_(
            old.name != new.name,
            and_(new.username.is_not(None), old.username.is_distinct_from(new.username)),
            new.first_seen < old.first_seen,
        ),
    )


_MEMBER = Prebuilt(_member_statement)
_MENTION = Prebuilt(lambda _dialect: insert(_table("message_mentions")))
_LEDGER = Prebuilt(lambda dialect: insert(_table("karma_ledger")))


def _balance_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_table("karma_balances"))
    # One statement whatever the row's state: concurrent writers on PostgreSQL add up.
    return stmt.on_conflict_do_update(
        index_elements=["community", "member"],
        set_={"points": stmt.table.c.points + stmt.excluded.points},
    )


_BALANCE = Prebuilt(_balance_statement)
# The SET clause names the columns given (compiled once per set of columns).
_SET_FIELDS = Prebuilt(
    lambda dialect: update(_table("messages")).where(
        _table("messages").c.chat == bindparam("where_chat"),
        _table("messages").c.message_id == bindparam("where_id"),
    )
)
_DECISION = Prebuilt(lambda _dialect: insert(_table("decisions")))


class Query:
    """A SELECT run for nearly every event, built once and bound with parameters.

    It is compiled once per database and handed to the driver (``storage.direct``), with
    SQLAlchemy's own conversions of parameters and results: the ORM's loading and the
    execution layers cost several times the database's index search. Rows come back as
    plain tuples on both databases; ``IN`` lists (expanding parameters) are expanded per
    call.
    """

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._plans: dict[str, _Plan] = {}

    async def all(self, session: AsyncSession, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row."""
        direct = await _direct(session)
        if direct is None:
            return [tuple(row) for row in (await session.execute(self.stmt, params)).all()]
        plan = self._plan(session, direct)
        sql, values = plan.bound(params)
        if plan.converted is None:
            # PostgreSQL's conversions depend on the types the server gives the columns.
            assert isinstance(direct, PgDirect)
            plan.results(await direct.result_types(sql))
        return plan.convert(await direct.fetch(sql, values))

    async def stream(
        self, session: AsyncSession, params: dict[str, Any], size: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Every row, ``size`` at a time: for reads too large to hold at once."""
        direct = await _direct(session)
        if not isinstance(direct, SqliteDirect):
            # Fetched from the server in larger batches: each fetch is a round trip.
            fetch = max(size, _FETCH_ROWS)
            result = await session.stream(self.stmt.execution_options(yield_per=fetch), params)
            async for part in result.partitions(size):
                yield [tuple(row) for row in part]
            return
        plan = self._plan(session, direct)
        sql, values = plan.bound(params)
        cursor = await direct.cursor(sql, values)
        try:
            while True:
                try:
                    rows = cursor.fetchmany(size)
                except sqlite3.Error as exc:
                    raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
                if not rows:
                    return
                yield plan.convert(rows)
        finally:
            cursor.close()

    async def first(self, session: AsyncSession, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        rows = await self.all(session, params)
        return rows[0] if rows else None

    def _plan(self, session: AsyncSession, direct: Direct) -> _Plan:
        plan = self._plans.get(direct.dialect)
        if plan is None:
            dialect = session.get_bind().dialect
            plan = self._plans[direct.dialect] = _Plan(self.stmt.compile(dialect=dialect), dialect)
        return plan


class _Plan:
    """A query compiled for one database: its SQL per shape and its conversions."""

    def __init__(self, compiled: Any, dialect: Dialect) -> None:
        self.compiled = compiled
        # Per length of each IN list: the SQL and where each of its values comes from.
        self._shapes: dict[tuple[int, ...], tuple[str, tuple[_Slot, ...]]] = {}
        self.converted: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None
        if dialect.name == "sqlite":
            self.results([None] * len(compiled._result_columns))

    def results(self, types: Sequence[Any]) -> None:
        """Set the result conversions, given the driver's type of each column."""
        dialect = self.compiled.dialect
        kinds = (entry.type for entry in self.compiled._result_columns)
        found = (
            _quick(kind, dialect, kind.dialect_impl(dialect).result_processor(dialect, code))
            for kind, code in zip(kinds, types, strict=True)
        )
        self.converted = tuple((i, f) for i, f in enumerate(found) if f is not None)

    def bound(self, params: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL for these parameters (IN lists expanded) and its values in order."""
        shape = tuple(len(v) if isinstance(v, list | tuple) else -1 for v in params.values())
        found = self._shapes.get(shape)
        if found is None:
            found = self._shapes[shape] = self._expand(params)
        sql, slots = found
        return sql, tuple(slot.value(params) for slot in slots)

    def convert(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """Result values as SQLAlchemy's types give them (times, JSON)."""
        if not self.converted:
            return rows
        out = []
        for row in rows:
            fields = list(row)
            for i, convert in self.converted:
                if fields[i] is not None:
                    fields[i] = convert(fields[i])
            out.append(tuple(fields))
        return out

    def _expand(self, params: dict[str, Any]) -> tuple[str, tuple[_Slot, ...]]:
        """The SQL for these list lengths, and a slot per placeholder (found with markers)."""
        compiled = self.compiled
        markers: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, list | tuple):
                markers[name] = [_Marker(name, i) for i in range(len(value))]
            else:
                markers[name] = _Marker(name, None)
        state = compiled.construct_expanded_state(markers)
        processors = {**compiled._bind_processors, **state.processors}
        slots = []
        for position, value in zip(state.positiontup, state.positional_parameters, strict=True):
            convert = processors.get(position)
            bind = compiled.binds.get(position)
            if bind is not None:
                convert = _quick_bind(bind.type, compiled.dialect, convert)
            if isinstance(value, _Marker):
                slots.append(_Slot(value.name, value.index, None, convert))
            else:  # a literal of the statement, e.g. the reasons of an IN (...)
                constant = value if convert is None else convert(value)
                slots.append(_Slot(None, None, constant, None))
        return state.statement, tuple(slots)


def _quick(
    kind: Any, dialect: Dialect, convert: Callable[[Any], Any] | None
) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a SQLite result value, with a shortcut for the usual case.

    Times and JSON lists come back for nearly every row read: SQLAlchemy parses a time
    with a regular expression and decodes every "[]" with the json module.
    """
    if convert is None or dialect.name != "sqlite":
        return convert
    if isinstance(kind, sqltypes.JSON):
        return lambda value: [] if value == "[]" else convert(value)  # a new list each time
    if isinstance(kind, UTCDateTime):

        def parse(value: Any) -> Any:
            # The form SQLAlchemy writes ("2026-11-20 10:30:15.123456"), parsed in C.
            if isinstance(value, str) and len(value) == 26 and value[10] == " ":
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            return convert(value)

        return parse
    return convert


def _quick_bind(
    kind: Any, dialect: Dialect, convert: Callable[[Any], Any] | None
) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a value written to SQLite, with a shortcut for the usual case.

    Nearly every row written has a time, and every message its mentions, most often none:
    SQLAlchemy formats a time field by field and encodes "[]" with the json module, which
    took as long as SQLite's insert of the message.
    """
    if convert is None or dialect.name != "sqlite":
        return convert
    full: Callable[[Any], Any] = convert
    if isinstance(kind, sqltypes.JSON):
        return lambda value: "[]" if type(value) is list and not value else full(value)
    if isinstance(kind, UTCDateTime):

        def write(value: Any) -> Any:
            # The form SQLAlchemy writes, in UTC ("2026-11-20 10:30:15.123456"), made in C.
            if type(value) is datetime and value.utcoffset() == _NO_OFFSET:
                return value.isoformat(" ", "microseconds")[:26]
            return full(value)

        return write
    return convert


_NO_OFFSET = timedelta(0)


@dataclass(frozen=True, slots=True)
class _Marker:
    name: str
    index: int | None


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one placeholder's value comes from: a parameter (or an item of one), or a
    constant of the statement; converted as SQLAlchemy converts it."""

    name: str | None
    index: int | None
    constant: Any
    convert: Callable[[Any], Any] | None

    def value(self, params: dict[str, Any]) -> Any:
        if self.name is None:
            return self.constant
        value = params[self.name] if self.index is None else params[self.name][self.index]
        return value if self.convert is None else self.convert(value)


class _Rows:
    """Rows of one table as detached, read-only model instances (see ``Query``).

    The instances are copies: writes go through the repositories' update methods,
    never through attributes.
    """

    def __init__(self, model: type[SQLModel], where: Any, *, order_by: Sequence[Any] = ()) -> None:
        table = SQLModel.metadata.tables[str(model.__tablename__)]
        self.model = model
        self.orm = select(model).where(where).order_by(*order_by)
        core = select(*table.columns).where(where).order_by(*order_by)
        if order_by:  # ordered reads take a "limit" parameter
            self.orm = self.orm.limit(bindparam("limit"))
            core = core.limit(bindparam("limit"))
        self.query = Query(core)
        # Instances made without the ORM's loading rely on configured mappers for their
        # attributes: storage.db.Database configures them when it opens.
        self.names = tuple(c.name for c in table.columns)

    async def first(self, session: AsyncSession, params: dict[str, Any]) -> Any:
        """The first matching row, or None."""
        if await _direct(session) is None:
            return (await session.execute(self.orm, params)).scalars().first()
        row = await self.query.first(session, params)
        if row is None:
            return None
        return self.model.model_construct(**dict(zip(self.names, row, strict=True)))

    async def all(self, session: AsyncSession, params: dict[str, Any]) -> list[Any]:
        """Every matching row, in the statement's order."""
        if await _direct(session) is None:
            return list((await session.execute(self.orm, params)).scalars().all())
        construct, names = self.model.model_construct, self.names
        return [
            construct(**dict(zip(names, row, strict=True)))
            for row in await self.query.all(session, params)
        ]


_MEMBER_ROW = _Rows(models.Member, col(models.Member.key) == bindparam("key"))
_MESSAGES = SQLModel.metadata.tables["messages"]
_ONE_MESSAGE = and_(
    _MESSAGES.c.chat == bindparam("chat"), _MESSAGES.c.message_id == bindparam("message_id")
)
_MESSAGE_ROW = _Rows(models.Message, _ONE_MESSAGE)
# Who wrote a message (a reply's target, for every reply): one column, nothing to convert.
_MESSAGE_AUTHOR = Query(select(_MESSAGES.c.author).where(_ONE_MESSAGE))


_RECENT_MESSAGES = _Rows(
    models.Message,
    and_(
        _MESSAGES.c.chat == bindparam("chat"),
        _MESSAGES.c.at >= bindparam("since"),
        _MESSAGES.c.at <= bindparam("before"),
        _MESSAGES.c.deleted == False,  # noqa: E712
    ),
    order_by=(_MESSAGES.c.at.desc(), _MESSAGES.c.id.desc()),
)


def _table(name: str) -> Table:
    # Core tables, not ORM entities: a parameterised ORM insert would take the bulk path.
    return SQLModel.metadata.tables[name]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True, slots=True)
class KarmaTotal:
    """A member's karma in a community."""

    member: str
    points: float


def lock_key(name: str) -> int:
    """A stable signed 64-bit number for a lock name (PostgreSQL advisory locks take bigints).

    Python's ``hash`` differs per process, so the number comes from BLAKE2b: every process
    maps a name to the same lock.
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Volatile functions in the select list run after the ORDER BY sort (PostgreSQL >= 9.6),
# so the locks are taken one by one in ascending order.
_XACT_LOCKS = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
).bindparams(bindparam("keys", type_=postgresql.ARRAY(BigInteger)))


class Locks:
    """Locks that make several processes on one PostgreSQL database take turns.

    On PostgreSQL these are transaction-scoped advisory locks: held until the transaction
    commits or rolls back, so a rule that reads the ledger and then writes to it sees what
    another process wrote before. SQLite needs none: it is used by one process only (and
    its single writer serialises transactions anyway), so the calls do nothing there.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def shared(self) -> bool:
        """True when other processes may work on the same database at the same time."""
        return _dialect(self.session) == "postgresql"

    async def hold(self, *names: str) -> None:
        """Wait for and take the locks of ``names`` until the end of the transaction.

        The locks of one call are taken in one (numeric) order, so two transactions that
        each lock their set at once cannot deadlock on them. One that locks more later (a
        replay batch of many events) can; PostgreSQL then aborts one of the two, an error
        ``storage.retry`` treats as passing. Taking a lock again in the same transaction
        is free of waiting.
        """
        if not self.shared or not names:
            return
        keys = sorted({lock_key(name) for name in names})
        await self.session.execute(_XACT_LOCKS, {"keys": keys})

    async def members(self, *keys: str) -> None:
        """Lock member keys (e.g. a giver's and a receiver's accounts) for this transaction."""
        await self.hold(*(f"member:{key}" for key in keys))


class Events:
    """Processed platform events: the idempotency keys."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, key: str, kind: str, community: str, at: datetime) -> bool:
        """Record an event key; False if it was recorded before (a redelivery)."""
        params = {"key": key, "kind": kind, "community": community, "at": at}
        return await _CLAIM.run(self.session, params)


class Ambiguous(enum.Enum):
    """The outcome of a name look-up that several members match equally well."""

    NAME = "ambiguous"


AMBIGUOUS: Final = Ambiguous.NAME


class Members:
    """Member accounts and chats."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure(
        self, key: str, name: str, username: str | None, is_bot: bool, at: datetime
    ) -> None:
        """Create the member if new; keep the newest display name."""
        params = {
            "key": key,
            "name": name,
            "username": username,
            "is_bot": is_bot,
            "first_seen": at,
            "person": None,
            "opted_out": False,
            "forgotten": False,
        }
        await _MEMBER.run(self.session, params)

    async def ensure_chat(self, key: str, community: str, at: datetime) -> None:
        """Record a chat the first time it is seen."""
        stmt = (
            _insert(self.session, models.Chat)
            .values(key=key, community=community, first_seen=at)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        await self.session.execute(stmt)

    async def get(self, key: str) -> models.Member | None:
        """The member with that key (a read-only copy on SQLite; see ``_Rows``)."""
        return cast(models.Member | None, await _MEMBER_ROW.first(self.session, {"key": key}))

    async def by_name(self, platform: str, name: str) -> models.Member | Ambiguous | None:
        """The member a name means: its @username, else the only one with that display name."""
        lowered = name.lower()
        # A display name is anyone's to choose (an impostor may call themselves "alice"),
        # a username is the account's own: a username match ranks first.
        rank = case((func.lower(col(models.Member.username)) == lowered, 0), else_=1)
        stmt = (
            select(models.Member, rank)
            .where(col(models.Member.key).startswith(f"{platform}:"))
            .where(
                or_(
                    func.lower(col(models.Member.username)) == lowered,
                    func.lower(col(models.Member.name)) == lowered,
                )
            )
            .order_by(rank, col(models.Member.id))
            .limit(2)
        )
        rows = (await self.session.execute(stmt)).all()
        if not rows:
            return None
        # Two of the best rank (a shared display name, or a username an old account still
        # holds) would be a guess; the caller asks for the @username instead.
        if len(rows) == 2 and rows[0][1] == rows[1][1]:
            return AMBIGUOUS
        member: models.Member = rows[0][0]
        return member

    async def names(self, keys: Iterable[str]) -> dict[str, str]:
        """Display names for member keys (the key itself when unknown)."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        stmt = select(col(models.Member.key), col(models.Member.name)).where(
            col(models.Member.key).in_(wanted)
        )
        found = {k: n for k, n in (await self.session.execute(stmt)).all()}
        return {k: found.get(k, k) for k in wanted}


class Messages:
    """Messages seen in chats."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> bool:
        """Store a message (columns of models.Message); False if that chat already has it."""
        params = {
            "reply_to": None,
            "reply_to_author": None,
            "mentions": [],
            "thread": None,
            "edited_at": None,
            "deleted": False,
            "forwarded": False,
            "is_thanks": False,
            "fingerprint": None,
            "text": None,
            **values,
        }
        added = await _MESSAGE.run(self.session, params)
        if added and params["mentions"]:
            # Each member once, with the message's place and time (promo reads by member).
            mentioned = dict.fromkeys(params["mentions"])
            base = {k: params[k] for k in ("chat", "message_id", "community", "at")}
            await _MENTION.run_many(self.session, [{**base, "member": m} for m in mentioned])
        return added

    async def get(self, chat: str, message_id: str) -> models.Message | None:
        """One message by chat and id."""
        params = {"chat": chat, "message_id": message_id}
        return cast(models.Message | None, await _MESSAGE_ROW.first(self.session, params))

    async def author(self, chat: str, message_id: str) -> str | None:
        """Who wrote a message, None for a message not stored."""
        row = await _MESSAGE_AUTHOR.first(self.session, {"chat": chat, "message_id": message_id})
        return str(row[0]) if row is not None else None

    async def set_fields(self, chat: str, message_id: str, **values: Any) -> None:
        """Update fields of a message (text after an edit, deleted, is_thanks)."""
        await _SET_FIELDS.run(self.session, {**values, "where_chat": chat, "where_id": message_id})

    async def recent(
        self, chat: str, since: datetime, before: datetime, limit: int = 50
    ) -> Sequence[models.Message]:
        """Messages of a chat in a time window, newest first (read-only copies)."""
        params = {"chat": chat, "since": since, "before": before, "limit": limit}
        return cast(list[models.Message], await _RECENT_MESSAGES.all(self.session, params))


class Karma:
    """The append-only karma ledger and what is derived from it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> int:
        """Append one ledger row (columns of models.KarmaEntry); its id."""
        params = {
            "giver": None,
            "rule": None,
            "chat": None,
            "message_id": None,
            "target_message_id": None,
            "emoji": None,
            "reverses": None,
            "note": None,
            **values,
        }
        entry = await _LEDGER.insert(self.session, params)
        # In the same transaction as the row: a rollback or a crash takes both back.
        await _BALANCE.run(
            self.session,
            {
                "community": params["community"],
                "member": params["receiver"],
                "points": params["points"],
            },
        )
        return entry

    def _members(self, members: Sequence[str]) -> Any:
        return col(models.KarmaEntry.receiver).in_(members)

    async def total(
        self, community: str, members: Sequence[str], since: datetime | None = None
    ) -> float:
        """Karma of a member (all linked accounts), optionally since a moment."""
        if since is None:
            balances = await self.balances(community, members)
            return sum(balances.values(), 0.0)
        stmt = select(func.coalesce(func.sum(col(models.KarmaEntry.points)), 0.0)).where(
            col(models.KarmaEntry.community) == community,
            self._members(members),
            col(models.KarmaEntry.at) >= since,
        )
        return float((await self.session.execute(stmt)).scalar_one())

    async def balances(
        self, community: str, members: Sequence[str] | None = None
    ) -> dict[str, float]:
        """All-time karma per account (of these accounts, or of everyone), unrounded."""
        if members is None:
            rows = await _ALL_BALANCES.all(self.session, {"community": community})
        elif not members:
            return {}
        else:
            params = {"community": community, "members": list(members)}
            rows = await _BALANCES.all(self.session, params)
        return {member: float(points) for member, points in rows}

    async def given_since(self, community: str, giver: str, since: datetime) -> float:
        """Points a giver handed out since a moment (for the giver's daily cap)."""
        stmt = select(func.coalesce(func.sum(col(models.KarmaEntry.points)), 0.0)).where(
            col(models.KarmaEntry.community) == community,
            col(models.KarmaEntry.giver) == giver,
            col(models.KarmaEntry.at) >= since,
            col(models.KarmaEntry.reason).in_(("thanks", "reaction")),
        )
        return float((await self.session.execute(stmt)).scalar_one())

    async def received_since(self, community: str, receiver: str, since: datetime) -> float:
        """Points a member received from members since a moment (for the receiver's cap)."""
        stmt = select(func.coalesce(func.sum(col(models.KarmaEntry.points)), 0.0)).where(
            col(models.KarmaEntry.community) == community,
            col(models.KarmaEntry.receiver) == receiver,
            col(models.KarmaEntry.at) >= since,
            col(models.KarmaEntry.reason).in_(("thanks", "reaction")),
        )
        return float((await self.session.execute(stmt)).scalar_one())

    async def last_award(
        self, community: str, giver: str, receiver: str
    ) -> models.KarmaEntry | None:
        """The newest positive award from giver to receiver."""
        stmt = (
            select(models.KarmaEntry)
            .where(
                col(models.KarmaEntry.community) == community,
                col(models.KarmaEntry.giver) == giver,
                col(models.KarmaEntry.receiver) == receiver,
                col(models.KarmaEntry.points) > 0,
                col(models.KarmaEntry.reason).in_(("thanks", "reaction")),
            )
            .order_by(col(models.KarmaEntry.at).desc(), col(models.KarmaEntry.id).desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_awards(
        self,
        community: str,
        chat: str,
        message_id: str,
        *,
        giver: str | None = None,
        emoji: str | None = None,
    ) -> list[models.KarmaEntry]:
        """Awards from a source message (or reaction) that have not been reversed yet."""
        stmt = select(models.KarmaEntry).where(
            col(models.KarmaEntry.community) == community,
            col(models.KarmaEntry.chat) == chat,
            col(models.KarmaEntry.message_id) == message_id,
            col(models.KarmaEntry.reason).in_(("thanks", "reaction")),
        )
        if giver is not None:
            stmt = stmt.where(col(models.KarmaEntry.giver) == giver)
        if emoji is not None:
            stmt = stmt.where(col(models.KarmaEntry.emoji) == emoji)
        awards = list((await self.session.execute(stmt)).scalars().all())
        if not awards:
            return []
        reversed_ids = set(
            (
                await self.session.execute(
                    select(col(models.KarmaEntry.reverses)).where(
                        col(models.KarmaEntry.reverses).in_([a.id for a in awards])
                    )
                )
            ).scalars()
        )
        return [a for a in awards if a.id not in reversed_ids]

    async def history(
        self, community: str, members: Sequence[str], limit: int = 10
    ) -> Sequence[models.KarmaEntry]:
        """The newest ledger rows of a member, for /karma why."""
        stmt = (
            select(models.KarmaEntry)
            .where(col(models.KarmaEntry.community) == community, self._members(members))
            .order_by(col(models.KarmaEntry.at).desc(), col(models.KarmaEntry.id).desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def leaders(self, community: str, limit: int) -> list[tuple[str, float]]:
        """The accounts with the highest positive all-time balances, best first."""
        params = {"community": community, "limit": limit}
        return [(str(m), float(p)) for m, p in await _LEADERS.all(self.session, params)]

    async def count_above(self, community: str, points: float) -> int:
        """How many accounts have an all-time balance above ``points``."""
        row = await _ABOVE.first(self.session, {"community": community, "points": points})
        return int(row[0]) if row else 0

    async def top(
        self, community: str, since: datetime | None = None, limit: int = 10
    ) -> list[KarmaTotal]:
        """Members with the most karma, optionally since a moment."""
        if since is None:
            return [KarmaTotal(m, round(p, 2)) for m, p in await self.leaders(community, limit)]
        points = func.sum(col(models.KarmaEntry.points))
        stmt = (
            select(col(models.KarmaEntry.receiver), points)
            .where(col(models.KarmaEntry.community) == community)
            .group_by(col(models.KarmaEntry.receiver))
            .having(points > 0)
            .order_by(points.desc(), col(models.KarmaEntry.receiver))
            .limit(limit)
        )
        if since is not None:
            stmt = stmt.where(col(models.KarmaEntry.at) >= since)
        return [
            KarmaTotal(m, round(float(p), 2)) for m, p in (await self.session.execute(stmt)).all()
        ]

    async def totals(self, community: str) -> dict[str, float]:
        """Every member's total, for tests, replay summaries and ranks."""
        stmt = (
            select(col(models.KarmaEntry.receiver), func.sum(col(models.KarmaEntry.points)))
            .where(col(models.KarmaEntry.community) == community)
            .group_by(col(models.KarmaEntry.receiver))
        )
        return {m: round(float(p), 2) for m, p in (await self.session.execute(stmt)).all()}


_BALANCE_COLUMNS = (col(models.KarmaBalance.member), col(models.KarmaBalance.points))
_IN_COMMUNITY = col(models.KarmaBalance.community) == bindparam("community")
_POINTS = col(models.KarmaBalance.points)
_ALL_BALANCES = Query(select(*_BALANCE_COLUMNS).where(_IN_COMMUNITY))
_BALANCES = Query(
    select(*_BALANCE_COLUMNS).where(
        _IN_COMMUNITY, col(models.KarmaBalance.member).in_(bindparam("members", expanding=True))
    )
)
_LEADERS = Query(
    select(*_BALANCE_COLUMNS)
    .where(_IN_COMMUNITY, _POINTS > 0)
    .order_by(_POINTS.desc(), col(models.KarmaBalance.member))
    .limit(bindparam("limit"))
)
_ABOVE = Query(select(func.count()).where(_IN_COMMUNITY, bindparam("points") < _POINTS))


class Decisions:
    """The decision log."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Append decisions (columns of models.Decision; one executemany, no ORM)."""
        await _DECISION.run_many(self.session, rows)


@dataclass(frozen=True, slots=True)
class OpenCase:
    """The parts of an open case that new evidence changes."""

    id: int
    evidence: dict[str, Any]
    score: float | None


class Cases:
    """Cases for moderators and their history."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_evidence(self, community: str, kind: str, subject: str) -> OpenCase | None:
        """The open case of a kind about a member, without loading it as an ORM object."""
        # A change made through the ORM earlier in this transaction (a moderator closing
        # the case) must be seen: the raw read does not flush by itself.
        await self.session.flush()
        params = {"community": community, "kind": kind, "subject": subject}
        row = await _OPEN_CASE.first(self.session, params)
        if row is None:
            return None
        case_id, evidence, score = row
        return OpenCase(int(case_id), dict(evidence or {}), score)

    async def add_evidence(
        self,
        case: OpenCase,
        *,
        evidence: dict[str, Any],
        score: float,
        summary: str,
        note: str,
        at: datetime,
    ) -> None:
        """Store a case's new evidence, score and summary, and an "evidence" history row."""
        values = {
            "where_id": case.id,
            "evidence": evidence,
            "score": score,
            "summary": summary,
        }
        await _CASE_SET.run(self.session, values)
        await _CASE_EVENT.run(
            self.session,
            {"case_id": case.id, "actor": None, "action": "evidence", "note": note, "at": at},
        )
        # A copy the ORM holds from earlier in this transaction would be stale now.
        sync = self.session.sync_session
        loaded = sync.identity_map.get(sync.identity_key(models.Case, case.id))
        if loaded is not None:
            self.session.expire(loaded)

    async def add_flag(self, **values: Any) -> None:
        """Store a flag (columns of models.Flag)."""
        await _FLAG.run(self.session, values)

    async def add_complaint(self, **values: Any) -> None:
        """Store a complaint (every column of models.Complaint but its id)."""
        await _COMPLAINT.run(self.session, values)

    async def escalate(self, case: models.Case, at: datetime, action: str) -> None:
        """Mark a case escalated at ``at``, with its history row and a mod log row of
        ``action`` about its subject."""
        assert case.id is not None
        await _CASE_SET.run(self.session, {"where_id": case.id, "escalated_at": at})
        await _CASE_EVENT.run(
            self.session,
            {"case_id": case.id, "actor": None, "action": "escalated", "note": None, "at": at},
        )
        log = {
            "community": case.community,
            "actor": None,
            "action": action,
            "target": case.subject,
            "case_id": case.id,
            "detail": "",
            "at": at,
        }
        await _MOD_LOG.run(self.session, log)
        # The instance says so too, without becoming a change of its own to flush.
        set_committed_value(case, "escalated_at", at)

    async def open(self, case: models.Case, actor: str | None = None) -> models.Case:
        """Open a case and write its first history row; the case is then in the session.

        Written with one INSERT rather than a flush of the session (which would write
        everything pending); the instance joins the session as if loaded, so changes the
        caller makes to it afterwards are written like any other.
        """
        values = {c.name: getattr(case, c.name) for c in _CASES.columns if c.name != "id"}
        case.id = await _NEW_CASE.insert(self.session, values)
        make_transient_to_detached(case)
        self.session.add(case)
        await _CASE_EVENT.run(
            self.session,
            {
                "case_id": case.id,
                "actor": actor,
                "action": "opened",
                "note": None,
                "at": case.opened_at,
            },
        )
        return case

    async def get(self, community: str, case_id: int) -> models.Case | None:
        """One case of a community."""
        stmt = select(models.Case).where(
            col(models.Case.community) == community, col(models.Case.id) == case_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_for(self, community: str, kind: str, subject: str) -> models.Case | None:
        """The open case of a kind about a member, if any."""
        stmt = (
            select(models.Case)
            .where(
                col(models.Case.community) == community,
                col(models.Case.kind) == kind,
                col(models.Case.subject) == subject,
                col(models.Case.status) == "open",
            )
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()


_CASE = models.Case
_OPEN_CASE = Query(
    select(col(_CASE.id), col(_CASE.evidence), col(_CASE.score))
    .where(
        col(_CASE.community) == bindparam("community"),
        col(_CASE.kind) == bindparam("kind"),
        col(_CASE.subject) == bindparam("subject"),
        col(_CASE.status) == "open",
    )
    .order_by(col(_CASE.id))
    .limit(1)
)
# UPDATE cases SET <the columns given> WHERE id = :where_id (compiled per set of columns).
_CASE_SET = Prebuilt(
    lambda _dialect: update(_table("cases")).where(_table("cases").c.id == bindparam("where_id"))
)
_CASES = SQLModel.metadata.tables["cases"]
_NEW_CASE = Prebuilt(lambda _dialect: insert(_CASES))
_CASE_EVENT = Prebuilt(lambda _dialect: insert(_table("case_events")))
_FLAG = Prebuilt(lambda _dialect: insert(_table("flags")))
_COMPLAINT = Prebuilt(lambda _dialect: insert(_table("complaints")))
_MOD_LOG = Prebuilt(lambda _dialect: insert(_table("mod_log")))


class Outbox:
    """Actions waiting for, or done with, delivery."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: Iterable[models.OutboxItem]) -> None:
        """Queue actions."""
        self.session.add_all(list(rows))

    async def claim(self, event_key: str, position: int) -> bool:
        """Mark one pending action as being sent; False if it is not pending (any more).

        The update is the claim: of two processes (or a restart and a late delivery) only
        one sees the row change, so an action is never executed twice.
        """
        outbox = _table("outbox")
        return await _changed(
            self.session,
            update(outbox)
            .where(
                outbox.c.event_key == event_key,
                outbox.c.position == position,
                outbox.c.status == "pending",
            )
            .values(status="sending", attempts=outbox.c.attempts + 1),
        )

    async def finish(
        self, event_key: str, position: int, status: str, error: str | None, at: datetime
    ) -> None:
        """Record how the delivery of a claimed action ended."""
        await self.session.execute(
            update(models.OutboxItem)
            .where(
                col(models.OutboxItem.event_key) == event_key,
                col(models.OutboxItem.position) == position,
            )
            .values(status=status, error=error[:1024] if error else None, sent_at=at)
        )

    async def pending(self, since: datetime, limit: int = 1000) -> Sequence[models.OutboxItem]:
        """Actions stored but never claimed, created after ``since``, oldest first."""
        stmt = (
            select(models.OutboxItem)
            .where(
                col(models.OutboxItem.status) == "pending",
                col(models.OutboxItem.created_at) >= since,
            )
            .order_by(col(models.OutboxItem.id))
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def settle(self, before: datetime) -> dict[str, int]:
        """After a restart: interrupted sends become ``unknown``, stale pending ``expired``.

        An action claimed but not confirmed may or may not have reached the platform; it is
        never sent again. Pending actions older than ``before`` are too late to be useful.
        """
        unknown = await self.session.execute(
            update(models.OutboxItem)
            .where(col(models.OutboxItem.status) == "sending")
            .values(status="unknown", error="interrupted while sending; not repeated")
        )
        expired = await self.session.execute(
            update(models.OutboxItem)
            .where(
                col(models.OutboxItem.status) == "pending",
                col(models.OutboxItem.created_at) < before,
            )
            .values(status="expired", error="not sent in time; dropped")
        )
        return {
            "unknown": cast("CursorResult[Any]", unknown).rowcount,
            "expired": cast("CursorResult[Any]", expired).rowcount,
        }

    async def purge(self, before: datetime) -> int:
        """Delete settled rows created before ``before``; pending ones stay."""
        result = await self.session.execute(
            delete(models.OutboxItem).where(
                col(models.OutboxItem.status) != "pending",
                col(models.OutboxItem.status) != "sending",
                col(models.OutboxItem.created_at) < before,
            )
        )
        return cast("CursorResult[Any]", result).rowcount


def _state_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_table("feature_state"))
    return stmt.on_conflict_do_update(
        index_elements=["feature", "community", "key"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )


_STATE_SET = Prebuilt(_state_statement)
_STATE_VALUE = Query(
    select(col(models.FeatureState.value)).where(
        col(models.FeatureState.feature) == bindparam("feature"),
        col(models.FeatureState.community) == bindparam("community"),
        col(models.FeatureState.key) == bindparam("key"),
    )
)


class State:
    """Features' small persistent state (JSON values by key) and training samples."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, feature: str, community: str, key: str, default: Any = None) -> Any:
        """A stored value, or ``default``."""
        params = {"feature": feature, "community": community, "key": key}
        row = await _STATE_VALUE.first(self.session, params)
        return default if row is None or row[0] is None else row[0]

    async def set(self, feature: str, community: str, key: str, value: Any, at: datetime) -> None:
        """Store a value (insert or replace)."""
        params = {
            "feature": feature,
            "community": community,
            "key": key,
            "value": value,
            "updated_at": at,
        }
        await _STATE_SET.run(self.session, params)

    async def delete(self, feature: str, community: str, key: str) -> None:
        """Forget a value."""
        await self.session.execute(
            delete(models.FeatureState).where(
                and_(
                    col(models.FeatureState.feature) == feature,
                    col(models.FeatureState.community) == community,
                    col(models.FeatureState.key) == key,
                )
            )
        )

    async def add_sample(self, sample: models.TrainingSample) -> None:
        """Store a labelled text for a classifier."""
        self.session.add(sample)

    async def samples(self, feature: str, community: str) -> Sequence[models.TrainingSample]:
        """Every labelled text of a feature in a community, oldest first."""
        stmt = (
            select(models.TrainingSample)
            .where(
                col(models.TrainingSample.feature) == feature,
                col(models.TrainingSample.community) == community,
            )
            .order_by(col(models.TrainingSample.id))
        )
        return (await self.session.execute(stmt)).scalars().all()


class Store:
    """The repositories of one unit of work (one session, one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.locks = Locks(session)
        # Several processes may work on a PostgreSQL database at once; a feature's memory
        # of earlier events is then incomplete (SQLite: one process, memory is complete).
        self.shared = self.locks.shared
        self.events = Events(session)
        self.members = Members(session)
        self.messages = Messages(session)
        self.karma = Karma(session)
        self.decisions = Decisions(session)
        self.cases = Cases(session)
        self.outbox = Outbox(session)
        self.state = State(session)
