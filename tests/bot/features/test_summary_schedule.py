"""The summary feature: on schedule exactly once, after restarts, across processes, on demand."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import col

from adapters.console import TestClock
from bot.actions import Action, PostSummary, Reply
from bot.app import App
from bot.events import Member, MessagePosted, Tick
from bot.features.summary import SummaryFeature
from bot.features.summary.chart import ChartProcess
from bot.features.summary.feature import claim_job, due_week
from bot.locales import get_locale
from storage import models
from tests.bot.features.test_summary import build_week
from tests.conftest import MakeApp, MakeChat

BERLIN = ZoneInfo("Europe/Berlin")
PNG = b"\x89PNG\r\n\x1a\n"
TITLES = {"de": "📊 Wochenrückblick demo · ", "en": "📊 Weekly summary of demo · "}


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def tick(at: datetime, process: str = "a") -> Tick:
    return Tick(key=f"tick:{process}:{at.isoformat()}", community="demo", chat="", at=at)


async def post(app: App, number: int, at: datetime, text: str = "Hallo") -> None:
    """A member's message at ``at`` (what makes a week worth a summary)."""
    await app.engine.process(
        MessagePosted(
            key=f"test:{number}",
            community="demo",
            chat="console:general",
            at=at,
            message_id=str(number),
            author=Member(key="console:anna", name="anna", username="anna"),
            text=text,
        )
    )


def summaries(actions: list[Action]) -> list[PostSummary]:
    return [a for a in actions if isinstance(a, PostSummary)]


async def jobs(app: App) -> list[str]:
    async with app.db.session() as session:
        rows = await session.execute(
            select(col(models.SchedulerRun.job)).order_by(col(models.SchedulerRun.job))
        )
        return list(rows.scalars())


@pytest.mark.parametrize(
    ("extra", "before", "slot"),
    [
        ("", local(23, 8, 59), local(23, 9, 0)),  # default: Monday 09:00 Berlin
        (
            '[summary]\nweekday = "wednesday"\ntime = "18:30"\n',
            local(25, 18, 29),
            local(25, 18, 30),
        ),
        # Berlin 00:15 on Monday is Sunday 23:15 UTC
        ('[summary]\ntime = "00:15"\n', local(23, 0, 14), local(23, 0, 15)),
    ],
)
@pytest.mark.parametrize("language", ["de", "en"])
async def test_fires_once_at_the_configured_time(
    make_app: MakeApp, extra: str, before: datetime, slot: datetime, language: str
) -> None:
    app = await make_app(extra, features=[SummaryFeature()], language=language)
    await post(app, 1, local(18, 12))
    await post(app, 2, local(19, 12), "Wie geht das?")
    posted = []
    for at in (before, slot, slot + timedelta(minutes=1), slot + timedelta(days=1)):
        posted.append(summaries(await app.engine.handle(tick(at))))
    assert [len(p) for p in posted] == [0, 1, 0, 0]
    summary = posted[1][0]
    assert summary.chat == "console:general"
    assert summary.text.startswith(TITLES[language] + "2026-W47")
    assert summary.image is not None and summary.image.startswith(PNG)
    assert summary.image_name == "summary-2026-W47.png"
    # before the slot, the week before was due: nothing in it, so it was skipped and marked
    assert await jobs(app) == ["summary:demo:2026-W46", "summary:demo:2026-W47"]


async def test_a_restart_that_missed_the_slot_sends_it_once(make_app: MakeApp) -> None:
    first = await make_app(features=[SummaryFeature()])
    await post(first, 1, local(18, 12))
    assert summaries(await first.engine.handle(tick(local(22, 20)))) == []  # Sunday: not yet
    await first.close()  # the bot is down over Monday 09:00
    second = await make_app(features=[SummaryFeature()])  # the same database file
    sent = [summaries(await second.engine.handle(tick(local(24, 10, m)))) for m in range(3)]
    assert [len(s) for s in sent] == [1, 0, 0]
    assert "2026-W47" in sent[0][0].text
    third = await make_app(features=[SummaryFeature()])
    assert summaries(await third.engine.handle(tick(local(24, 11), "third"))) == []


async def test_after_several_missed_weeks_only_the_last_is_sent(make_app: MakeApp) -> None:
    app = await make_app(features=[SummaryFeature()])
    for number, day in enumerate((2, 9, 16), start=1):  # W45, W46, W47
        await post(app, number, local(day, 12))
    sent = [summaries(await app.engine.handle(tick(at))) for at in (local(25, 9), local(26, 9))]
    assert [[s.text.split("\n")[0] for s in batch] for batch in sent] == [
        ["📊 Wochenrückblick demo · 2026-W47"],
        [],
    ]
    assert await jobs(app) == ["summary:demo:2026-W47"]


