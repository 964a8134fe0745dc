"""The weekly summary's numbers against a hand-counted week (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import bot.features.summary.compute as summary_compute
from bot.app import App
from bot.config import Community
from bot.features.summary import IsoWeek, SummarySettings, WeeklySummary, compute_summary
from bot.features.summary.compute import (
    Answer,
    Helper,
    MemberCount,
    MessageLink,
    Question,
    is_question,
    message_link,
    percentile_nearest_rank,
    trend,
)
from storage import models
from tests.conftest import MakeApp

BERLIN = ZoneInfo("Europe/Berlin")
GEN, HELP = "console:general", "console:help"
ANNA, BEN, CEM, DORA, EVE, FINN, BOT = (
    "console:anna",
    "console:ben",
    "console:cem",
    "console:dora",
    "console:eve",
    "console:finn",
    "console:bot",
)
FINN_TG = "telegram:77"
TG_CHAT = "telegram:-100555"
# The summary is made on Tuesday after the week: every answer window of the week has run out.
NOW = datetime(2026, 11, 24, 13, 0, tzinfo=BERLIN)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Berlin time (UTC+1)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


def link(chat: str, message_id: str, url: str | None = None) -> MessageLink:
    return MessageLink(f"{chat}#{message_id}", chat, message_id, url)


async def build_week(session: AsyncSession) -> None:
    """Week 2026-W47 (Mon 16 – Sun 22 Nov) of community "demo", and a bit around it.

    Every row says in a comment what it is there for; the expected numbers are counted by
    hand in ``EXPECTED`` below.
    """
    oct1 = datetime(2026, 10, 1, 12, tzinfo=UTC)
    session.add_all(
        [
            models.Member(key=ANNA, name="Anna", first_seen=oct1),
            models.Member(key=BEN, name="Ben", first_seen=oct1),
            models.Member(key=CEM, name="Cem", first_seen=local(16, 8)),  # new this week
            models.Member(key=DORA, name="Dora", first_seen=local(17, 10), opted_out=True),
            models.Member(key=EVE, name="Eve", first_seen=oct1, forgotten=True),
            models.Member(key=FINN, name="Finn", first_seen=local(10, 9), person="finn"),
            models.Member(key=FINN_TG, name="Finn", first_seen=oct1, person="finn"),
            models.Member(key=BOT, name="Helferbot", first_seen=oct1, is_bot=True),
        ]
    )

    def message(
        mid: str,
        author: str,
        at: datetime,
        text: str,
        *,
        chat: str = GEN,
        reply_to: tuple[str, str] | None = None,
        mentions: tuple[str, ...] = (),
        deleted: bool = False,
        community: str = "demo",
    ) -> models.Message:
        return models.Message(
            community=community,
            chat=chat,
            message_id=mid,
            author=author,
            text=text,
            reply_to=reply_to[0] if reply_to else None,
            reply_to_author=reply_to[1] if reply_to else None,
            mentions=list(mentions),
            at=at,
            deleted=deleted,
        )

    session.add_all(
        [
            # previous week (W46): 4 messages by anna, finn, ben; the bot does not count
            message("101", ANNA, local(9, 10), "Hallo zusammen"),
            message("102", FINN, local(10, 12), "Moin"),
            message("103", BEN, local(10, 12, 5), "Hi Finn", reply_to=("102", FINN)),
            # Sunday 23:30 Berlin (22:30 UTC) is still W46; its 24 h run out in W47: unanswered
            message("104", ANNA, local(15, 23, 30), "Wer kennt sich mit Ketten aus?"),
            message("105", BOT, local(11, 9), "Willkommen!"),
            # this week (W47)
            # Monday 00:30 Berlin is Sunday 23:30 UTC, and belongs to W47
            message("1", BEN, local(16, 0, 30), "Guten Morgen, Nachteulen"),
            message("2", ANNA, local(16, 10), "Wie stelle ich die Schaltung ein?"),
            message("3", BEN, local(16, 10, 20), "Am Schaltwerk drehen", reply_to=("2", ANNA)),
            message("4", ANNA, local(16, 10, 30), "Danke, hat geholfen!", reply_to=("3", BEN)),
            message("5", CEM, local(17, 9), "Kann mir jemand bei den Bremsen helfen?"),
            message("6", DORA, local(17, 11), "@cem schau ins Wiki", mentions=(CEM,)),
            message("7", CEM, local(17, 12), "Wo gibt es gute Reifen?"),
            message("8", ANNA, local(18, 9), "Schaut mal: https://example.com/?q=1"),
            message("9", EVE, local(18, 10), "Danke Anna", reply_to=("8", ANNA)),
            # a bot's reply answers nothing and is no message of the week
            message("10", BOT, local(18, 10, 1), "Im Laden", reply_to=("7", CEM)),
            message("11", BEN, local(19, 15), "Test", deleted=True),
            message("18", CEM, local(19, 16), "Frage: welcher Luftdruck?", chat=HELP),
            # mentions cem, but in another chat than cem's question #18
            message("19", BEN, local(19, 16, 10), "@cem 3 bar", mentions=(CEM,)),
            message("12", DORA, local(20, 18), "Was meint ihr?"),
            message("14", ANNA, local(21, 12), "`code?`"),
            message("20", ANNA, local(21, 12, 5), "nochmal", reply_to=("14", ANNA)),
            message("21", CEM, local(21, 13), "@bot hilfe und @cem", mentions=(BOT, CEM)),
            # 38 h after #12: too late to answer it, but a reply to dora all the same
            message("13", BEN, local(22, 8), "Ich finde es gut", reply_to=("12", DORA)),
            message("15", BEN, local(22, 23, 30), "Gute Nacht?"),
            # next week (W48), but within 24 h of #15: #15 got a reply
            message("16", ANNA, local(23, 0, 30), "Nacht!", reply_to=("15", BEN)),
            # another community
            message("1", ANNA, local(18, 12), "anderswo?", chat="console:other", community="x"),
        ]
    )

    def karma(
        giver: str | None,
        receiver: str,
        points: float,
        reason: str,
        at: datetime,
        target: str | None = None,
        *,
        chat: str | None = GEN,
        reverses: int | None = None,
        community: str = "demo",
    ) -> models.KarmaEntry:
        return models.KarmaEntry(
            community=community,
            giver=giver,
            receiver=receiver,
            points=points,
            reason=reason,
            chat=chat if target else None,
            message_id=target,
            target_message_id=target,
            event_key=f"test:{receiver}:{at.isoformat()}",
            reverses=reverses,
            at=at,
        )

    reversed_award = karma(BEN, ANNA, 1.0, "reaction", local(18, 11), "8")
    session.add(reversed_award)
    await session.flush()
    session.add_all(
        [
            karma(ANNA, BEN, 1.0, "thanks", local(16, 10, 30), "3"),
            karma(CEM, BEN, 1.0, "reaction", local(16, 11), "3"),
            karma(DORA, BEN, 0.5, "reaction", local(22, 9), "13"),
            karma(EVE, ANNA, 1.0, "thanks", local(18, 10), "8"),
            karma(BEN, ANNA, -1.0, "reversal", local(18, 12), "8", reverses=reversed_award.id),
            karma(CEM, DORA, 2.0, "thanks", local(17, 12), "6"),  # dora opted out
            karma("console:mod", CEM, 3.0, "moderator", local(19, 9)),
            karma(None, BEN, -0.5, "ring", local(21, 12)),
            karma("console:mod", BOT, 5.0, "moderator", local(19, 9)),  # a bot: never named
            karma(BEN, FINN_TG, 2.0, "reaction", local(20, 10), "900", chat=TG_CHAT),
            karma(ANNA, FINN, 0.5, "thanks", local(20, 11), "102"),  # finn's other account
            karma(ANNA, BEN, 1.0, "thanks", local(10, 12, 10), "103"),  # previous week
            karma(ANNA, BEN, 5.0, "thanks", local(18, 12), "1", community="x"),
        ]
    )

    def decision(kind: str, at: datetime, community: str = "demo", **data: Any) -> models.Decision:
        return models.Decision(
            community=community, event_key=f"test:{kind}:{at}", kind=kind, data=data, at=at
        )

    session.add_all(
        [
            decision("karma_blocked", local(16, 12), rule="self"),
            decision("karma_blocked", local(21, 12), rule="self"),
            decision("karma_blocked", local(18, 12), rule="cooldown"),
            decision("karma_blocked", local(13, 12), rule="self"),  # previous week
            decision("karma_blocked", local(18, 12), community="x", rule="self"),
            decision("promo", local(16, 12), user=CEM, nudged=True),
            decision("promo", local(17, 12), user=CEM, nudged=True),
            decision("promo", local(19, 12), user=ANNA, nudged=False),
            decision("promo", local(13, 12), user=BEN, nudged=True),  # previous week
            decision("promo", local(18, 12), community="x", user=BEN, nudged=True),
        ]
    )

    def complaint(severity: str, at: datetime, community: str = "demo") -> models.Complaint:
        return models.Complaint(
            community=community,
            member=CEM,
            chat=GEN,
            message_id="5",
            score=0.8,
            severity=severity,
            at=at,
        )

    session.add_all(
        [
            complaint("low", local(16, 9)),
            complaint("low", local(18, 9)),
            complaint("high", local(20, 9)),
            complaint("medium", local(12, 9)),  # previous week
            complaint("low", local(18, 9), community="x"),
        ]
    )

    def case(
        kind: str,
        opened: datetime,
        status: str,
        *,
        closed: datetime | None = None,
        response: datetime | None = None,
        due: datetime | None = None,
        escalated: datetime | None = None,
        community: str = "demo",
    ) -> models.Case:
        return models.Case(
            community=community,
            kind=kind,
            status=status,
            subject=CEM,
            opened_at=opened,
            closed_at=closed,
            first_response_at=response,
            due_at=due,
            escalated_at=escalated,
        )

    appealed = case("promo", local(16, 9), "confirmed", closed=local(18, 9))
    old_promo = case("promo", local(9, 9), "confirmed", closed=local(12, 9))
    other = case("complaint", local(18, 9), "open", community="x")
    session.add_all(
        [
            # complaint cases: response times 30, 120, 10 and 60 minutes
            case(
                "complaint",
                local(16, 9),
                "resolved",
                closed=local(16, 10),
                response=local(16, 9, 30),
            ),
            case(
                "complaint", local(17, 10), "resolved", closed=local(17, 13), response=local(17, 12)
            ),
            case(
                "complaint",
                local(18, 8),
                "open",
                response=local(18, 8, 10),
                due=local(19, 8),
                escalated=local(19, 8),
            ),
            case("complaint", local(21, 10), "open", due=local(23, 10)),  # open, not yet due
            # opened the week before, closed only after this week: open and overdue at its end
            case(
                "complaint",
                local(13, 10),
                "resolved",
                closed=local(23, 12),
                due=local(14, 10),
                response=local(23, 11),
            ),
            case("complaint", local(10, 10), "resolved", closed=local(11, 10)),  # last week
            case(
                "complaint", local(19, 9), "resolved", closed=local(19, 10), response=local(19, 10)
            ),
            other,
            # promo cases: one confirmed and two dismissed this week
            appealed,
            case("promo", local(17, 9), "dismissed", closed=local(19, 9)),
            case("promo", local(12, 9), "dismissed", closed=local(16, 8)),
            old_promo,
            case("promo", local(20, 9), "open"),
        ]
    )
    await session.flush()
    assert appealed.id and old_promo.id and other.id
    session.add_all(
        [
            models.CaseEvent(case_id=appealed.id, action="appealed", at=local(19, 12)),
            models.CaseEvent(case_id=appealed.id, action="opened", at=local(16, 9)),
            models.CaseEvent(case_id=old_promo.id, action="appealed", at=local(12, 10)),
            models.CaseEvent(case_id=other.id, action="appealed", at=local(19, 12)),
        ]
    )

    def flag(member: str, at: datetime, community: str = "demo") -> models.Flag:
        return models.Flag(
            community=community, member=member, chat=GEN, message_id="8", score=0.7, at=at
        )

    session.add_all(
        [
            flag(CEM, local(16, 12)),
            flag(CEM, local(17, 12)),
            flag(ANNA, local(19, 12)),
            flag(BEN, local(12, 12)),  # previous week
            flag(BEN, local(18, 12), community="x"),
        ]
    )

    def logged(action: str, at: datetime, community: str = "demo") -> models.ModLogEntry:
        return models.ModLogEntry(
            community=community, actor="console:mod", action=action, target=CEM, at=at
        )

    session.add_all(
        [
            logged("warn", local(17, 12)),
            logged("warn", local(18, 12)),
            logged("promo_confirm", local(18, 9)),
            logged("karma_give", local(19, 9)),
            logged("appeal", local(19, 12)),
            logged("refused", local(20, 12)),
            logged("refused", local(20, 13)),
            logged("warn", local(12, 12)),  # previous week
            logged("warn", local(18, 12), community="x"),
        ]
    )


EXPECTED = WeeklySummary(
    community="demo",
    language="de",
    timezone="Europe/Berlin",
    week="2026-W47",
    start=local(16, 0),
    end=local(23, 0),
    generated_at=NOW,
    # 17 messages: #1-#9, #12-#15, #18-#21 (not the bot's #10, the deleted #11, #16 of W48)
    messages=17,
    previous_messages=4,
    messages_trend_pct=325.0,
    active_members=5,  # anna, ben, cem, dora, eve
    previous_active_members=3,  # anna, finn, ben
    active_members_trend_pct=66.7,
    new_members=2,  # cem, dora
    # replies #3 #4 #9 #13, mentions #6 #19, got a reply #2 #8 #15 (not: self-reply #20,
    # self/bot mention #21, #12 answered after 38 h, #7 answered by a bot)
    dialogue_messages=9,
    dialogue_pct=52.9,
    top_dialogue=(MemberCount(BEN, "Ben", 4), MemberCount(ANNA, "Anna", 3)),
    helpers=(
        Helper(CEM, "Cem", 3.0, 0, ()),
        Helper(
            FINN_TG,
            "Finn",
            2.5,
            2,
            (
                Answer(link(TG_CHAT, "900", "https://t.me/c/555/900"), 1, 2.0),
                Answer(link(GEN, "102"), 1, 0.5),
            ),
        ),
        Helper(
            BEN, "Ben", 2.0, 3, (Answer(link(GEN, "3"), 2, 2.0), Answer(link(GEN, "13"), 1, 0.5))
        ),
        Helper(ANNA, "Anna", 1.0, 1, (Answer(link(GEN, "8"), 1, 1.0),)),
    ),
    karma_given=8.0,
    karma_awards=7,
    karma_givers=5,
    karma_blocks=3,
    blocks_by_rule={"self": 2, "cooldown": 1},
    questions=6,  # #104 #2 #5 #7 #18 #12
    unanswered_questions=4,
    unanswered=(
        Question(link(GEN, "104"), local(15, 23, 30)),
        Question(link(GEN, "7"), local(17, 12)),
        Question(link(HELP, "18"), local(19, 16)),
        Question(link(GEN, "12"), local(20, 18)),
    ),
    complaints=3,
    complaints_by_severity={"low": 2, "medium": 0, "high": 1},
    complaint_cases=5,
    first_responses=4,
    first_response_median_minutes=45.0,
    first_response_p90_minutes=120.0,
    open_cases=3,
    overdue_cases=2,
    escalated_cases=1,
    flags_raised=3,
    flagged_members=2,
    promo_confirmed=1,
    promo_dismissed=2,
    members_nudged=1,
    moderation_actions={"warn": 2, "appeal": 1, "karma_give": 1, "promo_confirm": 1},
    warnings=2,
    appeals=1,
    refusals=2,
    daily_messages=(4, 3, 2, 2, 1, 3, 2),
    previous_daily_messages=(1, 2, 0, 0, 0, 0, 1),
    daily_karma=(2.0, 2.0, 1.0, 0.0, 2.5, 0.0, 0.5),
    previous_daily_karma=(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
)


async def fixture_week(make_app: MakeApp) -> tuple[App, Community]:
    """An app whose database holds the hand-counted week."""
    app = await make_app()
    community = app.config.community("demo")
    assert community is not None
    async with app.db.session() as session:
        await build_week(session)
    return app, community


async def fixture_summary(make_app: MakeApp, **settings: Any) -> WeeklySummary:
    app, community = await fixture_week(make_app)
    async with app.db.session() as session:
        return await compute_summary(
            session, community, "2026-W47", NOW, SummarySettings(**settings)
        )


async def test_numbers_match_the_hand_counted_week(make_app: MakeApp) -> None:
    summary = await fixture_summary(make_app)
    assert summary == EXPECTED
    # dict order is part of the promise: biggest first, then by name
    assert list(summary.blocks_by_rule) == ["self", "cooldown"]
    assert list(summary.moderation_actions) == ["warn", "appeal", "karma_give", "promo_confirm"]
    assert summary.start.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize("pause_rows", [2, 10**9])
async def test_other_tasks_run_while_the_week_is_read(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, pause_rows: int
) -> None:
    """A busy week is read on the event loop: every few rows other events get a turn."""
    monkeypatch.setattr(summary_compute, "PAUSE_ROWS", pause_rows)
    turns, done = 0, asyncio.Event()

    async def other_task() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    app, community = await fixture_week(make_app)
    async with app.db.session() as session:
        task = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = turns
        summary = await compute_summary(session, community, "2026-W47", NOW)
        during = turns - before
    done.set()
    await task
    assert summary == EXPECTED  # pausing changes nothing in the result
    if pause_rows == 2:
        # At least one turn per two of the week's 17 messages.
        assert during >= EXPECTED.messages // 2, during
    elif app.db.engine.dialect.name == "sqlite":
        # SQLite is read on the loop's thread: without the pauses nobody else gets a turn
        # (PostgreSQL's driver waits for the server between queries anyway).
        assert during < EXPECTED.messages // 2, "without pauses the check would mean nothing"


async def test_limits_shorten_lists_but_not_counts(make_app: MakeApp) -> None:
    summary = await fixture_summary(make_app, top_n=1, answers_per_helper=1, max_links=2)
    assert summary == replace(
        EXPECTED,
        top_dialogue=EXPECTED.top_dialogue[:1],
        helpers=(EXPECTED.helpers[0],),
        unanswered=EXPECTED.unanswered[:2],
    )


async def test_a_longer_answer_window_changes_questions_and_dialogue(make_app: MakeApp) -> None:
    # 48 h: #13 now answers #12 (after 38 h) and makes it part of a dialogue; the questions
    # counted in W47 are those asked from Saturday of W46 to Friday of W47: the same six.
    summary = await fixture_summary(make_app, answer_window_hours=48)
    assert (summary.dialogue_messages, summary.questions, summary.unanswered_questions) == (
        10,
        6,
        3,
    )
    assert [q.link.message_id for q in summary.unanswered] == ["104", "7", "18"]


async def test_an_empty_week_has_no_percentages(make_app: MakeApp) -> None:
    app = await make_app()
    community = app.config.community("demo")
    assert community is not None
    async with app.db.session() as session:
        summary = await compute_summary(session, community, "2026-W47", NOW)
    assert summary.is_empty
    assert (summary.messages_trend_pct, summary.dialogue_pct) == (None, None)
    assert (summary.first_response_median_minutes, summary.first_response_p90_minutes) == (
        None,
        None,
    )
    assert summary.daily_messages == (0,) * 7 and summary.daily_karma == (0.0,) * 7
    assert summary.complaints_by_severity == {"low": 0, "medium": 0, "high": 0}


async def test_questions_still_within_their_window_are_not_counted_yet(make_app: MakeApp) -> None:
    """On Saturday of W47, #12 (Friday 18:00) may still be answered: it is not counted."""
    app, community = await fixture_week(make_app)
    async with app.db.session() as session:
        summary = await compute_summary(session, community, None, local(21, 17))
    assert summary.week == "2026-W46"  # the last complete week
    async with app.db.session() as session:
        summary = await compute_summary(session, community, "2026-W47", local(21, 17))
    assert [q.link.message_id for q in summary.unanswered] == ["104", "7", "18"]


