"""The recent ledger in memory: who gave whom what, per pair, for the fair rules.

The rules ask for every award: the sums of the awards and reversals that touch the
giver's and the receiver's accounts (cooldowns, daily caps, rings). On a database that
one process uses (SQLite) that process writes every ledger row, so it can keep the rows
of the last days in memory, grouped by pair, and answer without a query. The answer is
the same as ``rules.Ledger``'s query gives (a test compares the two on random ledgers).

What is kept: the rows of the reasons the rules net (thanks, reactions, reversals) from
``start`` on; rows older than the widest window asked for (and a day) are let go a
window's worth at a time. A question about an earlier moment than ``start`` (a longer
window in one chat's settings, an event older than the ones before it) loads the rows
again from the database, in the transaction that asks, so it sees that transaction's own
rows too. A community with more than ``max_rows`` recent rows is left to the query. The
engine drops all of it when a transaction rolls back or a member is forgotten (their rows
get new keys): ``KarmaFeature.reset``.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from sys import intern

from sqlalchemy import bindparam, select
from sqlmodel import col

from bot.features.karma.rules import EARNED, NETTED, Pair, Windows, exact
from storage import models
from storage.repositories import Query, Store

# Rows older than the widest window asked for are kept this much longer, so an event a
# little older than the one before it (platforms deliver out of order) finds them; they
# are let go a day's worth at a time.
MARGIN = timedelta(days=1)
_NONE: frozenset[str] = frozenset()

_entry = models.KarmaEntry
_LOAD = Query(
    select(
        col(_entry.giver),
        col(_entry.receiver),
        col(_entry.points),
        col(_entry.at),
        col(_entry.reason),
    )
    .where(
        col(_entry.community) == bindparam("community"),
        col(_entry.at) >= bindparam("since"),
        col(_entry.reason).in_(NETTED),
        col(_entry.giver).is_not(None),
    )
    .order_by(col(_entry.at), col(_entry.id))
)


@dataclass(slots=True)
class _Row:
    giver: str
    receiver: str
    points: float
    at: datetime
    earned: bool


def _at(row: _Row) -> datetime:
    return row.at


@dataclass(slots=True)
class _Series:
    """One member's rows in one direction, oldest first, with running sums of the points,
    and the rows of each pair with the member on this side (shared with the other side's
    series)."""

    rows: list[_Row] = field(default_factory=list)
    totals: array[float] = field(default_factory=lambda: array("d"))  # of rows[:i + 1]
    partners: dict[str, list[_Row]] = field(default_factory=dict)

    def add(self, row: _Row) -> None:
        rows, totals = self.rows, self.totals
        if not rows or row.at >= rows[-1].at:
            rows.append(row)
            totals.append((totals[-1] if totals else 0.0) + row.points)
            return
        # Older than the newest (events delivered out of order): sums from there on again.
        at = bisect_right(rows, row.at, key=_at)
        rows.insert(at, row)
        del totals[at:]
        running = totals[-1] if totals else 0.0
        for later in rows[at:]:
            running += later.points
            totals.append(running)

    def since(self, moment: datetime) -> float:
        """Points of the rows at or after ``moment``."""
        at = bisect_left(self.rows, moment, key=_at)
        if at >= len(self.totals):
            return 0.0
        return self.totals[-1] - (self.totals[at - 1] if at else 0.0)

    def earned_since(self, moment: datetime) -> float:
        """Points of the awards (no reversals) at or after ``moment``."""
        total = 0.0
        for row in reversed(self.rows):
            if row.at < moment:
                break
            if row.earned:
                total += row.points
        return total


@dataclass(slots=True)
class _Community:
    start: datetime  # every row from here on is held
    rows: list[_Row] = field(default_factory=list)
    given: dict[str, _Series] = field(default_factory=dict)
    received: dict[str, _Series] = field(default_factory=dict)
    newest: datetime | None = None
    span: timedelta = timedelta(0)

    def add(self, row: _Row) -> None:
        self.rows.append(row)
        out = self.given.get(row.giver)
        if out is None:
            out = self.given[row.giver] = _Series()
        into = self.received.get(row.receiver)
        if into is None:
            into = self.received[row.receiver] = _Series()
        pair = out.partners.get(row.receiver)
        if pair is None:
            pair = out.partners[row.receiver] = into.partners[row.giver] = []
        if pair and row.at < pair[-1].at:
            pair.insert(bisect_right(pair, row.at, key=_at), row)
        else:
            pair.append(row)
        out.add(row)
        into.add(row)

    def pair(self, giver: str, receiver: str) -> list[_Row] | None:
        out = self.given.get(giver)
        return out.partners.get(receiver) if out is not None else None


class RecentLedger:
    """The recent netted ledger rows of each community, kept by the one process using it."""

    def __init__(self, *, max_rows: int = 500_000) -> None:
        self.max_rows = max_rows
        self._communities: dict[str, _Community] = {}
        # Communities with more recent rows than memory should hold: the rules query.
        self._too_many: set[str] = set()
        self.loads = 0  # how often rows were read from the database (for tests)

    def clear(self) -> None:
        """Forget everything: the database is the truth again (after a rollback)."""
        self._communities.clear()
        self._too_many.clear()

    def rows(self, community: str) -> int:
        """How many rows are held for a community."""
        held = self._communities.get(community)
        return len(held.rows) if held is not None else 0

    async def flows(
        self, store: Store, community: str, now: datetime, windows: Windows
    ) -> KeptFlows | None:
        """The flows of a community in ``windows`` (``now`` is the event's moment); None
        when the community has too many recent rows to hold them."""
        if community in self._too_many:
            return None
        held = self._communities.get(community)
        since = windows.since
        if held is None or since < held.start:
            held = await self._load(store, community, since - MARGIN)
            if held is None:
                return None
        held.span = max(held.span, now - since)
        if held.newest is None or now > held.newest:
            held.newest = now
            cutoff = now - held.span - MARGIN
            # Let go of a window's worth at once: each row is copied about twice in all.
            if cutoff - held.start > max(held.span, MARGIN):
                self._rebuild(held, cutoff)
        return KeptFlows(held, windows)

    def record(
        self,
        community: str,
        giver: str | None,
        receiver: str,
        points: float,
        at: datetime,
        reason: str,
    ) -> None:
        """Keep a row just written to the ledger (in the transaction the rules read in)."""
        held = self._communities.get(community)
        if held is None or giver is None or reason not in NETTED or at < held.start:
            return
        held.add(_Row(intern(giver), intern(receiver), points, at, reason in EARNED))
        if len(held.rows) > self.max_rows:
            self._give_up(community)

    def _give_up(self, community: str) -> None:
        del self._communities[community]
        self._too_many.add(community)

    @staticmethod
    def _rebuild(held: _Community, cutoff: datetime) -> None:
        """Let the rows before ``cutoff`` go (all at once: the running sums start anew)."""
        rows = [row for row in held.rows if row.at >= cutoff]
        # The old indexes go before the new ones are built: memory holds one set of them.
        held.rows, held.given, held.received, held.start = [], {}, {}, cutoff
        for row in rows:
            held.add(row)

    async def _load(self, store: Store, community: str, start: datetime) -> _Community | None:
        self.loads += 1
        held = _Community(start=start)
        self._communities[community] = held
        params = {"community": community, "since": start}
        for giver, receiver, points, at, reason in await _LOAD.all(store.session, params):
            # Keys repeat on many rows: one string each.
            row = _Row(intern(giver), intern(receiver), float(points), at, reason in EARNED)
            held.add(row)
            if len(held.rows) > self.max_rows:
                self._give_up(community)
                return None
        return held


class KeptFlows:
    """The rules' flows (``rules.Flows``) answered from the rows in memory."""

    def __init__(self, held: _Community, windows: Windows) -> None:
        self.held, self.windows = held, windows

    def pair(self, giver: str, receiver: str) -> Pair | None:
        """The sums of one pair's rows, as the ledger query groups them."""
        rows = self.held.pair(giver, receiver)
        return None if rows is None else _sum(rows, self.windows)

    def net(self, giver: str, receiver: str) -> float:
        """One pair's net points in the ring window."""
        rows = self.held.pair(giver, receiver)
        if rows is None:
            return 0.0
        ring_since, net = self.windows.ring_since, 0.0
        for row in rows:
            if row.at >= ring_since:
                net += row.points
        return exact(net)

    def gave_to(self, key: str) -> AbstractSet[str]:
        """Receivers of the member's held rows."""
        series = self.held.given.get(key)
        return series.partners.keys() if series is not None else _NONE

    def got_from(self, key: str) -> AbstractSet[str]:
        """Givers of the member's held rows."""
        series = self.held.received.get(key)
        return series.partners.keys() if series is not None else _NONE

    def given(self, key: str) -> float:
        """Net points given in the ring window."""
        series = self.held.given.get(key)
        return exact(series.since(self.windows.ring_since)) if series is not None else 0.0

    def received(self, key: str) -> float:
        """Net points received in the ring window."""
        series = self.held.received.get(key)
        return exact(series.since(self.windows.ring_since)) if series is not None else 0.0

    def given_today(self, key: str) -> float:
        """Points awarded since midnight."""
        series = self.held.given.get(key)
        return exact(series.earned_since(self.windows.today)) if series is not None else 0.0

    def received_today(self, key: str) -> float:
        """Points received since midnight."""
        series = self.held.received.get(key)
        return exact(series.earned_since(self.windows.today)) if series is not None else 0.0

    async def include(self, keys: Sequence[str]) -> None:
        """Nothing to read: every member's rows are held."""


def _sum(rows: Iterable[_Row], windows: Windows) -> Pair | None:
    """The sums of one pair's rows as the ledger query groups them (None: no rows)."""
    since, today, ring_since = windows.since, windows.today, windows.ring_since
    pair_since, back_since = windows.pair_since, windows.back_since
    net = day = 0.0
    pair = back = False
    first: _Row | None = None
    for row in rows:
        at = row.at
        if at < since:
            continue
        first = first or row
        points = row.points
        if at >= ring_since:
            net += points
        if row.earned:
            if at >= today:
                day += points
            if points > 0:
                pair = pair or at > pair_since
                back = back or at > back_since
    if first is None:
        return None
    return Pair(first.giver, first.receiver, exact(net), exact(day), pair, back)