async def test_two_processes_on_one_database_send_it_once(make_app: MakeApp) -> None:
    one = await make_app(features=[SummaryFeature()])
    two = await make_app(features=[SummaryFeature()])
    for number, day in enumerate((16, 23, 30), start=1):  # W47, W48, W49
        await post(one, number, local(day, 12))
    total = 0
    for day in (23, 30, 7):  # the Mondays after
        month = 12 if day == 7 else 11
        at = local(day, 9, 0, month)
        results = await asyncio.gather(
            one.engine.handle(tick(at, "one")), two.engine.handle(tick(at, "two"))
        )
        sent = [s for actions in results for s in summaries(actions)]
        assert len(sent) == 1
        total += len(sent)
    assert total == 3
    assert await jobs(one) == [
        "summary:demo:2026-W47",
        "summary:demo:2026-W48",
        "summary:demo:2026-W49",
    ]


NO_SUMMARY_CHAT = """
[bot]
database_url = "sqlite+aiosqlite:///unused.db"

[[communities]]
name = "demo"
language = "en"
console_chats = ["general"]
"""


async def test_without_a_summary_chat_it_is_skipped_but_marked(make_app: MakeApp) -> None:
    app = await make_app(features=[SummaryFeature()], config_text=NO_SUMMARY_CHAT)
    await post(app, 1, local(18, 12))
    first = await app.engine.process(tick(local(23, 9)))
    again = await app.engine.process(tick(local(23, 10)))
    assert first.actions == [] and again.actions == []
    assert [(d.kind, dict(d.data)) for d in first.decisions] == [
        ("summary_skipped", {"week": "2026-W47", "reason": "no_summary_chat"})
    ]
    assert again.decisions == []
    assert await jobs(app) == ["summary:demo:2026-W47"]


@pytest.mark.parametrize(
    ("extra", "texts", "image"),
    [
        ("", 0, False),  # an empty week is not posted by default
        ("[summary]\nskip_empty = false\n", 1, True),
        ("[summary]\nskip_empty = false\nchart = false\n", 1, False),
    ],
)
async def test_empty_weeks_and_the_chart_follow_the_settings(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, extra: str, texts: int, image: bool
) -> None:
    started: list[ChartProcess] = []
    start = ChartProcess.start

    async def recorded() -> ChartProcess:
        started.append(await start())
        return started[-1]

    monkeypatch.setattr(ChartProcess, "start", recorded)
    app = await make_app(extra, features=[SummaryFeature()])
    sent = summaries(await app.engine.handle(tick(local(23, 9))))
    assert len(sent) == texts
    assert [s.image is not None for s in sent] == ([image] if texts else [])
    # Started ahead whenever a chart may be drawn; never left running, drawn or not.
    assert len(started) == (0 if "chart = false" in extra else 1)
    assert not any(process.running for process in started)


@pytest.mark.parametrize("language", ["de", "en"])
async def test_opted_out_members_and_bots_are_never_named(make_app: MakeApp, language: str) -> None:
    app = await make_app(features=[SummaryFeature()], language=language)
    async with app.db.session() as session:
        await build_week(session)
    (summary,) = summaries(await app.engine.handle(tick(local(23, 9))))
    for named in ("Ben", "Anna", "Cem", "Finn"):
        assert named in summary.text
    for hidden in ("Dora", "Eve", "Helferbot"):
        assert hidden not in summary.text


