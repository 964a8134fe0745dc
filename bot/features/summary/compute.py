"""Every number of the weekly summary, computed from the tables the other features write.

Definitions (all times in the community's time zone; a week is an ISO week, Monday 00:00 to
the next Monday 00:00, so a message at Sunday 23:30 Berlin time belongs to that week although
it is 22:30 UTC):

- **Messages** are rows of ``messages`` of the community posted in the week that are not
  deleted and not written by a bot (``members.is_bot``). Commands are not messages.
- **Active members** wrote at least one such message; **new members** are active members the
  bot first saw during the week (``members.first_seen``). Lurkers cannot be counted: the
  members table is shared by all communities. **Trends** compare with the previous ISO week,
  in percent (``None`` when the previous week had nothing).
- **Dialogue index**: the share of the week's messages that (a) reply to another member's
  message, or (b) mention another member who is not a bot, or (c) got a reply from another
  member within ``answer_window_hours`` (default 24 h). Self-replies, self-mentions and bot
  mentions do not count. The dialogue members are ranked by such messages.
- **Helpers** are ranked by the net karma they received in the week (every ledger row: thanks,
  reactions, moderator changes, reversals, ring reductions); linked accounts (``person``) count
  as one helper. Their most thanked answers are the messages (``target_message_id``) with the
  most awards from members (thanks and reactions) that were not reversed.
- **Karma given** is the sum of the week's member awards (thanks and reactions) that were not
  reversed; the chart shows it per day. **Fair-rule blocks** are ``karma_blocked`` decisions.
- **Unanswered questions**: a question is a message whose text, without quotes, code and
  links, contains "?". It is answered when, within ``answer_window_hours``, another member
  (not a bot) replies to it or mentions its author in the same chat. A question is counted in
  the week in which its answer window ran out (so every question is counted exactly once, and
  a summary posted on Monday morning already knows whether Saturday's questions were answered).
- **Complaints** are ``complaints`` rows of the week by severity. First-human-response times are
  ``first_response_at - opened_at`` of the complaint cases opened in the week (median, and the
  90th percentile by the nearest-rank method). **Open** complaint cases were opened before the
  end of the week and are still open or were closed after it; **overdue** ones of them were due
  before the end of the week; **escalated** ones were escalated during the week.
- **Promotion**: ``flags`` rows of the week; promo cases confirmed or dismissed (closed) during
  the week; members nudged are the distinct members of ``promo`` decisions with ``nudged``.
- **Moderation**: ``mod_log`` rows of the week by action (refusals of moderator commands to
  members are counted apart), warnings are ``warn`` actions, appeals are ``appealed`` case
  events of the community's cases.

Members who opted out or were forgotten, and bots, are counted but never named.
"""

from __future__ import annotations

import asyncio
import math
import re
import statistics
import sys
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.config import Community
from bot.features.summary.settings import SummarySettings
from bot.text import extract_links, normalize, strip_quotes_and_code
from storage import models
from storage.repositories import Query

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{1,2})$")
# Weeks of these years only: a community's history lies between, and the week before the
# first or after the last would leave what dates can hold.
FIRST_YEAR, LAST_YEAR = 1970, 2199
AWARD_REASONS = ("thanks", "reaction")
WARN_ACTIONS = ("warn",)
REFUSED = "refused"
SEVERITIES = ("low", "medium", "high")
_CHUNK = 500  # keys per IN (...) query, well below SQLite's and asyncpg's parameter limits


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    """An ISO week such as 2026-W47."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """Read "2026-W47"; raises ValueError with a readable message."""
        match = WEEK_PATTERN.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an ISO week; write it like 2026-W47")
        year, number = int(match.group(1)), int(match.group(2))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"weeks of {FIRST_YEAR} to {LAST_YEAR} only, not {year}")
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {number}") from None
        return cls(year, number)

    @classmethod
    def of_date(cls, day: date) -> IsoWeek:
        """The ISO week a calendar day belongs to."""
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def of(cls, moment: datetime, timezone: str) -> IsoWeek:
        """The ISO week a moment belongs to in a time zone."""
        return cls.of_date(moment.astimezone(ZoneInfo(timezone)).date())

    @property
    def label(self) -> str:
        """The week as text: "2026-W47"."""
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        """The week's first day."""
        return date.fromisocalendar(self.year, self.number, 1)

    def previous(self) -> IsoWeek:
        """The week before."""
        return IsoWeek.of_date(self.monday - timedelta(days=7))

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """Monday 00:00 and the next Monday 00:00, local (a DST week has 167 or 169 hours)."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.monday, time(0), tzinfo=zone)
        end = datetime.combine(self.monday + timedelta(days=7), time(0), tzinfo=zone)
        return start, end


def last_complete_week(now: datetime, timezone: str) -> IsoWeek:
    """The newest ISO week that has ended at ``now``."""
    return IsoWeek.of(now, timezone).previous()


@dataclass(frozen=True, slots=True)
class MessageLink:
    """A message reference ``chat#message_id`` and, where it can be built, a web link."""

    ref: str
    chat: str
    message_id: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class MemberCount:
    """A named member and how many of something they did."""

    member: str
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Answer:
    """A helper's answer, how many members thanked it and the points it earned."""

    link: MessageLink
    thanks: int
    points: float


