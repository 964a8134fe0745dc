"""Hostile messages through the whole engine: bounded time, data kept as sent, no pings.

Every hostile message is timed on its own and must take less than ``BOUND`` seconds. That
bound is generous on purpose: it guards against super-linear blow-ups (100 kB of "danke "
took minutes before the fix), it is not a benchmark.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel, col
from telegram import Bot, Update

from adapters.console import ConsoleChat
from adapters.discord import translate as dtr
from adapters.discord.adapter import _escaped
from adapters.telegram.translate import TranslateContext, translate
from bot.actions import Action, DirectMessage, PostSummary, Reply, ReviewRequest
from bot.events import ButtonPressed, MessagePosted
from bot.features.complaints import detect as complaints_detect
from bot.features.karma import detect as karma_detect
from bot.locales import get_locale
from bot.text import MAX_MENTIONS, fold
from storage import models
from tests.adapters.discord.test_translate import SCOPE, Recorded, load
from tests.adapters.telegram import test_adapter_e2e as telegram_e2e
from tests.conftest import MakeApp, MakeChat
from tests.fakes.telegram_api import FakeTelegramAPI, group, message_update, user

# Seconds one hostile message may take: a guard against super-linear blow-ups, not a
# benchmark (they ran for minutes; a normal message takes milliseconds).
BOUND = 2.0
SIZE = 100_000


def flood(unit: str, size: int = SIZE) -> str:
    """``unit`` repeated to ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


HOSTILE = {
    # Each one once drove some part of the analysis into super-linear time, or could.
    "thanks": flood("danke "),
    "thanks cancelled later in the clause": flood("thanks so much, in advance "),
    "prayer emoji (a weak thanks)": flood("🙏 "),
    "digits": flood("1"),
    "prices": flood("12345 € "),
    "zero-width flood": flood("\u200b"),
    "zero-width inside words": flood("d\u200ba\u200bn\u200bk\u200be "),
    "bidi overrides": flood("\u202eknad\u202c \u2066x\u2069 "),
    "links": flood("https://spam.example.com/x?y=1 "),
    "defanged links": flood("hxxp://x[.]com "),
    "zwj chain": flood("👨\u200d"),
    "at signs": flood("@a"),
    "backticks": flood("`"),
    "quoted lines": flood("> x\n"),
    "spaced letters": flood("d a n k e "),
    "nfkc expansion": flood("\ufdfa"),
    "combining marks": "a" + "\u0301" * (SIZE - 1),
    "shouting": flood("KAUFT JETZT "),
    "replacement characters": flood("\ufffd"),
    "complaints": flood("scheiß service, ich warte seit wochen!!! "),
}
SQL = "'; DROP TABLE messages; -- \" OR 1=1; DELETE FROM members WHERE ''='"
SMALL = {
    "sql injection": SQL,
    "markdown and pings": "**fett** [klick](https://evil.example) ||s|| @everyone <@&6000001>",
    "control characters": "".join(map(chr, range(1, 32))) + "\x7f\x85",
    "a command full of quotes": '/karma why "@bob',
}


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """Errors logged while the test runs (the engine logs a feature that raised)."""
    with caplog.at_level(logging.ERROR):
        yield caplog.records


def failures(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR]


async def stored_texts(chat: ConsoleChat) -> dict[str, str | None]:
    async with chat.engine.db.session() as session:
        rows = (await session.execute(select(models.Message))).scalars().all()
    return {row.message_id: row.text for row in rows}


async def timed(chat: ConsoleChat, who: str, text: str, **kw: Any) -> tuple[int, float]:
    started = time.perf_counter()
    number = await chat.say(who, text, **kw)
    return number, time.perf_counter() - started


# --- the engine ---------------------------------------------------------------------------


