"""The fair rules: who may credit whom, how much, and ring (serial voting) detection.

Checked in this order; the first that blocks is logged with its name:
``bot``, ``self`` (also between linked accounts), ``cooldown`` (the same giver credited
the same receiver within ``pair_cooldown_minutes``), ``reciprocal`` (the receiver credited
the giver within ``reciprocal_cooldown_minutes``), ``daily_cap_giver``,
``daily_cap_receiver`` (points since midnight in the community's time zone; reversed
awards still count, so toggling a reaction frees no room). Awards that
pass are weighted (see ``giver_weight``), reduced inside a ring (``ring``) and cut to what
is left under the daily caps.

Ring: the awards of the last ``ring_window_days`` that touch the giver or the receiver
are netted per pair (reversals included). The group is the giver, the receiver and up to
``ring_max_size - 2`` partners who both gave to and received from them (strongest mutual
exchange first); members who do not both give and receive inside the group are dropped
(a ring is mutual, so one-way fans are not in it). It is a ring when giver and receiver
are still in it, and the points exchanged inside reach ``ring_min_points`` and make up at
least ``ring_min_share`` both of what the group received and of what it gave.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, case, func, or_, select, union_all
from sqlmodel import col

from bot.features.base import Context
from bot.features.karma.link import Profile
from bot.features.karma.settings import KarmaSettings, giver_weight
from storage import models
from storage.repositories import Query, Store

if TYPE_CHECKING:
    from bot.features.karma.flows import RecentLedger

EARNED = ("thanks", "reaction")
NETTED = ("thanks", "reaction", "reversal")


def _pairs_statement() -> Any:
    entry = models.KarmaEntry
    g, r = col(entry.giver), col(entry.receiver)
    keys: BindParameter[str] = bindparam("keys", expanding=True)
    common = (
        col(entry.community) == bindparam("community"),
        col(entry.at) >= bindparam("since"),
        col(entry.reason).in_(NETTED),
    )
    columns = (g, r, col(entry.points), col(entry.at), col(entry.reason))
    # Two index searches (giver, then receiver) instead of one OR: with an OR, SQLite
    # walks every ledger row of the community, and the cost grows with the history.
    # "giver NOT IN keys" keeps rows with both sides in keys once and drops giverless
    # rows (NOT IN is NULL for them).
    rows = union_all(
        select(*columns).where(*common, g.in_(keys)),
        select(*columns).where(*common, r.in_(keys), g.not_in(keys)),
    ).subquery()
    points, at = rows.c.points, rows.c.at
    earned = rows.c.reason.in_(EARNED)
    awarded = earned & (points > 0)
    # Whether the newest award falls in a cooldown is answered here, as 0 or 1: reading
    # the moment back would convert a time for every pair of an active member.
    return select(
        rows.c.giver,
        rows.c.receiver,
        func.sum(case((at >= bindparam("ring_since"), points), else_=0.0)),
        func.sum(case((earned & (at >= bindparam("today")), points), else_=0.0)),
        func.max(case((awarded & (at > bindparam("pair_since")), 1), else_=0)),
        func.max(case((awarded & (at > bindparam("back_since")), 1), else_=0)),
    ).group_by(rows.c.giver, rows.c.receiver)


# Built once and bound with parameters: the judge runs for every award, and building
# the statement cost more than running it.
_PAIRS = Query(_pairs_statement())
BOT, SELF, COOLDOWN, RECIPROCAL = "bot", "self", "cooldown", "reciprocal"
CAP_GIVER, CAP_RECEIVER, RING, NEW_MEMBER = (
    "daily_cap_giver",
    "daily_cap_receiver",
    "ring",
    "new_member",
)


@dataclass(frozen=True, slots=True)
class RingFinding:
    """A group that exchanges most of its karma among itself."""

    members: tuple[str, ...]
    accounts: tuple[str, ...]
    inside: float
    received: float
    given: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules decided for one giver -> receiver award."""

    points: float
    rule: str | None = None
    blocked: bool = False
    weight: float = 1.0
    ring: RingFinding | None = None
    # An open (or confirmed) case already covers the ring: do not open another.
    ring_case_known: bool = False
    # The receiver's karma before this award (None when the rules stopped early).
    receiver_total: float | None = None