@pytest.mark.parametrize(
    ("language", "title", "refusal", "no_week"),
    [
        ("de", "📊 Wochenrückblick demo · ", "Moderator", "Eine Woche 2026-W99 gibt es nicht"),
        ("en", "📊 Weekly summary of demo · ", "moderators", "There is no week 2026-W99"),
    ],
)
async def test_summary_now_posts_where_it_was_asked(
    make_chat: MakeChat, language: str, title: str, refusal: str, no_week: str
) -> None:
    chat = await make_chat(features=[SummaryFeature()], language=language)  # Monday 16 Nov
    await chat.say("anna", "Wie stelle ich die Bremse ein?")
    await chat.say("ben", "Mit dem Inbus", reply_to=1)
    clock = chat.clock
    assert isinstance(clock, TestClock)
    clock.advance(timedelta(days=7))  # Monday 23 Nov, 10:03 Berlin: after the slot
    await chat.say("anna", "/summary now")
    await chat.say("mod", "/summary now", chat="mods")
    await chat.say("mod", "/summary now current")
    await chat.say("mod", "/summary now 2026-W99")
    await chat.say("mod", "/summary now 2026-W47 extra")
    await chat.say("mod", "/summary")
    replies = [a.text for a in chat.sent if isinstance(a, Reply)]
    posted = summaries(chat.sent)
    assert refusal in replies[0]
    assert [(s.chat, s.text.split("\n")[0]) for s in posted] == [
        ("console:mods", title + "2026-W47"),
        ("console:general", title + "2026-W48"),
        ("console:general", title + "2026-W47"),
    ]
    assert replies[1].startswith(no_week)
    assert "/summary now [2026-W47|current]" in replies[2]
    assert all(s.image is not None and s.image.startswith(PNG) for s in posted)
    # Weeks it cannot read, outside the years dates hold, and not begun yet: each says so.
    for asked in ("W47", "0001-W01", "9999-W52", "2026-W49", "2099-W01"):
        await chat.say("mod", f"/summary now {asked}")
    answers = [a.text for a in chat.sent if isinstance(a, Reply)][-5:]
    locale = get_locale(language)
    assert answers == [
        locale.t("summary.bad_week", text="W47"),
        locale.t("summary.no_week", week="0001-W01"),
        locale.t("summary.no_week", week="9999-W52"),
        locale.t("summary.future_week", week="2026-W49"),
        locale.t("summary.future_week", week="2099-W01"),
    ]
    assert len(summaries(chat.sent)) == 3
    # on demand does not count as the scheduled post
    await chat.tick()
    assert len(summaries(chat.sent)) == 4
    decisions = [d.data for d in chat.decisions if d.kind == "summary"]
    assert [(d["week"], d["scheduled"]) for d in decisions] == [
        ("2026-W47", False),
        ("2026-W48", False),
        ("2026-W47", False),
        ("2026-W47", True),
    ]


@pytest.mark.parametrize(
    ("now", "weekday", "time", "week"),
    [
        (local(23, 8, 59), "monday", "09:00", "2026-W46"),
        (local(23, 9, 0), "monday", "09:00", "2026-W47"),
        (local(29, 23, 59), "monday", "09:00", "2026-W47"),
        (local(29, 19, 59), "sunday", "20:00", "2026-W46"),
        # a Sunday slot reports the week before: the slot's own week is not over yet
        (local(29, 20, 0), "sunday", "20:00", "2026-W47"),
        (local(28, 12, 0), "sunday", "20:00", "2026-W46"),
    ],
)
def test_the_due_week(now: datetime, weekday: str, time: str, week: str) -> None:
    assert due_week(now, "Europe/Berlin", weekday, time).label == week


async def test_the_claim_holds_when_both_processes_passed_the_first_check(
    make_app: MakeApp,
) -> None:
    """B looks while A's claim is not yet committed, then waits for A and finds it taken."""
    app = await make_app(features=[SummaryFeature()])
    other = await make_app(features=[SummaryFeature()])
    at = local(23, 9)
    async with app.db.session() as first:
        assert await claim_job(first, "summary:demo:2026-W47", at)
        second = asyncio.create_task(_claim_in(other, "summary:demo:2026-W47", at))
        await asyncio.sleep(0.3)  # B is now waiting for A's transaction
        assert not second.done()
    assert await second is False
    async with other.db.session() as session:
        assert not await claim_job(session, "summary:demo:2026-W47", at)
        assert await claim_job(session, "summary:demo:2026-W48", at)


async def _claim_in(app: App, job: str, at: datetime) -> bool:
    async with app.db.session() as session:
        return await claim_job(session, job, at)