@dataclass(frozen=True)
class _Said:
    mid: str
    chat: str
    author: str
    at: datetime
    question: bool
    reply_to: _Said | None
    mentions: tuple[str, ...]
    deleted: bool


def _by_definition(
    said: list[_Said], start: datetime, end: datetime, window: timedelta, now: datetime
) -> tuple[dict[str, int], int, list[str]]:
    """Dialogue per author, questions and unanswered ones as the module docstring defines
    them, counted the slow way: every message against every other."""
    kept = [m for m in said if not m.deleted and m.author != BOT]

    def answers(o: _Said, m: _Said) -> bool:
        return o.author != m.author and m.at <= o.at <= m.at + window and o.chat == m.chat

    dialogue: dict[str, int] = {}
    for m in kept:
        if not start <= m.at < end:
            continue
        replied = m.reply_to is not None and m.reply_to.author not in (m.author, BOT)
        mentioned = any(key not in (m.author, BOT) for key in m.mentions)
        answered = any(o.reply_to == m and answers(o, m) for o in kept)
        if replied or mentioned or answered:
            dialogue[m.author] = dialogue.get(m.author, 0) + 1
    questions, unanswered = 0, []
    for m in kept:  # in time order, then in the order they were stored
        deadline = m.at + window
        if not (m.question and start <= deadline < end and deadline <= now):
            continue
        questions += 1
        if not any(answers(o, m) and (o.reply_to == m or m.author in o.mentions) for o in kept):
            unanswered.append(m.mid)
    return dialogue, questions, unanswered