async def test_hostile_messages_take_bounded_time_and_are_kept_as_sent(
    make_chat: MakeChat, errors: list[logging.LogRecord]
) -> None:
    chat = await make_chat()
    question = await chat.say("bob", "Wie flicke ich einen Schlauch?")
    sent: dict[str, str] = {}
    for name, text in {**HOSTILE, **SMALL}.items():
        number, seconds = await timed(chat, "alice", text, reply_to=question)
        assert seconds < BOUND, f"{name}: {seconds:.2f} s"
        sent[str(number)] = text
    stored = await stored_texts(chat)
    commands = {str(n) for n, line in enumerate(chat.lines, 1) if line.text.startswith("/karma")}
    assert {k: v for k, v in sent.items() if k not in commands} == {
        k: stored[k] for k in sent if k not in commands
    }
    assert failures(errors) == [], "no feature may fail on hostile text"
    # Still answering: an ordinary thanks gives karma right after the flood.
    answer = await chat.say("carla", "Flicken drauf, fest andrücken.", reply_to=question)
    before = len(chat.decisions)
    await chat.say("bob", "danke, hat geholfen!", reply_to=answer)
    assert [d.data.get("receiver") for d in chat.decisions[before:] if d.kind == "karma"] == [
        "console:carla"
    ]


async def test_sql_in_names_and_texts_is_stored_literally(make_chat: MakeChat) -> None:
    chat = await make_chat()
    evil = "Robert'); DROP TABLE members;--"
    question = await chat.say(evil, SQL)
    answer = await chat.say(
        "bob", "1'; UPDATE karma_ledger SET points = 1000; --", reply_to=question
    )
    await chat.say(evil, "danke!", reply_to=answer)
    await chat.say("bob", f'/karma why "@{evil}"')
    async with chat.engine.db.session() as session:
        # Every table is still there and readable.
        for table in SQLModel.metadata.sorted_tables:
            await session.execute(select(func.count()).select_from(table))
        member = select(models.Member).where(col(models.Member.key) == f"console:{evil}")
        assert (await session.execute(member)).scalar_one().name == evil
        points = select(col(models.KarmaEntry.receiver), col(models.KarmaEntry.points))
        ledger = (await session.execute(points)).all()
    assert (await stored_texts(chat))["1"] == SQL
    assert [(receiver, round(p, 2)) for receiver, p in ledger] == [("console:bob", 1.0)]


async def test_forgetting_a_member_leaves_a_member_whose_key_holds_theirs(
    make_chat: MakeChat,
) -> None:
    chat = await make_chat()
    question = await chat.say("bob", "Wer weiß was?")
    await chat.say("console:x", "Ich!", reply_to=question)  # the member console:console:x
    await chat.say("x", "Ich auch.", reply_to=question)  # the member console:x
    await chat.say("x", "/forgetme")
    await chat.say("x", "/forgetme confirm")
    async with chat.engine.db.session() as session:
        rows = (await session.execute(select(models.Message))).scalars().all()
    assert {row.message_id: row.author for row in rows}["2"] == "console:console:x"


# --- what the bot says about members ---------------------------------------------------------

EVERYONE, HERE, ROLE, USER = "@everyone", "@here", "<@&600000000000000100>", "<@500000000000000002>"
MARKDOWN = "*fett* __u__ `c` ~~w~~ ||s|| [klick](https://evil.example)"
HTML = "<b>fett</b> <a href='https://evil.example'>x</a>"
NAMES = [EVERYONE, HERE, ROLE, USER, MARKDOWN, HTML]
PINGS = (EVERYONE, HERE, ROLE, USER)
# Markdown the name carries: after the Discord adapter's escaping no sequence may be left
# without a backslash in front.
FORMATTING = ["*fett*", "__u__", "`c`", "~~w~~", "||s||", "[klick](https://evil.example)"]


def texts(actions: list[Action]) -> list[str]:
    kinds = Reply | ReviewRequest | DirectMessage | PostSummary
    return [a.text for a in actions if isinstance(a, kinds)]