def day_start(now: datetime, timezone: str) -> datetime:
    """Midnight of ``now``'s day in the community's time zone."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def week_start(now: datetime, timezone: str) -> datetime:
    """Monday 00:00 of ``now``'s week in the community's time zone."""
    start = day_start(now, timezone)
    return start - timedelta(days=start.weekday())


def month_start(now: datetime, timezone: str) -> datetime:
    """The first of ``now``'s month, 00:00, in the community's time zone."""
    return day_start(now, timezone).replace(day=1)


@dataclass(frozen=True, slots=True)
class Windows:
    """The moments the rules look back to: the ledger is read from ``since``, the earliest."""

    today: datetime
    ring_since: datetime
    pair_since: datetime
    back_since: datetime

    @property
    def since(self) -> datetime:
        """The earliest of the windows."""
        return min(self.today, self.ring_since, self.pair_since, self.back_since)


@dataclass(frozen=True, slots=True)
class Pair:
    """What one giver gave one receiver recently (a group of the ledger query, or the same
    sums of the rows kept in memory)."""

    giver: str
    receiver: str
    net: float  # member awards minus reversals within the ring window
    today: float  # member awards since midnight (reversals not subtracted)
    in_pair_cooldown: bool  # a positive member award within the pair cooldown
    in_back_cooldown: bool  # a positive member award within the reciprocal cooldown


def exact(value: float) -> float:
    """A sum of points as the same number however it was added up.

    Points carry two decimals; sums of them differ in the last bits with the order of
    adding (a query's, memory's). Rounded to six decimals they are one number, so a rule
    at its threshold decides the same way both ways.
    """
    return round(value, 6)


class Flows(Protocol):
    """The recent awards around the members an award concerns, as the rules read them.

    Sums are of the ledger rows in the ring window (net: awards minus reversals) or since
    midnight (awards only). Totals of a member are only asked for the members given to
    ``include`` (the giver's and receiver's accounts are included from the start).
    """

    def pair(self, giver: str, receiver: str) -> Pair | None:
        """The sums of one giver's rows for one receiver, None without rows."""
        ...

    def net(self, giver: str, receiver: str) -> float:
        """One pair's net points in the ring window (0 without rows)."""
        ...

    def gave_to(self, key: str) -> AbstractSet[str]:
        """Everyone the member may have given to recently (a superset is fine)."""
        ...

    def got_from(self, key: str) -> AbstractSet[str]:
        """Everyone the member may have received from recently (a superset is fine)."""
        ...

    def given(self, key: str) -> float:
        """Net points the member gave in the ring window."""
        ...

    def received(self, key: str) -> float:
        """Net points the member received in the ring window."""
        ...

    def given_today(self, key: str) -> float:
        """Points the member awarded since midnight."""
        ...

    def received_today(self, key: str) -> float:
        """Points the member was awarded since midnight."""
        ...

    async def include(self, keys: Sequence[str]) -> None:
        """Make the totals of these members available."""
        ...