@pytest.mark.parametrize("seed", range(12))
async def test_dialogue_and_questions_follow_their_definitions(
    make_app: MakeApp, seed: int
) -> None:
    """Random weeks with messages at the same moment, at the window's edges, from and to the
    bot, deleted ones: the streamed count equals the definitions counted pair by pair."""
    rng = random.Random(seed)
    window = timedelta(hours=rng.choice([1, 24]))
    start, end = local(16, 0), local(23, 0)
    # Few distinct moments, so many messages share one; some sit exactly a window apart.
    some = {start - window + timedelta(minutes=rng.randrange(0, 60 * 24 * 9)) for _ in range(30)}
    edges = {start, end - window, end - timedelta(minutes=1), end + window - timedelta(minutes=1)}
    moments = sorted(some | edges | {m + window for m in rng.sample(sorted(some), 10)})
    people = [ANNA, BEN, CEM, BOT]
    said: list[_Said] = []
    for n in range(260):
        at = rng.choice(moments)
        chat = rng.choice([GEN, HELP])
        earlier = [m for m in said if m.chat == chat and m.at <= at]
        said.append(
            _Said(
                mid=str(n),
                chat=chat,
                author=rng.choice(people),
                at=at,
                question=rng.random() < 0.4,
                reply_to=rng.choice(earlier) if earlier and rng.random() < 0.5 else None,
                mentions=tuple(rng.sample(people, rng.choice([0, 0, 1, 2]))),
                deleted=rng.random() < 0.05,
            )
        )
    said.sort(key=lambda m: m.at)  # stored in time order, so ids break ties
    app = await make_app()
    community = app.config.community("demo")
    assert community is not None
    now = end + rng.choice([-window / 2, 2 * window])
    async with app.db.session() as session:
        session.add_all(
            models.Member(key=key, name=key.partition(":")[2], is_bot=key == BOT, first_seen=start)
            for key in people
        )
        for m in said:
            session.add(
                models.Message(
                    community="demo",
                    chat=m.chat,
                    message_id=m.mid,
                    author=m.author,
                    text="Geht das?" if m.question else "Ja.",
                    reply_to=m.reply_to.mid if m.reply_to else None,
                    reply_to_author=m.reply_to.author if m.reply_to else None,
                    mentions=list(m.mentions),
                    at=m.at,
                    deleted=m.deleted,
                )
            )
            await session.flush()
    settings = SummarySettings(
        answer_window_hours=int(window / timedelta(hours=1)), max_links=50, top_n=25
    )
    async with app.db.session() as session:
        summary = await compute_summary(session, community, "2026-W47", now, settings)
    dialogue, questions, unanswered = _by_definition(said, start, end, window, now)
    assert {c.member: c.count for c in summary.top_dialogue} == dialogue
    assert summary.dialogue_messages == sum(dialogue.values())
    assert (summary.questions, summary.unanswered_questions) == (questions, len(unanswered))
    assert [q.link.message_id for q in summary.unanswered] == unanswered[:50]
    assert questions > 0 and unanswered and dialogue  # the random week tests something