async def press(chat: ConsoleChat, who: str, custom_id: str) -> None:
    await chat.send(
        ButtonPressed(
            key=f"console:mods:press:{who}:{custom_id}",
            community="demo",
            chat="console:mods",
            at=chat.clock(),
            custom_id=custom_id,
            user=chat.member(who),
            message_id="99",
        )
    )


@pytest.mark.parametrize("language", ["de", "en"])
async def test_names_the_bot_repeats_ping_nobody_and_format_nothing(
    make_chat: MakeChat, language: str
) -> None:
    chat = await make_chat(language=language)  # moderator_chat is console:mods
    for name in NAMES:
        question = await chat.say("bob", "Wie flicke ich einen Schlauch? How do I fix it?")
        answer = await chat.say(name, "Flicken drauf, fest andrücken.", reply_to=question)
        await chat.say("bob", "danke, hat geholfen! thanks!", reply_to=answer)
        await chat.say("mod", "/warn spam", reply_to=answer)
        await chat.say(name, "/karma")
        await chat.say(name, "Der Service ist eine Frechheit, ich warte seit Wochen!!! Terrible!")
        await chat.say(name, "Jetzt kaufen https://shop.example.com/deal billig!!! " * 3)
    for case in {a.case_id for a in chat.sent if isinstance(a, ReviewRequest)}:
        for name in NAMES:
            await press(chat, name, f"case:{case}:confirm")
    await chat.say("bob", "/top all")
    await chat.say("mod", "/summary now current")

    said = texts(chat.sent)
    # Not vacuous: every name is repeated by the bot, in replies and in the summary.
    for marker in ("everyone", "here", "600000000000000100", "fett", "evil.example"):
        assert sum(marker in t for t in said) >= 4, marker
    assert any(isinstance(a, PostSummary) for a in chat.sent)
    # Replies, reviews and private messages defuse every ping; the chat summary shows names
    # as typed, and the adapters switch mentions off (allowed_mentions on Discord).
    for action in chat.sent:
        if isinstance(action, Reply | ReviewRequest | DirectMessage):
            for ping in PINGS:
                assert ping not in action.text, (ping, action.text)
    # Discord renders Markdown: after the adapter's escaping nothing a name carries formats.
    for action in chat.sent:
        escaped = _escaped(action)
        if not isinstance(escaped, Reply | ReviewRequest | DirectMessage | PostSummary):
            continue
        for sequence in FORMATTING:
            assert re.search(r"(?<!\\)" + re.escape(sequence), escaped.text) is None, (
                sequence,
                escaped.text,
            )


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(token=telegram_e2e.TOKEN) as fake:
        fake.admins[(telegram_e2e.CHAT_ID, telegram_e2e.BOT_ID)] = "administrator"
        yield fake