class Ledger:
    """Ledger queries over sets of linked accounts (the repository's take single keys).

    With ``recent`` (a database only this process writes to) the rules' flows come from
    the rows kept in memory; the answers are the same as the queries give.
    """

    def __init__(
        self,
        store: Store,
        community: str,
        *,
        recent: RecentLedger | None = None,
        now: datetime | None = None,
    ) -> None:
        self.store = store
        self.community = community
        self.recent = recent
        self.now = now

    async def flows(self, keys: Sequence[str], windows: Windows) -> Flows:
        """The flows around ``keys`` in ``windows``: from memory if kept, else queried."""
        if self.recent is not None and self.now is not None:
            kept = await self.recent.flows(self.store, self.community, self.now, windows)
            if kept is not None:
                return kept
        queried = QueriedFlows(self, windows)
        await queried.include(keys)
        return queried

    async def pairs(self, keys: Sequence[str], windows: Windows) -> list[Pair]:
        """Per (giver, receiver) sums of the awards and reversals touching the keys."""
        params = {
            "community": self.community,
            "keys": list(keys),
            "since": windows.since,
            "today": windows.today,
            "ring_since": windows.ring_since,
            "pair_since": windows.pair_since,
            "back_since": windows.back_since,
        }
        return [
            Pair(
                str(a),
                str(b),
                exact(float(net or 0.0)),
                exact(float(day or 0.0)),
                bool(pair),
                bool(back),
            )
            for a, b, net, day, pair, back in await _PAIRS.all(self.store.session, params)
        ]

    async def totals(self, givers: Sequence[str], receivers: Sequence[str]) -> tuple[float, float]:
        """All-time karma of the giver's and of the receiver's accounts, in one query."""
        balances = await self.store.karma.balances(self.community, [*givers, *receivers])
        return (
            sum((balances.get(k, 0.0) for k in givers), 0.0),
            sum((balances.get(k, 0.0) for k in receivers), 0.0),
        )

    async def community_start(self) -> datetime | None:
        """When the bot first saw a chat of the community."""
        stmt = select(func.min(col(models.Chat.first_seen))).where(
            col(models.Chat.community) == self.community
        )
        value = (await self.store.session.execute(stmt)).scalar_one_or_none()
        return value if isinstance(value, datetime) else None


class QueriedFlows:
    """Flows read with the grouped ledger query, for the members included so far."""

    def __init__(self, ledger: Ledger, windows: Windows) -> None:
        self.ledger, self.windows = ledger, windows
        self._pairs: dict[tuple[str, str], Pair] = {}
        self._out: dict[str, list[Pair]] = defaultdict(list)
        self._in: dict[str, list[Pair]] = defaultdict(list)
        self._asked: set[str] = set()

    async def include(self, keys: Sequence[str]) -> None:
        """Query the pairs of the members not asked about yet."""
        new = [k for k in dict.fromkeys(keys) if k not in self._asked]
        if not new:
            return
        self._asked.update(new)
        for pair in await self.ledger.pairs(new, self.windows):
            key = (pair.giver, pair.receiver)
            if key not in self._pairs:
                self._pairs[key] = pair
                self._out[pair.giver].append(pair)
                self._in[pair.receiver].append(pair)

    def pair(self, giver: str, receiver: str) -> Pair | None:
        """The sums of one pair."""
        return self._pairs.get((giver, receiver))

    def net(self, giver: str, receiver: str) -> float:
        """One pair's net points in the ring window."""
        pair = self._pairs.get((giver, receiver))
        return pair.net if pair is not None else 0.0

    def gave_to(self, key: str) -> AbstractSet[str]:
        """Receivers of the member's recent awards."""
        return {p.receiver for p in self._out.get(key, ())}

    def got_from(self, key: str) -> AbstractSet[str]:
        """Givers of the member's recent awards."""
        return {p.giver for p in self._in.get(key, ())}

    def given(self, key: str) -> float:
        """Net points given in the ring window."""
        return exact(sum(p.net for p in self._out.get(key, ())))

    def received(self, key: str) -> float:
        """Net points received in the ring window."""
        return exact(sum(p.net for p in self._in.get(key, ())))

    def given_today(self, key: str) -> float:
        """Points awarded since midnight."""
        return exact(sum(p.today for p in self._out.get(key, ())))

    def received_today(self, key: str) -> float:
        """Points received since midnight."""
        return exact(sum(p.today for p in self._in.get(key, ())))


