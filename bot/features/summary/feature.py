"""The weekly summary as a feature: posted once per week on schedule, or on demand.

Scheduling: on every ``Tick`` the feature finds the newest slot (``weekday`` at ``time``,
community time zone) that is not in the future; the summary due then is the one of the last
ISO week complete at that slot. A ``scheduler_runs`` row ``summary:<community>:<week>`` is
inserted with ON CONFLICT DO NOTHING in the tick's transaction, and only the process whose
insert happened posts it: so it is posted exactly once, also with several bot processes on
one database, and a summary missed while the bot was down is posted on the first tick after
the start. The row is inserted after the summary was computed, so a failure while computing
marks nothing and the next tick tries again. When several weeks were missed only the newest
due week is posted; the older ones are skipped for good (an owner wants to know how the
square is now, not three digests at once).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.actions import PostSummary, Reply
from bot.events import CommandIssued, Event, Tick
from bot.features.base import CommandSpec, Context, Decision, FeatureSettings, Outcome
from bot.features.summary.chart import ChartError, ChartProcess, render_apart
from bot.features.summary.compute import WEEK_PATTERN, IsoWeek, WeeklySummary, compute_summary
from bot.features.summary.render import render_text
from bot.features.summary.settings import WEEKDAYS, SummarySettings
from storage import models

log = logging.getLogger(__name__)
FEATURE = "summary"
CURRENT = ("current", "aktuell")

Ctx = Context[SummarySettings]


def due_week(now: datetime, timezone: str, weekday: str, at: str) -> IsoWeek:
    """The week whose summary is due at ``now``: the last complete week at the newest slot."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in at.split(":"))
    monday = local.date() - timedelta(days=local.weekday())
    slot_day = monday + timedelta(days=WEEKDAYS.index(cast(Any, weekday)))
    if datetime.combine(slot_day, time(hour, minute), tzinfo=zone) > now:
        slot_day -= timedelta(days=7)
    # The slot's own week has not ended at the slot (it ends Sunday 24:00): the one before.
    return IsoWeek.of_date(slot_day).previous()


def job_key(community: str, week: IsoWeek) -> str:
    """The scheduler_runs key of one community's summary of one week."""
    return f"summary:{community}:{week.label}"


async def job_done(session: AsyncSession, job: str) -> bool:
    """True if the job was recorded before (by this or another process)."""
    stmt = select(col(models.SchedulerRun.job)).where(col(models.SchedulerRun.job) == job)
    return (await session.execute(stmt)).first() is not None


async def claim_job(session: AsyncSession, job: str, at: datetime) -> bool:
    """Record a job as done; False if another transaction recorded it first.

    A concurrent claim of the same job waits for the first transaction and then inserts
    nothing (ON CONFLICT DO NOTHING), on SQLite and on PostgreSQL.
    """
    table: Any = models.SchedulerRun
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(job=job, at=at).on_conflict_do_nothing(index_elements=["job"])
    result = cast("CursorResult[Any]", await session.execute(stmt))
    return bool(result.rowcount)