async def test_telegram_shows_names_as_plain_text(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    # Without a parse mode Telegram renders neither Markdown nor HTML: what a name carries
    # is shown as typed.
    app, _, adapter = await telegram_e2e.start(make_app, tg)
    text = f"⚠️ {MARKDOWN} {HTML} @\u200beveryone has been warned"
    async with telegram_e2e.running(app, adapter):
        delivery = await adapter.execute(Reply(chat=f"telegram:{telegram_e2e.CHAT_ID}", text=text))
    [call] = tg.calls_to("sendMessage")
    assert delivery.ok and call.params["text"] == text
    assert "parse_mode" not in call.params and "entities" not in call.params


# --- invalid UTF-8, nested entities and 10,000 mentions on the platforms' paths ---------------

TG_CONTEXT = TranslateContext(
    bot_id=999, bot_username="leumund_bot", communities={-1001: "demo"}, private_community="demo"
)
TG_CHAT = group(-1001, "Radler")
BROKEN = "kaputt \udcff\udcfe und \x00 \ud800 hier"  # undecodable bytes, a NUL, a lone half
REPAIRED = "kaputt \ufffd\ufffd und \ufffd \ufffd hier"


def telegram_update(text: str, entities: list[dict[str, Any]], name: str = "Ann") -> Update:
    raw = message_update(TG_CHAT, user(1, name, username="ann"), text, entities=entities)
    return Update.de_json({"update_id": 1, **raw}, Bot("123:ABC"))


async def test_telegram_text_that_utf8_cannot_hold_is_stored_repaired(make_app: MakeApp) -> None:
    app = await make_app()
    mention = {"type": "mention", "offset": len(BROKEN) + 1, "length": 4}
    update = telegram_update(f"{BROKEN} @bob", [mention], name="Ann \udcff\x00")
    [event] = translate(update, TG_CONTEXT, now=datetime.now(UTC))
    assert isinstance(event, MessagePosted)
    # The offsets still point at "@bob": U+FFFD takes one UTF-16 unit, like what it replaces.
    assert event.mentions == ("@bob",)
    await app.engine.process(event)  # the database refuses nothing
    async with app.db.session() as session:
        row = (await session.execute(select(models.Message))).scalar_one()
        author = (await session.execute(select(models.Member))).scalar_one()
    assert (row.text, author.name) == (f"{REPAIRED} @bob", "Ann \ufffd\ufffd")


async def test_telegram_nested_entities_and_ten_thousand_mentions(make_app: MakeApp) -> None:
    app = await make_app()
    text = " ".join(f"@user{n}" for n in range(10_000))
    text = (text + " " + flood("x", SIZE))[:SIZE]
    flat = [
        {"type": "mention", "offset": m.start(), "length": len(m.group())}
        for m in re.finditer(r"@user\d+", text)
    ]
    # 10,000 entities nested into each other over the whole text, and bold ones on top.
    nested = [{"type": "mention", "offset": i, "length": SIZE - 2 * i} for i in range(10_000)]
    nested += [{"type": "bold", "offset": i, "length": SIZE - 2 * i} for i in range(5_000)]
    update = telegram_update(text, flat + nested)
    started = time.perf_counter()
    [event] = translate(update, TG_CONTEXT, now=datetime.now(UTC))
    assert time.perf_counter() - started < BOUND  # Message.parse_entities took seconds
    assert isinstance(event, MessagePosted)
    assert event.mentions == tuple(f"@user{n}" for n in range(MAX_MENTIONS))
    started = time.perf_counter()
    await app.engine.process(event)
    assert time.perf_counter() - started < BOUND  # each @name costs the engine a lookup


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    return Recorded()


def discord_message(recorded: Recorded, **changes: Any) -> discord.Message:
    payload = copy.deepcopy(load("message_de")["d"])
    payload.update(changes)
    start = len(recorded.dispatched)
    recorded.state.parsers["MESSAGE_CREATE"](payload)
    [message] = [args[0] for name, args in recorded.dispatched[start:] if name == "message"]
    assert isinstance(message, discord.Message)
    return message


async def test_discord_broken_text_and_ten_thousand_mentions(
    make_app: MakeApp, recorded: Recorded
) -> None:
    app = await make_app()
    scope = dataclasses.replace(SCOPE, community="demo")
    people = [
        {
            "id": str(400000000000000000 + n),
            "username": f"u{n}",
            "discriminator": "0",
            "avatar": None,
        }
        for n in range(10_000)
    ]
    member = dict(load("message_de")["d"]["member"], nick="Bob \udcff\x00")
    content = BROKEN + " " + " ".join(f"<@{p['id']}>" for p in people[:50])
    started = time.perf_counter()
    event = dtr.message_event(
        discord_message(recorded, content=content, mentions=people, member=member), scope
    )
    assert isinstance(event, MessagePosted)
    assert event.text.startswith(REPAIRED) and event.author.name == "Bob \ufffd\ufffd"
    assert len(event.mentions) == MAX_MENTIONS
    await app.engine.process(event)
    assert time.perf_counter() - started < BOUND
    async with app.db.session() as session:
        row = (await session.execute(select(models.Message))).scalar_one()
    assert row.text == event.text and len(row.mentions) == MAX_MENTIONS


async def test_console_text_with_undecodable_bytes(make_chat: MakeChat) -> None:
    chat = await make_chat()
    await chat.say("alice", BROKEN)
    assert (await stored_texts(chat))["1"] == REPAIRED


# --- the fixes, checked against the code they replaced -------------------------------------


def _reference_scan(body: str, language: str | None) -> karma_detect.ThanksScan:
    """scan_thanks as it was before the fix (quadratic in the number of thanks)."""
    kd = karma_detect
    lexicon = kd._lexicon(kd._languages(language))
    found: kd.ThanksMatch | None = None
    weak: kd.ThanksMatch | None = None
    cancelled: str | None = None
    for hit, entry in kd._hits(lexicon, body):
        if entry.kind == kd.SARCASM:
            return kd.ThanksScan(match=found, sarcasm=hit.group())
        if entry.kind == kd.NOT_THANKS:
            cancelled = cancelled or hit.group()
            continue
        if lexicon.cancel_after is not None:
            end = kd._CLAUSE_END.search(body, hit.end())
            clause = body[hit.end() : end.start() if end else len(body)]
            after = lexicon.cancel_after.search(clause)
            if after is not None:
                cancelled = cancelled or body[hit.start() : hit.end() + after.end()]
                continue
        match = kd.ThanksMatch(phrase=entry.phrase, text=hit.group(), language=entry.language)
        if not any(c.isalnum() for c in entry.phrase):
            weak = weak or match
        elif found is None:
            found = match
    if found is not None:
        return kd.ThanksScan(match=found)
    if weak is not None:
        if cancelled is None and "?" not in body:
            return kd.ThanksScan(match=weak)
        return kd.ThanksScan(match=None, cancelled_by=cancelled, weak=weak.text)
    return kd.ThanksScan(match=None, cancelled_by=cancelled)


def _lexicon_words() -> list[str]:
    words: set[str] = set()
    for language in ("de", "en"):
        locale = get_locale(language)
        for name in ("thanks", "not_thanks", "thanks_cancel_after", "thanks_sarcasm"):
            words.update(fold(entry.removesuffix("$")) for entry in locale.lexicon(name))
    return sorted(w for w in words if w)


_fragments = st.sampled_from(
    [*_lexicon_words(), " ", " ", ", ", ".", "!", "?", "\n", "x", "sehr", "so much", "🙏", "@", "/"]
)


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(_fragments, max_size=14), language=st.sampled_from(["de", "en", None]))
def test_the_thanks_scan_answers_as_before(parts: list[str], language: str | None) -> None:
    body = "".join(parts)
    assert karma_detect.scan_thanks(body, language) == _reference_scan(body, language)