def _is_new(settings: KarmaSettings, giver: Profile, start: datetime | None, now: datetime) -> bool:
    """New: first seen recently, and not simply present when the bot arrived."""
    if settings.new_member_days <= 0 or giver.first_seen is None:
        return False
    if now - giver.first_seen >= timedelta(days=settings.new_member_days):
        return False
    # Members seen on the bot's first day were there before it: they are not new.
    return start is None or giver.first_seen - start >= timedelta(days=1)


async def find_ring(
    flows: Flows,
    settings: KarmaSettings,
    giver: Profile,
    receiver: Profile,
    points: float,
) -> RingFinding | None:
    """A ring around giver and receiver if the recent awards form one (see module docs).

    ``flows`` holds the awards around both; the strongest partners are added to it.
    """
    accounts: dict[str, tuple[str, ...]] = {
        giver.key: tuple(giver.all_keys),
        receiver.key: tuple(receiver.all_keys),
    }
    core = (giver.key, receiver.key)
    core_accounts = {*giver.all_keys, *receiver.all_keys}

    def net(givers: Iterable[str], receivers: Iterable[str]) -> float:
        return sum((flows.net(a, b) for a in givers for b in receivers), 0.0)

    # Partners both gave to and received from the two (their linked accounts together).
    # Intersections of the key sets: a busy helper has thousands of partners on each side,
    # and an intersection only walks the smaller set (in C).
    gave = [flows.got_from(c) for c in core_accounts]
    got = [flows.gave_to(c) for c in core_accounts]
    both = set().union(*(a & b for a in gave for b in got))
    mutual: dict[str, float] = {}
    for other in both - core_accounts:
        mutual[other] = min(
            exact(net((other,), core_accounts)), exact(net(core_accounts, (other,)))
        )
    partners = sorted((o for o in mutual if mutual[o] > 0), key=lambda o: (-mutual[o], o))[
        : settings.ring_max_size - 2
    ]
    await flows.include(partners)

    def flow(a: str, b: str) -> float:
        value = net(accounts.get(a, (a,)), accounts.get(b, (b,)))
        return exact(value + points if (a, b) == core else value)

    group = {*core, *partners}
    # A ring is mutual: whoever only gives (or only receives) inside is no member of it.
    while True:
        inner = {(a, b): f for a in group for b in group if a != b and (f := flow(a, b)) > 0}
        members = {a for a, _ in inner} & {b for _, b in inner}
        if members == group:
            break
        group = members
    if giver.key not in group or receiver.key not in group:
        return None

    def own(member: str) -> float:
        # Awards between one person's linked accounts are no flow.
        keys = accounts.get(member, (member,))
        return net(keys, keys)

    inside = exact(sum(inner.values()))
    received = exact(
        sum(flows.received(k) for m in group for k in accounts.get(m, (m,)))
        - sum(own(m) for m in group)
        + points
    )
    given = exact(
        sum(flows.given(k) for m in group for k in accounts.get(m, (m,)))
        - sum(own(m) for m in group)
        + points
    )
    if inside < settings.ring_min_points or received <= 0 or given <= 0:
        return None
    if inside / received < settings.ring_min_share or inside / given < settings.ring_min_share:
        return None
    return RingFinding(
        members=tuple(sorted(group)),
        accounts=tuple(sorted({*giver.all_keys, *receiver.all_keys, *(group - set(core))})),
        inside=round(inside, 2),
        received=round(received, 2),
        given=round(given, 2),
    )


async def ring_case_status(ledger: Ledger, ring: RingFinding, since: datetime) -> str | None:
    """ "open" when an open or confirmed ring case covers two of the group's accounts,
    "dismissed" when moderators dismissed one since ``since``, else None."""
    stmt = select(models.Case).where(
        col(models.Case.community) == ledger.community,
        col(models.Case.kind) == "ring",
        or_(col(models.Case.status) == "open", col(models.Case.closed_at) >= since),
    )
    accounts = set(ring.accounts)
    found: str | None = None
    for row in (await ledger.store.session.execute(stmt)).scalars():
        known = set(row.evidence.get("accounts", [])) | set(row.evidence.get("members", []))
        if len(known & accounts) < 2:
            continue
        if row.status != "dismissed":
            return "open"
        found = "dismissed"
    return found