class SummaryFeature:
    """The weekly summary for community owners: in chat, with a chart, exactly once."""

    name: ClassVar[str] = FEATURE
    settings_model: ClassVar[type[FeatureSettings]] = SummarySettings
    handles: ClassVar[tuple[type[Event], ...]] = (Tick, CommandIssued)
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec(
            "summary", "/summary now [2026-W47|current]", "summary.help", moderator_only=True
        ),
    )

    def __init__(self) -> None:
        # Per community: the week and moment a summary was prepared for, and its outcome.
        self._prepared: dict[str, tuple[str, datetime, Outcome]] = {}
        # The answer to the last /summary now prepared: its event key, moment and outcome.
        self._prepared_command: tuple[str, datetime, Outcome] | None = None

    async def handle(self, event: Any, ctx: Ctx) -> Outcome:
        """Post the due summary on a tick; answer ``/summary now``."""
        if isinstance(event, Tick):
            return await self._tick(ctx)
        if isinstance(event, CommandIssued) and event.name == FEATURE:
            return await self._now(event, ctx)
        return Outcome()

    async def prepare(self, event: Any, ctx: Ctx) -> None:
        """Compute and draw a due or asked-for summary before the event's transaction (see
        ``Prepares``): reading a busy week takes a second, which members' events would wait
        for."""
        if isinstance(event, CommandIssued):
            asked = self._asked(event, ctx)
            if event.name == FEATURE and not isinstance(asked, Reply):
                self._prepared_command = (event.key, ctx.now, await self._answer(event, ctx, asked))
            return
        week = self._due(ctx)
        self._prepared.pop(ctx.community.name, None)
        if await job_done(ctx.store.session, job_key(ctx.community.name, week)):
            return
        outcome = await self._work(ctx, week)
        self._prepared[ctx.community.name] = (week.label, ctx.now, outcome)

    async def _tick(self, ctx: Ctx) -> Outcome:
        week = self._due(ctx)
        job = job_key(ctx.community.name, week)
        prepared = self._prepared.pop(ctx.community.name, None)
        if await job_done(ctx.store.session, job):
            return Outcome()  # the usual case: one indexed look-up per tick
        # Compute first and claim last: if computing fails, nothing is marked and the next
        # tick tries again; if another process claimed meanwhile, the work is thrown away.
        if prepared is not None and prepared[:2] == (week.label, ctx.now):
            outcome = prepared[2]
        else:
            outcome = await self._work(ctx, week)
        if not await claim_job(ctx.store.session, job, ctx.now):
            return Outcome()
        return outcome

    def _due(self, ctx: Ctx) -> IsoWeek:
        """The week whose summary is due at ``ctx.now``."""
        settings, community = ctx.settings, ctx.community
        return due_week(ctx.now, community.timezone, settings.weekday, settings.time)

    async def _work(self, ctx: Ctx, week: IsoWeek) -> Outcome:
        """The summary of ``week`` as posted on schedule (or why it is skipped)."""
        settings, community = ctx.settings, ctx.community
        chat = community.section.summary_chat
        outcome = Outcome()
        if chat is None:
            log.info("no summary_chat in %s: summary of %s skipped", community.name, week.label)
            outcome.decisions.append(_skipped(week, "no_summary_chat"))
            return outcome
        async with _chart_ahead(settings) as chart:
            summary = await compute_summary(
                ctx.store.session, community, week.label, ctx.now, settings
            )
            if summary.is_empty and settings.skip_empty:
                outcome.decisions.append(_skipped(week, "empty"))
            else:
                outcome.actions.append(await self._post(summary, chat, ctx, chart))
                outcome.decisions.append(_posted(summary, chat, scheduled=True))
        return outcome

    async def _now(self, event: CommandIssued, ctx: Ctx) -> Outcome:
        week = self._asked(event, ctx)
        if isinstance(week, Reply):
            return Outcome(actions=[week])
        prepared, self._prepared_command = self._prepared_command, None
        if prepared is not None and prepared[:2] == (event.key, ctx.now):
            return prepared[2]
        return await self._answer(event, ctx, week)

    def _asked(self, event: CommandIssued, ctx: Ctx) -> str | Reply | None:
        """The week ``/summary now`` asks for (None: the last complete one), or the reply
        saying what is wrong with the arguments."""
        args = [a.lower() for a in event.args]
        if args and args[0] == "now":
            args = args[1:]
        if len(args) > 1:
            text = ctx.locale.t("core.usage", usage=self.commands[0].usage)
            return Reply(chat=event.chat, text=text, reply_to=event.message_id)
        if args and args[0] in CURRENT:
            return IsoWeek.of(ctx.now, ctx.community.timezone).label
        if args:
            asked = args[0].upper()
            if WEEK_PATTERN.fullmatch(asked) is None:
                text = ctx.locale.t("summary.bad_week", text=event.args[-1])
                return Reply(chat=event.chat, text=text, reply_to=event.message_id)
            try:
                week = IsoWeek.parse(asked)
            except ValueError:
                text = ctx.locale.t("summary.no_week", week=asked)
                return Reply(chat=event.chat, text=text, reply_to=event.message_id)
            if week > IsoWeek.of(ctx.now, ctx.community.timezone):
                # Nothing happened in it yet: an empty summary would go to everyone.
                text = ctx.locale.t("summary.future_week", week=week.label)
                return Reply(chat=event.chat, text=text, reply_to=event.message_id)
            return week.label
        return None

    async def _answer(self, event: CommandIssued, ctx: Ctx, week: str | None) -> Outcome:
        """The summary ``/summary now`` asked for, posted where it was asked."""
        async with _chart_ahead(ctx.settings) as chart:
            summary = await compute_summary(
                ctx.store.session, ctx.community, week, ctx.now, ctx.settings
            )
            post = await self._post(summary, event.chat, ctx, chart)
        decision = _posted(summary, event.chat, scheduled=False, by=event.author.key)
        return Outcome(
            actions=[post], decisions=[Decision(decision.kind, event.message_id, decision.data)]
        )

    async def _post(
        self, summary: WeeklySummary, chat: str, ctx: Ctx, chart: ChartProcess | None
    ) -> PostSummary:
        settings = ctx.settings
        text = render_text(summary, ctx.locale, hours=settings.answer_window_hours)
        image = None
        if settings.chart:
            # In a process of its own: the event loop stays free, and matplotlib's memory
            # is not kept for a chart posted once a week.
            try:
                image = await render_apart(summary, ctx.community.language, process=chart)
            except ChartError as exc:  # the numbers matter more than the picture
                log.warning("summary of %s posted without its chart: %s", summary.week, exc)
        return PostSummary(
            chat=chat, text=text, image=image, image_name=f"summary-{summary.week}.png"
        )


@asynccontextmanager
async def _chart_ahead(settings: SummarySettings) -> AsyncIterator[ChartProcess | None]:
    """The chart process from before the week is read until after (None: no chart or none)."""
    chart = None
    if settings.chart:
        try:
            chart = await ChartProcess.start()
        except ChartError as exc:  # drawing starts its own process, and says why it failed
            log.warning("no chart process started ahead: %s", exc)
    try:
        yield chart
    finally:
        if chart is not None:
            await chart.close()


def _skipped(week: IsoWeek, reason: str) -> Decision:
    return Decision("summary_skipped", None, {"week": week.label, "reason": reason})


def _posted(
    summary: WeeklySummary, chat: str, *, scheduled: bool, by: str | None = None
) -> Decision:
    data: dict[str, Any] = {
        "week": summary.week,
        "chat": chat,
        "scheduled": scheduled,
        "messages": summary.messages,
    }
    if by is not None:
        data["by"] = by
    return Decision("summary", None, data)