_MONEY_NEW = complaints_detect._lexicons().trigger.rest
assert _MONEY_NEW is not None
_MONEY_OLD = re.compile(_MONEY_NEW.pattern.replace(r"\d(?<!\d\d)\d*", r"\d+"))


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("0123456789 €$£eurosdlabckpn.,x\n"), max_size=30))
def test_the_money_pre_check_answers_as_before(text: str) -> None:
    assert _MONEY_OLD.pattern != _MONEY_NEW.pattern
    assert (_MONEY_NEW.search(text) is None) == (_MONEY_OLD.search(text) is None)


async def test_ten_thousand_at_names_through_the_engine_take_bounded_time(
    make_chat: MakeChat,
) -> None:
    chat = await make_chat()
    for name in ("bob", "carla"):
        await chat.say(name, "Hallo!")
    flood = " ".join(["@bob", "@carla", *(f"@user{n}" for n in range(10_000))])
    _number, seconds = await timed(chat, "alice", flood)
    assert seconds < BOUND, f"{seconds:.2f} s"
    async with chat.engine.db.session() as session:
        row = (
            await session.execute(select(models.Message).where(models.Message.message_id == "3"))
        ).scalar_one()
    # The names that exist are resolved; the lookups stop at MAX_MENTIONS.
    assert row.mentions == ["console:bob", "console:carla"]