def windows_at(settings: KarmaSettings, now: datetime, timezone: str) -> Windows:
    """The moments the rules look back to for an award at ``now``."""
    return Windows(
        today=day_start(now, timezone),
        ring_since=now - timedelta(days=settings.ring_window_days),
        pair_since=now - timedelta(minutes=settings.pair_cooldown_minutes),
        back_since=now - timedelta(minutes=settings.reciprocal_cooldown_minutes),
    )


async def judge(
    ctx: Context[KarmaSettings],
    giver: Profile,
    receiver: Profile,
    base_points: float,
    *,
    community_start: datetime | None = None,
    recent: RecentLedger | None = None,
) -> Verdict:
    """Apply the fair rules to one award; ``points`` is what the ledger gets."""
    settings, now = ctx.settings, ctx.now
    if giver.is_bot or receiver.is_bot:
        return Verdict(0.0, BOT, blocked=True)
    if receiver.key in giver.all_keys:
        return Verdict(0.0, SELF, blocked=True)
    ledger = Ledger(ctx.store, ctx.community.name, recent=recent, now=now)
    windows = windows_at(settings, now, ctx.community.timezone)
    ring_since = windows.ring_since
    gkeys, rkeys = set(giver.all_keys), set(receiver.all_keys)
    flows = await ledger.flows([*giver.all_keys, *receiver.all_keys], windows)

    def awarded(givers: set[str], receivers: set[str]) -> list[Pair]:
        found = (flows.pair(a, b) for a in givers for b in receivers)
        return [p for p in found if p is not None]

    # A cooldown of 0 minutes is switched off.
    pair_cooldown = settings.pair_cooldown_minutes
    back_cooldown = settings.reciprocal_cooldown_minutes
    if pair_cooldown and any(p.in_pair_cooldown for p in awarded(gkeys, rkeys)):
        return Verdict(0.0, COOLDOWN, blocked=True)
    if back_cooldown and any(p.in_back_cooldown for p in awarded(rkeys, gkeys)):
        return Verdict(0.0, RECIPROCAL, blocked=True)
    given = exact(sum(flows.given_today(k) for k in gkeys))
    if given >= settings.daily_cap_giver - 1e-9:
        return Verdict(0.0, CAP_GIVER, blocked=True)
    received = exact(sum(flows.received_today(k) for k in rkeys))
    if received >= settings.daily_cap_receiver - 1e-9:
        return Verdict(0.0, CAP_RECEIVER, blocked=True)

    rule: str | None = None
    giver_total, receiver_total = await ledger.totals(giver.all_keys, receiver.all_keys)
    new = _is_new(settings, giver, community_start, now)
    weight = giver_weight(settings, giver_total, new_member=new)
    if new:
        rule = NEW_MEMBER
    points = base_points * weight
    ring = await find_ring(flows, settings, giver, receiver, points)
    known: str | None = None
    if ring is not None:
        known = await ring_case_status(ledger, ring, ring_since)
        if known == "dismissed":
            ring = None  # moderators looked at this group recently and found it fine
        else:
            points *= settings.ring_factor
            rule = RING
    room_giver = settings.daily_cap_giver - given
    room_receiver = settings.daily_cap_receiver - received
    if points > room_giver:
        points, rule = room_giver, CAP_GIVER
    if points > room_receiver:
        points, rule = room_receiver, CAP_RECEIVER
    return Verdict(
        round(points, 2),
        rule,
        weight=weight,
        ring=ring,
        ring_case_known=known is not None,
        receiver_total=receiver_total,
    )