# --- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "timezone", "week"),
    [
        # Sunday 23:30 Berlin is 22:30 UTC: still the week of that Sunday
        (datetime(2026, 11, 22, 22, 30, tzinfo=UTC), "Europe/Berlin", "2026-W47"),
        # Monday 00:30 Berlin is Sunday 23:30 UTC: already the next week in Berlin ...
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), "Europe/Berlin", "2026-W48"),
        # ... but not in UTC
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), "UTC", "2026-W47"),
        (datetime(2026, 11, 23, 3, 0, tzinfo=UTC), "America/New_York", "2026-W47"),
        # ISO years: 1 January 2027 is a Friday of 2026-W53
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), "Europe/Berlin", "2026-W53"),
    ],
)
def test_weeks_follow_the_community_time_zone(moment: datetime, timezone: str, week: str) -> None:
    assert IsoWeek.of(moment, timezone).label == week


def test_a_week_with_a_clock_change_has_167_hours() -> None:
    start, end = IsoWeek.parse("2026-W13").bounds("Europe/Berlin")  # 29 March 2026
    assert start == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    # Subtracting two Berlin datetimes would give wall-clock time (168 h); instants differ by 167.
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=167)


@pytest.mark.parametrize("text", ["2026-W47", "2026-w47", " 2026-W47 ", "2026-W7"])
def test_weeks_parse(text: str) -> None:
    assert IsoWeek.parse(text.upper()).label in ("2026-W47", "2026-W07")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-47", "is not an ISO week"),
        ("KW47", "is not an ISO week"),
        ("2026-W00", "2026 has no ISO week 0"),
        ("2025-W53", "2025 has no ISO week 53"),
        ("2026-W54", "2026 has no ISO week 54"),
    ],
)
def test_malformed_weeks_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IsoWeek.parse(text)


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("Wie stelle ich die Bremse ein?", True),
        ("How do I adjust the brakes?", True),
        ("Weiß jemand was? https://example.com/x?y=1", True),
        ("kennt ihr example.com?", True),  # the "?" ends the sentence, not the link
        ("Schaut mal: https://example.com/?q=1", False),
        ("See https://example.com/search?q=bike", False),
        ("`is this code?`", False),
        ("> Wer hat gefragt?\nIch nicht.", False),
        ("Danke, hat geholfen!", False),
        ("Thanks, that worked.", False),
    ],
)
def test_questions(text: str, question: bool) -> None:
    assert is_question(text) is question


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(17, 4, 325.0), (3, 4, -25.0), (4, 4, 0.0), (5, 3, 66.7), (5, 0, None)],
)
def test_trend(current: int, previous: int, expected: float | None) -> None:
    assert trend(current, previous) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([5.0], 5.0),
        ([10.0, 30.0, 60.0, 120.0], 120.0),
        ([float(v) for v in range(1, 11)], 9.0),
    ],
)
def test_p90_is_the_nearest_rank(values: list[float], expected: float | None) -> None:
    assert percentile_nearest_rank(values, 0.9) == expected


@pytest.mark.parametrize(
    ("chat", "guilds", "url"),
    [
        ("telegram:-1001234", [], "https://t.me/c/1234/42"),
        ("telegram:-4567", [], None),  # a basic group has no message links
        ("discord:987", [555], "https://discord.com/channels/555/987/42"),
        ("discord:987", [555, 556], None),  # which guild? no link rather than a wrong one
        ("console:general", [], None),
    ],
)
def test_message_links(chat: str, guilds: list[int], url: str | None) -> None:
    from bot.config import CommunitySection

    community = Community(CommunitySection(name="c", discord_guilds=guilds), "de", "UTC", {}, {})
    found = message_link(community, chat, "42")
    assert found == MessageLink(f"{chat}#42", chat, "42", url)