async def test_a_failure_while_computing_marks_nothing(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.features.summary.chart import render_apart as real

    calls: list[int] = []

    async def flaky(summary: Any, language: str, **kwargs: Any) -> bytes:
        calls.append(1)
        if len(calls) <= 2:  # prepared ahead of the tick, then again in it
            raise RuntimeError("no fonts today")
        return await real(summary, language, **kwargs)

    monkeypatch.setattr("bot.features.summary.feature.render_apart", flaky)
    app = await make_app(features=[SummaryFeature()])
    await post(app, 1, local(18, 12))
    first = summaries(await app.engine.handle(tick(local(23, 9))))
    assert first == [] and await jobs(app) == []  # the engine logged the error
    assert len(calls) == 2
    second = summaries(await app.engine.handle(tick(local(23, 9, 1))))
    assert len(second) == 1 and len(calls) == 3
    assert await jobs(app) == ["summary:demo:2026-W47"]


def watch_reads(monkeypatch: pytest.MonkeyPatch, db_url: str) -> list[bool]:
    """One entry per reading of a week: whether SQLite was free for others to write then
    (members' events write meanwhile); always True on PostgreSQL, which has no such lock."""
    from bot.features.summary.feature import compute_summary as real

    free: list[bool] = []

    async def watched(*args: Any, **kwargs: Any) -> Any:
        if db_url.startswith("sqlite"):
            probe = sqlite3.connect(make_url(db_url).database or "", timeout=0)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.rollback()
                free.append(True)
            except sqlite3.OperationalError:
                free.append(False)
            finally:
                probe.close()
        else:
            free.append(True)
        return await real(*args, **kwargs)

    monkeypatch.setattr("bot.features.summary.feature.compute_summary", watched)
    return free


async def test_the_week_is_read_before_the_ticks_transaction_takes_the_write_lock(
    make_app: MakeApp, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = watch_reads(monkeypatch, db_url)
    app = await make_app(features=[SummaryFeature()])
    await post(app, 1, local(18, 12))
    (sent,) = summaries(await app.engine.handle(tick(local(23, 9))))
    assert "2026-W47" in sent.text and sent.image is not None
    assert await jobs(app) == ["summary:demo:2026-W47"]
    assert free == [True]  # read once, ahead of the tick, with nothing locked


async def test_summary_now_reads_the_week_before_its_transaction_and_only_for_moderators(
    make_chat: MakeChat, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = watch_reads(monkeypatch, db_url)
    chat = await make_chat(features=[SummaryFeature()])  # Monday 16 Nov
    await chat.say("anna", "Wie stelle ich die Bremse ein?")
    await chat.say("anna", "/summary now")  # refused: nothing is read for her
    assert free == [] and summaries(chat.sent) == []
    await chat.say("mod", "/summary now current")
    await chat.say("mod", "/summary now 2026-W99")  # a bad week: answered, nothing read
    [posted] = summaries(chat.sent)
    assert posted.text.split("\n")[0] == "📊 Wochenrückblick demo · 2026-W47"
    assert free == [True]  # read once, ahead of the command, with nothing locked
    [decision] = [d.data for d in chat.decisions if d.kind == "summary"]
    assert decision["week"] == "2026-W47" and decision["by"] == "console:mod"


async def test_a_failed_preparation_leaves_the_summary_to_the_tick(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.features.summary.feature import compute_summary as real

    calls: list[int] = []

    async def once_broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("connection reset")
        return await real(*args, **kwargs)

    monkeypatch.setattr("bot.features.summary.feature.compute_summary", once_broken)
    app = await make_app(features=[SummaryFeature()])
    await post(app, 1, local(18, 12))
    (sent,) = summaries(await app.engine.handle(tick(local(23, 9))))
    assert "2026-W47" in sent.text and len(calls) == 2
    assert "feature summary failed to prepare tick" in caplog.text
    assert await jobs(app) == ["summary:demo:2026-W47"]


async def test_a_replay_reads_the_week_in_its_own_transaction(make_app: MakeApp) -> None:
    app = await make_app(features=[SummaryFeature()])
    await post(app, 1, local(18, 12))
    async with app.engine.batch():
        result = await app.engine.process(tick(local(23, 9)))
    (sent,) = summaries(result.actions)
    assert "2026-W47" in sent.text
    assert await jobs(app) == ["summary:demo:2026-W47"]


async def test_a_chart_that_cannot_be_drawn_leaves_the_summary_without_it(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.features.summary.chart import ChartError

    async def broken(summary: Any, language: str, **_: Any) -> bytes:
        raise ChartError("the chart process failed (exit 1): no fonts today")

    monkeypatch.setattr("bot.features.summary.feature.render_apart", broken)
    app = await make_app(features=[SummaryFeature()])
    await post(app, 1, local(18, 12))
    (sent,) = summaries(await app.engine.handle(tick(local(23, 9))))
    assert sent.image is None and "demo" in sent.text
    assert await jobs(app) == ["summary:demo:2026-W47"]  # posted: not tried again
    assert "posted without its chart: the chart process failed (exit 1)" in caplog.text