@dataclass(frozen=True, slots=True)
class Helper:
    """A helper of the week: net karma received, awards and most thanked answers."""

    member: str
    name: str
    points: float
    awards: int
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True)
class Question:
    """A question nobody answered in time."""

    link: MessageLink
    at: datetime


@dataclass(frozen=True, slots=True)
class WeeklySummary:
    """Every number of one community's week (see the module docstring for definitions)."""

    community: str
    language: str
    timezone: str
    week: str
    start: datetime
    end: datetime
    generated_at: datetime
    # activity
    messages: int
    previous_messages: int
    messages_trend_pct: float | None
    active_members: int
    previous_active_members: int
    active_members_trend_pct: float | None
    new_members: int
    # dialogue
    dialogue_messages: int
    dialogue_pct: float | None
    top_dialogue: tuple[MemberCount, ...]
    # karma
    helpers: tuple[Helper, ...]
    karma_given: float
    karma_awards: int
    karma_givers: int
    karma_blocks: int
    blocks_by_rule: Mapping[str, int]
    # questions
    questions: int
    unanswered_questions: int
    unanswered: tuple[Question, ...]
    # complaints
    complaints: int
    complaints_by_severity: Mapping[str, int]
    complaint_cases: int
    first_responses: int
    first_response_median_minutes: float | None
    first_response_p90_minutes: float | None
    open_cases: int
    overdue_cases: int
    escalated_cases: int
    # promotion
    flags_raised: int
    flagged_members: int
    promo_confirmed: int
    promo_dismissed: int
    members_nudged: int
    # moderation
    moderation_actions: Mapping[str, int]
    warnings: int
    appeals: int
    refusals: int
    # chart data, Monday first
    daily_messages: tuple[int, ...]
    previous_daily_messages: tuple[int, ...]
    daily_karma: tuple[float, ...]
    previous_daily_karma: tuple[float, ...]

    @property
    def is_empty(self) -> bool:
        """True when nobody wrote anything this week."""
        return self.messages == 0

    def as_json(self) -> dict[str, Any]:
        """Every number as JSON-ready values (datetimes as ISO 8601 text)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def message_link(community: Community, chat: str, message_id: str) -> MessageLink:
    """A reference to a message, with a web link for Telegram supergroups and Discord."""
    platform, _, ident = chat.partition(":")
    url = None
    if message_id.isdigit():
        if platform == "telegram" and ident.startswith("-100") and ident[4:].isdigit():
            url = f"https://t.me/c/{ident[4:]}/{message_id}"
        guilds = community.section.discord_guilds
        if platform == "discord" and ident.isdigit() and len(guilds) == 1:
            url = f"https://discord.com/channels/{guilds[0]}/{ident}/{message_id}"
    return MessageLink(f"{chat}#{message_id}", chat, message_id, url)


def is_question(text: str) -> bool:
    """A "?" outside quotes, code and links."""
    if "?" not in text:
        return False
    body = strip_quotes_and_code(normalize(text))
    for word in body.split():
        if "?" in word and not any("?" in link.url for link in extract_links(word)):
            return True
    return False


def trend(current: float, previous: float) -> float | None:
    """The change against the previous week in percent; None without a previous value."""
    if previous == 0:
        return None
    return round((current - previous) * 100 / previous, 1)


def percentile_nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (the smallest value with at least ``share`` at or below)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    is_bot: bool
    hidden: bool
    first_seen: datetime | None
    person: str | None


@dataclass(frozen=True, slots=True)
class _Row:
    chat: str
    message_id: str
    author: str
    reply_to: str | None
    reply_to_author: str | None
    mentions: tuple[str, ...]
    at: datetime
    text: str | None  # only texts with a "?" are read


class _Waiting:
    """A message whose answer window is open: in the week's dialogue once another member
    replies (``dialogue``), answered once one replies or mentions its author (``question``)."""

    __slots__ = ("asked", "deadline", "dialogue", "question", "row")

    def __init__(self, row: _Row, deadline: datetime, dialogue: bool, question: bool) -> None:
        self.row, self.deadline, self.dialogue, self.question = row, deadline, dialogue, question
        self.asked = question


class _Dialogue:
    """Who answered whom in time, from messages fed in time order by members (not bots).

    A message waits until its answer window closes; answers come later in the stream (or
    at the same moment, so messages of one moment all wait before any of them answers).
    """

    def __init__(self, bots: set[str], window: timedelta, links: int) -> None:
        self.bots, self.window, self.links = bots, window, links
        self.dialogue: Counter[str] = Counter()
        self.unanswered: list[_Row] = []  # the first ``links`` of them, in time order
        self.unanswered_count = 0
        self._by_message: dict[tuple[str, str], _Waiting] = {}
        self._questions_of: dict[tuple[str, str], list[_Waiting]] = defaultdict(list)
        self._open: deque[_Waiting] = deque()  # in deadline order: the window is fixed
        self._moment: list[_Row] = []

    def add(self, row: _Row, *, in_week: bool, question: bool) -> None:
        """Feed the next message; ``in_week``: its dialogue counts, ``question``: as asked."""
        if self._moment and row.at != self._moment[0].at:
            self._answer_moment()
        self._close(row.at)
        if in_week and self._replies_or_mentions(row):
            self.dialogue[row.author] += 1
            in_week = False  # in dialogue already: no need to wait for replies
        if in_week or question:
            waiting = _Waiting(row, row.at + self.window, in_week, question)
            self._by_message[(row.chat, row.message_id)] = waiting
            if question:
                self._questions_of[(row.chat, row.author)].append(waiting)
            self._open.append(waiting)
        self._moment.append(row)

    def finish(self) -> None:
        """Close every window still open: the stream ended."""
        self._answer_moment()
        self._close(None)

    def _replies_or_mentions(self, row: _Row) -> bool:
        replied = row.reply_to_author
        if row.reply_to is not None and replied != row.author and replied not in self.bots:
            return True
        return any(key != row.author and key not in self.bots for key in row.mentions)

    def _answer_moment(self) -> None:
        for row in self._moment:
            if row.reply_to is not None:
                waiting = self._by_message.get((row.chat, row.reply_to))
                if waiting is not None and self._answers(row, waiting):
                    if waiting.dialogue:
                        self.dialogue[waiting.row.author] += 1
                        waiting.dialogue = False
                    waiting.question = False
            for key in row.mentions:
                for waiting in self._questions_of.get((row.chat, key), ()):
                    if self._answers(row, waiting):
                        waiting.question = False
        self._moment.clear()

    @staticmethod
    def _answers(row: _Row, waiting: _Waiting) -> bool:
        return row.author != waiting.row.author and row.at <= waiting.deadline

    def _close(self, now: datetime | None) -> None:
        """Close the windows that ended before ``now`` (all of them for None)."""
        while self._open and (now is None or self._open[0].deadline < now):
            waiting = self._open.popleft()
            row = waiting.row
            self._by_message.pop((row.chat, row.message_id), None)
            if waiting.asked:
                asked = self._questions_of[(row.chat, row.author)]
                asked.remove(waiting)
                if not asked:
                    del self._questions_of[(row.chat, row.author)]
            if waiting.question:
                self.unanswered_count += 1
                if len(self.unanswered) < self.links:
                    self.unanswered.append(row)


def _unknown(key: str) -> _Account:
    return _Account(key.partition(":")[2] or key, False, False, None, None)


async def _bots(session: AsyncSession) -> set[str]:
    """The keys of every bot account (few: read whole, before the week's messages)."""
    m = models.Member
    stmt = select(col(m.key)).where(col(m.is_bot) == True)  # noqa: E712
    return set((await session.execute(stmt)).scalars())


async def _accounts(session: AsyncSession, keys: Iterable[str]) -> dict[str, _Account]:
    """Members by key, plus every account linked to them; unknown keys stay unknown."""
    m = models.Member
    columns = (
        col(m.key),
        col(m.name),
        col(m.is_bot),
        col(m.opted_out),
        col(m.forgotten),
        col(m.first_seen),
        col(m.person),
    )
    found: dict[str, _Account] = {}

    async def load(column: Any, values: list[str]) -> None:
        for i in range(0, len(values), _CHUNK):
            stmt = select(*columns).where(column.in_(values[i : i + _CHUNK]))
            for key, name, bot, opted_out, forgotten, first_seen, person in await session.execute(
                stmt
            ):
                found[key] = _Account(
                    name or key, bool(bot), bool(opted_out or forgotten), first_seen, person
                )

    await load(col(m.key), sorted(set(keys)))
    persons = sorted({a.person for a in found.values() if a.person})
    if persons:
        await load(col(m.person), persons)
    return found


# The rows of a week are worked through on the event loop: every this many rows other
# events get their turn, so a busy community's summary does not hold them for seconds.
PAUSE_ROWS = 200

_m = models.Message
_IN_WEEK = (
    col(_m.community) == bindparam("community"),
    col(_m.at) >= bindparam("since"),
    col(_m.at) < bindparam("until"),
    col(_m.deleted) == False,  # noqa: E712
)
_MESSAGES = Query(
    select(
        col(_m.chat),
        col(_m.message_id),
        col(_m.author),
        col(_m.reply_to),
        col(_m.reply_to_author),
        col(_m.mentions),
        col(_m.at),
        # Only questions need their text.
        case((col(_m.text).contains("?"), col(_m.text)), else_=None),
    )
    .where(*_IN_WEEK)
    .order_by(col(_m.at), col(_m.id))
)
_AUTHORS_AT = Query(select(col(_m.author), col(_m.at)).where(*_IN_WEEK))


async def _paced(
    query: Query, session: AsyncSession, community: str, since: datetime, until: datetime
) -> AsyncIterator[tuple[Any, ...]]:
    """The rows of a week's messages, letting other tasks run every ``PAUSE_ROWS`` rows."""
    # A week of a busy community is a hundred thousand rows and more: they are streamed
    # and never held all at once. On SQLite straight from the driver: through SQLAlchemy's
    # result machinery each row cost several times the work done on it.
    params = {"community": community, "since": since, "until": until}
    async for rows in query.stream(session, params, PAUSE_ROWS):
        for row in rows:
            yield row
        await asyncio.sleep(0)


async def _messages(
    session: AsyncSession, community: str, since: datetime, until: datetime
) -> AsyncIterator[_Row]:
    # Read twice (see compute_summary). The member and chat keys that repeat on every row
    # are shared strings.
    share = sys.intern
    async for chat, mid, author, reply_to, reply_author, mentions, at, body in _paced(
        _MESSAGES, session, community, since, until
    ):
        yield _Row(
            share(chat),
            mid,
            share(author),
            reply_to,
            share(reply_author) if reply_author else None,
            tuple(share(key) for key in mentions) if mentions else (),
            at,
            body,
        )


async def _daily_by_author(
    session: AsyncSession, community: str, since: datetime, until: datetime, zone: ZoneInfo
) -> dict[str, list[int]]:
    """Messages per author and day (in the community's time zone) of a week, streamed."""
    monday = since.astimezone(zone).date()
    days: dict[str, list[int]] = {}
    async for author, at in _paced(_AUTHORS_AT, session, community, since, until):
        counts = days.get(author)
        if counts is None:
            counts = days[sys.intern(author)] = [0] * 7
        counts[(at.astimezone(zone).date() - monday).days] += 1
    return days


@dataclass(frozen=True, slots=True)
class _Award:
    id: int
    giver: str | None
    receiver: str
    points: float
    reason: str
    chat: str | None
    target: str | None
    at: datetime


async def _ledger(
    session: AsyncSession, community: str, since: datetime, until: datetime
) -> tuple[list[_Award], set[int]]:
    k = models.KarmaEntry
    stmt = (
        select(
            col(k.id),
            col(k.giver),
            col(k.receiver),
            col(k.points),
            col(k.reason),
            col(k.chat),
            func.coalesce(col(k.target_message_id), col(k.message_id)),
            col(k.at),
        )
        .where(col(k.community) == community, col(k.at) >= since, col(k.at) < until)
        .order_by(col(k.at), col(k.id))
    )
    rows = [
        _Award(entry_id or 0, giver, receiver, points, reason, chat, target, at)
        for entry_id, giver, receiver, points, reason, chat, target, at in await session.execute(
            stmt
        )
    ]
    # Reversals always come after the award, so those since ``since`` cover every award read.
    reversed_stmt = select(col(k.reverses)).where(
        col(k.community) == community, col(k.reverses).is_not(None), col(k.at) >= since
    )
    reversed_ids = {r for r in (await session.execute(reversed_stmt)).scalars() if r is not None}
    return rows, reversed_ids


async def _decision_data(
    session: AsyncSession, community: str, kind: str, start: datetime, end: datetime
) -> list[Mapping[str, Any]]:
    d = models.Decision
    stmt = select(col(d.data)).where(
        col(d.community) == community, col(d.kind) == kind, col(d.at) >= start, col(d.at) < end
    )
    return [row or {} for row in (await session.execute(stmt)).scalars()]


async def _grouped(session: AsyncSession, column: Any, *where: Any) -> dict[str, int]:
    stmt = select(column, func.count()).where(*where).group_by(column)
    return {str(key): int(count) for key, count in await session.execute(stmt)}


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# --- computing -----------------------------------------------------------------------------


async def compute_summary(
    session: AsyncSession,
    community: Community,
    week: str | None,
    now: datetime,
    settings: SummarySettings | None = None,
) -> WeeklySummary:
    """The summary of ``week`` (default: the last complete week at ``now``)."""
    settings = settings or SummarySettings()
    tz = community.timezone
    zone = ZoneInfo(tz)
    target = IsoWeek.parse(week) if week else last_complete_week(now, tz)
    start, end = target.bounds(tz)
    prev_start, _ = target.previous().bounds(tz)
    window = timedelta(hours=settings.answer_window_hours)
    name = community.name

    # Messages from one answer window before the week (questions whose window ends in it)
    # to one after (replies to the week's last messages), read once in time order; only
    # the messages whose answer window is still open are held. The week before is only
    # counted, per author and day.
    bots = await _bots(session)
    prev_days = await _daily_by_author(session, name, prev_start, start, zone)
    prev_human = {key: days for key, days in prev_days.items() if key not in bots}
    prev_daily = tuple(sum(days[i] for days in prev_human.values()) for i in range(7))
    prev_messages = sum(prev_daily)
    talk = _Dialogue(bots, window, settings.max_links)
    messages = 0
    daily = [0] * 7
    authors: set[str] = set()
    questions = 0
    async for row in _messages(session, name, start - window, end + window):
        if row.author in bots:
            continue
        in_week = start <= row.at < end
        if in_week:
            messages += 1
            daily[(row.at.astimezone(zone).date() - target.monday).days] += 1
            authors.add(row.author)
        deadline = row.at + window
        question = (
            start <= deadline < end
            and deadline <= now
            and row.text is not None
            and is_question(row.text)
        )
        questions += question
        talk.add(row, in_week=in_week, question=question)
    talk.finish()
    dialogue = talk.dialogue
    awards, reversed_ids = await _ledger(session, name, prev_start, end)
    receivers = {a.receiver for a in awards if start <= a.at < end}
    accounts = await _accounts(session, authors | receivers)

    def account(key: str) -> _Account:
        return accounts.get(key) or _unknown(key)

    def hidden(key: str) -> bool:
        acc = account(key)
        return acc.hidden or acc.is_bot

    unanswered, unanswered_count = talk.unanswered, talk.unanswered_count
    prev_authors = set(prev_human)
    new_members = sum(
        1
        for key in authors
        if (seen := account(key).first_seen) is not None and start <= seen < end
    )
    dialogue_total = sum(dialogue.values())
    top_dialogue = tuple(
        MemberCount(key, account(key).name, count)
        for key, count in sorted(
            dialogue.items(), key=lambda kv: (-kv[1], account(kv[0]).name.casefold(), kv[0])
        )
        if not hidden(key)
    )[: settings.top_n]

    # Karma
    week_awards = [a for a in awards if start <= a.at < end]
    member_awards = [
        a
        for a in week_awards
        if a.reason in AWARD_REASONS and a.points > 0 and a.id not in reversed_ids
    ]
    prev_member_awards = [
        a
        for a in awards
        if a.at < start and a.reason in AWARD_REASONS and a.points > 0 and a.id not in reversed_ids
    ]
    helpers = _helpers(community, week_awards, member_awards, accounts, settings)

    def day_points(selected: Sequence[_Award], monday: date) -> tuple[float, ...]:
        days = [0.0] * 7
        for award in selected:
            days[(award.at.astimezone(zone).date() - monday).days] += award.points
        return tuple(round(p, 2) for p in days)

    blocks = Counter(
        str(data.get("rule") or "unknown")
        for data in await _decision_data(session, name, "karma_blocked", start, end)
    )

    # Complaints
    c = models.Complaint
    severity = await _grouped(
        session,
        col(c.severity),
        col(c.community) == name,
        col(c.at) >= start,
        col(c.at) < end,
    )
    by_severity = {s: severity.pop(s, 0) for s in SEVERITIES} | _ranked(severity)
    cases = await _complaint_cases(session, name, start, end)
    cutoff = min(end, now)
    opened = [x for x in cases if start <= x.opened_at < end]
    response_minutes = [
        (x.first_response_at - x.opened_at).total_seconds() / 60
        for x in opened
        if x.first_response_at is not None
    ]
    still_open = [
        x
        for x in cases
        if x.opened_at < cutoff
        and (x.status == "open" or (x.closed_at is not None and x.closed_at >= cutoff))
    ]
    median = statistics.median(response_minutes) if response_minutes else None
    p90 = percentile_nearest_rank(response_minutes, 0.9)

    # Promotion
    f = models.Flag
    flag_stmt = select(func.count(), func.count(func.distinct(col(f.member)))).where(
        col(f.community) == name, col(f.at) >= start, col(f.at) < end
    )
    flags_raised, flagged_members = (await session.execute(flag_stmt)).one()
    k = models.Case
    closed = await _grouped(
        session,
        col(k.status),
        col(k.community) == name,
        col(k.kind) == "promo",
        col(k.closed_at) >= start,
        col(k.closed_at) < end,
    )
    nudged = {
        str(data.get("user"))
        for data in await _decision_data(session, name, "promo", start, end)
        if data.get("nudged")
    }

    # Moderation
    log = models.ModLogEntry
    actions = await _grouped(
        session,
        col(log.action),
        col(log.community) == name,
        col(log.at) >= start,
        col(log.at) < end,
    )
    refusals = actions.pop(REFUSED, 0)
    e = models.CaseEvent
    appeal_stmt = (
        select(func.count())
        .select_from(e)
        .join(k, col(k.id) == col(e.case_id))
        .where(
            col(k.community) == name,
            col(e.action) == "appealed",
            col(e.at) >= start,
            col(e.at) < end,
        )
    )
    appeals = int((await session.execute(appeal_stmt)).scalar_one())

    prev_monday = target.previous().monday
    return WeeklySummary(
        community=name,
        language=community.language,
        timezone=tz,
        week=target.label,
        start=start,
        end=end,
        generated_at=now,
        messages=messages,
        previous_messages=prev_messages,
        messages_trend_pct=trend(messages, prev_messages),
        active_members=len(authors),
        previous_active_members=len(prev_authors),
        active_members_trend_pct=trend(len(authors), len(prev_authors)),
        new_members=new_members,
        dialogue_messages=dialogue_total,
        dialogue_pct=round(dialogue_total * 100 / messages, 1) if messages else None,
        top_dialogue=top_dialogue,
        helpers=helpers,
        karma_given=round(sum(a.points for a in member_awards), 2),
        karma_awards=len(member_awards),
        karma_givers=len({a.giver for a in member_awards if a.giver}),
        karma_blocks=sum(blocks.values()),
        blocks_by_rule=_ranked(blocks),
        questions=questions,
        unanswered_questions=unanswered_count,
        unanswered=tuple(
            Question(message_link(community, r.chat, r.message_id), r.at) for r in unanswered
        ),
        complaints=sum(by_severity.values()),
        complaints_by_severity=by_severity,
        complaint_cases=len(opened),
        first_responses=len(response_minutes),
        first_response_median_minutes=None if median is None else round(median, 1),
        first_response_p90_minutes=None if p90 is None else round(p90, 1),
        open_cases=len(still_open),
        overdue_cases=sum(1 for x in still_open if x.due_at is not None and x.due_at < cutoff),
        escalated_cases=sum(
            1 for x in cases if x.escalated_at is not None and start <= x.escalated_at < end
        ),
        flags_raised=int(flags_raised),
        flagged_members=int(flagged_members),
        promo_confirmed=closed.get("confirmed", 0),
        promo_dismissed=closed.get("dismissed", 0),
        members_nudged=len(nudged),
        moderation_actions=_ranked(actions),
        warnings=sum(actions.get(a, 0) for a in WARN_ACTIONS),
        appeals=appeals,
        refusals=refusals,
        daily_messages=tuple(daily),
        previous_daily_messages=prev_daily,
        daily_karma=day_points(member_awards, target.monday),
        previous_daily_karma=day_points(prev_member_awards, prev_monday),
    )


@dataclass(frozen=True, slots=True)
class _Case:
    opened_at: datetime
    first_response_at: datetime | None
    due_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    status: str


async def _complaint_cases(
    session: AsyncSession, community: str, start: datetime, end: datetime
) -> list[_Case]:
    """Complaint cases that were open at some moment of the week."""
    k = models.Case
    stmt = select(
        col(k.opened_at),
        col(k.first_response_at),
        col(k.due_at),
        col(k.escalated_at),
        col(k.closed_at),
        col(k.status),
    ).where(
        col(k.community) == community,
        col(k.kind) == "complaint",
        col(k.opened_at) < end,
        or_(col(k.closed_at).is_(None), col(k.closed_at) >= start, col(k.status) == "open"),
    )
    return [_Case(*row) for row in await session.execute(stmt)]


def _helpers(
    community: Community,
    week_awards: Sequence[_Award],
    member_awards: Sequence[_Award],
    accounts: Mapping[str, _Account],
    settings: SummarySettings,
) -> tuple[Helper, ...]:
    """Top receivers of net karma; linked accounts are one helper, hidden ones are skipped."""

    def identity(key: str) -> str:
        acc = accounts.get(key)
        return acc.person if acc is not None and acc.person else key

    # A person is hidden when any of their accounts opted out, was forgotten or is a bot.
    hidden_people = {identity(key) for key, acc in accounts.items() if acc.hidden or acc.is_bot}
    net: dict[str, float] = defaultdict(float)
    for award in week_awards:
        net[award.receiver] += award.points
    people: dict[str, list[str]] = defaultdict(list)
    for key in net:
        people[identity(key)].append(key)
    answers: dict[str, dict[tuple[str, str], list[_Award]]] = defaultdict(lambda: defaultdict(list))
    for award in member_awards:
        if award.chat is not None and award.target is not None:
            answers[identity(award.receiver)][(award.chat, award.target)].append(award)

    ranked: list[Helper] = []
    for person, keys in people.items():
        points = round(sum(net[key] for key in keys), 2)
        if points <= 0 or person in hidden_people:
            continue
        best = min(keys, key=lambda key: (-net[key], key))
        acc = accounts.get(best)
        name = acc.name if acc is not None else _unknown(best).name
        given = answers.get(person, {})
        top = sorted(
            given.items(),
            key=lambda item: (
                -len(item[1]),
                -sum(a.points for a in item[1]),
                min(a.at for a in item[1]),
                item[0],
            ),
        )[: settings.answers_per_helper]
        ranked.append(
            Helper(
                member=best,
                name=name,
                points=points,
                awards=sum(len(v) for v in given.values()),
                answers=tuple(
                    Answer(
                        message_link(community, chat, mid),
                        len(items),
                        round(sum(a.points for a in items), 2),
                    )
                    for (chat, mid), items in top
                ),
            )
        )
    ranked.sort(key=lambda h: (-h.points, h.name.casefold(), h.member))
    return tuple(ranked[: settings.top_n])
