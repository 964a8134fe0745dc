"""Every moderator command, sub-command and button is refused to members, in every form.

Forms: the console, Telegram's ``/cmd@Bot`` through its translate function, Discord's
text commands (``/cmd``, ``!cmd``, ``@Bot cmd``), slash commands and buttons through
theirs. Karma cannot be given through the bot's own messages on either platform.
"""

from __future__ import annotations

import copy
import functools
import itertools
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Bot, Update

from adapters.discord import translate as dtr
from adapters.telegram.translate import TranslateContext, translate
from bot.actions import Reply
from bot.app import App
from bot.events import ButtonPressed, CommandIssued, Event, Member, MessagePosted
from bot.features import all_features
from bot.features.moderation.cases import VERBS as CASE_VERBS
from bot.features.moderation.warnings import WARNINGS_CASE
from bot.features.promo.feature import ACTIONS as PROMO_VERBS
from storage import models
from storage.repositories import Store
from tests.adapters.discord.test_translate import BOT as DISCORD_BOT
from tests.adapters.discord.test_translate import SCOPE, Recorded, load
from tests.conftest import MakeApp, MakeChat
from tests.fakes.telegram_api import (
    callback_query_update,
    group,
    message,
    message_update,
    reaction_update,
    user,
)

# Sub-commands of member commands that only moderators may use.
SUBCOMMANDS = ["/karma give @bob 5 nett", "/karma take @bob 5 falsch"]
MODERATOR_COMMANDS = sorted(
    f"/{spec.name}"
    for feature in all_features()
    for spec in feature.commands
    if spec.moderator_only
)


def test_the_list_is_not_empty() -> None:
    assert {"/warn", "/case", "/config", "/trust", "/flags", "/summary"} <= set(MODERATOR_COMMANDS)


@pytest.mark.parametrize("command", MODERATOR_COMMANDS + SUBCOMMANDS)
async def test_members_are_refused(make_chat: MakeChat, command: str) -> None:
    chat = await make_chat()
    await chat.say("bob", "hallo")
    await chat.say("alice", command)
    replies = [a for a in chat.sent if isinstance(a, Reply)]
    assert replies, f"{command}: no answer"
    assert any(d.kind == "refused" for d in chat.decisions), f"{command}: not refused"
    assert not any(d.kind in ("mod_action", "karma") for d in chat.decisions)


@pytest.mark.parametrize("command", MODERATOR_COMMANDS + SUBCOMMANDS)
async def test_moderators_are_not_refused(make_chat: MakeChat, command: str) -> None:
    chat = await make_chat()
    await chat.say("bob", "hallo")
    await chat.say("mod", command)
    assert not any(d.kind == "refused" for d in chat.decisions), command


# --- every platform form ---------------------------------------------------------------
#
# The commands above come from the console. Below they come as each platform sends them,
# through the adapters' own translate functions, from a member without rights.

TG_CONTEXT = TranslateContext(
    bot_id=999, bot_username="leumund_bot", communities={-1001: "demo"}, private_community="demo"
)
TG_CHAT = group(-1001, "Radler")
TG_MEMBER = user(2, "Bob", username="bob")
TG_BOT = user(999, "Leumund", username="leumund_bot", is_bot=True)
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
COMMANDS = MODERATOR_COMMANDS + SUBCOMMANDS


def addressed(command: str, bot: str) -> str:
    """``/karma give …`` as ``/karma@Bot give …``."""
    name, _, rest = command.partition(" ")
    return f"{name}@{bot} {rest}".rstrip()


@functools.cache
def telegram_bot() -> Bot:
    return Bot("123:ABC")  # never initialised: no request leaves the process


def telegram(update: dict[str, Any]) -> list[Event]:
    return translate(
        Update.de_json({"update_id": 1, **update}, telegram_bot()), TG_CONTEXT, now=NOW
    )


async def assert_refused(app: App, events: list[Event], what: str) -> None:
    [event] = events
    result = await app.engine.process(event)
    kinds = [d.kind for d in result.decisions]
    assert "refused" in kinds, f"{what}: not refused ({kinds})"
    assert not {"mod_action", "karma", "warning"} & set(kinds), f"{what}: {kinds}"
    assert any(isinstance(a, Reply) for a in result.actions), f"{what}: no answer"


@pytest.mark.parametrize(
    "rights",
    [
        pytest.param(False, id="telegram-says-member"),
        pytest.param(None, id="telegram-does-not-answer"),
    ],
)
async def test_telegram_commands_addressed_to_the_bot_are_refused(
    make_app: MakeApp, rights: bool | None
) -> None:
    app = await make_app()
    question = message(TG_CHAT, user(3, "Carla"), "Frage?", message_id=1)
    telegram({"message": question})
    # The bot's name as BotFather spells it and in other letter cases.
    forms = zip(COMMANDS, itertools.cycle(["leumund_bot", "Leumund_Bot", "LEUMUND_BOT"]))
    for number, (command, bot) in enumerate(forms, start=10):
        text = addressed(command, bot)
        update = message_update(TG_CHAT, TG_MEMBER, text, message_id=number, reply_to=question)
        # The adapter fills in what getChatMember said (False), or leaves None.
        events = [replace(e, author_is_moderator=rights) for e in telegram(update)]
        assert isinstance(events[0], CommandIssued) and events[0].reply_to == "1"
        await assert_refused(app, events, text)


def discord_text(recorded: Recorded, content: str, number: int) -> list[Event]:
    payload = copy.deepcopy(load("text_command")["d"])
    payload.update(id=str(1571816095088640000 + number), content=content)
    start = len(recorded.dispatched)
    recorded.state.parsers["MESSAGE_CREATE"](payload)
    [message_object] = [a[0] for name, a in recorded.dispatched[start:] if name == "message"]
    event = dtr.message_event(message_object, DISCORD_SCOPE)
    return [] if event is None else [event]


def discord_slash(recorded: Recorded, command: str, number: int) -> list[Event]:
    name, _, rest = command.removeprefix("/").partition(" ")
    payload = copy.deepcopy(load("slash_command")["d"])
    payload["id"] = str(1571814836797440000 + number)
    payload["data"]["name"] = name
    payload["data"]["options"] = [{"name": "args", "type": 3, "value": rest}] if rest else []
    start = len(recorded.dispatched)
    recorded.state.parsers["INTERACTION_CREATE"](payload)
    [interaction] = [a[0] for n, a in recorded.dispatched[start:] if n == "interaction"]
    event = dtr.slash_event(interaction, DISCORD_SCOPE)
    return [] if event is None else [event]


def engine_commands() -> frozenset[str]:
    return frozenset(spec.name for feature in all_features() for spec in feature.commands)


DISCORD_SCOPE = replace(SCOPE, community="demo", commands=engine_commands() | {"help"})


@pytest.mark.parametrize(
    "form", ["/{}", "!{}", f"<@{DISCORD_BOT}> {{}}", f"<@!{DISCORD_BOT}> /{{}}"]
)
async def test_discord_text_commands_are_refused(make_app: MakeApp, form: str) -> None:
    app = await make_app()
    recorded = Recorded()
    for number, command in enumerate(COMMANDS):
        events = discord_text(recorded, form.format(command.removeprefix("/")), number)
        assert isinstance(events[0], CommandIssued) and events[0].author_is_moderator is False
        await assert_refused(app, events, f"{form}: {command}")


async def test_discord_slash_commands_are_refused(make_app: MakeApp) -> None:
    app = await make_app()
    recorded = Recorded()
    for number, command in enumerate(COMMANDS):
        events = discord_slash(recorded, command, number)
        assert isinstance(events[0], CommandIssued) and events[0].author_is_moderator is False
        await assert_refused(app, events, f"slash {command}")


# --- every moderator button ----------------------------------------------------------------

# Moderation decides the buttons of every case but promo's (karma rings, warnings,
# complaints); promo decides its own.
CASE_KINDS = ("ring", WARNINGS_CASE, "complaint")
CASE_BUTTONS = [(kind, verb) for kind in CASE_KINDS for verb in CASE_VERBS] + [
    ("promo", verb) for verb in PROMO_VERBS
]


async def open_cases(app: App) -> dict[str, int]:
    """One open case of every kind that has buttons, about bob."""
    numbers = {}
    async with app.db.session() as session:
        for kind in (*CASE_KINDS, "promo"):
            case = await Store(session).cases.open(
                models.Case(
                    community="demo",
                    kind=kind,
                    subject="console:bob",
                    chat="console:general",
                    message_id="1",
                    summary=f"{kind} summary",
                    evidence={},
                    opened_at=NOW,
                )
            )
            assert case.id is not None
            numbers[kind] = case.id
        await session.commit()
    return numbers


async def case_statuses(app: App) -> set[str]:
    async with app.db.session() as session:
        rows = (await session.execute(select(models.Case))).scalars().all()
    return {row.status for row in rows}


def console_press(custom_id: str, number: int) -> list[Event]:
    member = Member(key="console:alice", name="alice", username="alice")
    return [
        ButtonPressed(
            key=f"console:mods:press:{number}",
            community="demo",
            chat="console:mods",
            at=NOW,
            custom_id=custom_id,
            user=member,
            message_id="99",
        )
    ]


def telegram_press(custom_id: str, number: int) -> list[Event]:
    posted = message(TG_CHAT, TG_BOT, "Fall", message_id=500 + number)
    update = callback_query_update(TG_MEMBER, posted, custom_id, id=f"q{number}")
    # The adapter asks getChatMember; for a member it fills in False.
    return [replace(e, user_is_moderator=False) for e in telegram(update)]


def discord_press(recorded: Recorded, custom_id: str, number: int) -> list[Event]:
    payload = copy.deepcopy(load("button")["d"])
    payload["id"] = str(1571815340113920000 + number)
    payload["data"]["custom_id"] = custom_id
    payload["member"] = copy.deepcopy(load("slash_command")["d"]["member"])  # carol, no rights
    start = len(recorded.dispatched)
    recorded.state.parsers["INTERACTION_CREATE"](payload)
    [interaction] = [a[0] for n, a in recorded.dispatched[start:] if n == "interaction"]
    event = dtr.button_event(interaction, DISCORD_SCOPE)
    assert event is not None and event.user_is_moderator is False
    return [event]


@pytest.mark.parametrize("platform", ["console", "telegram", "discord"])
async def test_members_pressing_any_moderator_button_are_refused(
    make_app: MakeApp, platform: str
) -> None:
    app = await make_app()
    cases = await open_cases(app)
    recorded = Recorded()
    for number, (kind, verb) in enumerate(CASE_BUTTONS):
        custom_id = f"case:{cases[kind]}:{verb}"
        if platform == "console":
            events = console_press(custom_id, number)
        elif platform == "telegram":
            events = telegram_press(custom_id, number)
        else:
            events = discord_press(recorded, custom_id, number)
        await assert_refused(app, events, f"{platform}: {custom_id}")
    assert await case_statuses(app) == {"open"}


# --- karma through the bot's own messages ---------------------------------------------------


async def karma_rows(app: App) -> list[models.KarmaEntry]:
    async with app.db.session() as session:
        return list((await session.execute(select(models.KarmaEntry))).scalars().all())


async def test_telegram_gives_no_karma_through_the_bots_own_messages(make_app: MakeApp) -> None:
    app = await make_app()
    events: list[Event] = []
    own = message(TG_CHAT, TG_BOT, "Danke @bob, gern geschehen!", message_id=2)
    events += telegram({"message": own})  # the bot's own message: not even an event
    thanks = message_update(TG_CHAT, TG_MEMBER, "danke, hat geholfen!", message_id=3, reply_to=own)
    events += telegram(thanks)
    events += telegram(reaction_update(TG_CHAT, TG_MEMBER, message_id=2, new=["👍"]))
    events += telegram(reaction_update(TG_CHAT, TG_BOT, message_id=3, new=["👍"]))
    assert [type(e).__name__ for e in events] == ["MessagePosted", "ReactionAdded"]
    decisions = []
    for event in events:
        decisions += (await app.engine.process(event)).decisions
    assert await karma_rows(app) == []
    assert not any(d.kind == "karma" for d in decisions)
    # The same thanks to a member's message does give karma: the path is not simply dead.
    answer = message(TG_CHAT, user(3, "Carla"), "Flicken drauf.", message_id=4)
    for update in (
        {"message": answer},
        message_update(TG_CHAT, TG_MEMBER, "danke!", reply_to=answer),
    ):
        for event in telegram(update):
            await app.engine.process(event)
    assert [(k.giver, k.receiver) for k in await karma_rows(app)] == [("telegram:2", "telegram:3")]


async def test_discord_gives_no_karma_through_the_bots_own_messages(make_app: MakeApp) -> None:
    app = await make_app()
    recorded = Recorded()
    events: list[Event] = []
    # The bot's own message and its own reaction are no events at all.
    _, own = recorded.feed("own_message")
    assert dtr.message_event(own, DISCORD_SCOPE) is None
    _, raw = recorded.feed("reaction_by_bot")
    assert dtr.reaction_event(raw, DISCORD_SCOPE, NOW) is None
    # A member's thanks in reply to the bot's message, and a 👍 on it.
    payload = copy.deepcopy(load("reply")["d"])
    payload["id"] = str(int(payload["id"]) + 1)
    payload["content"] = "danke, hat geholfen!"
    payload["author"] = copy.deepcopy(load("text_command")["d"]["author"])  # carol
    payload["referenced_message"] = copy.deepcopy(load("own_message")["d"])
    payload["message_reference"]["message_id"] = own.id
    start = len(recorded.dispatched)
    recorded.state.parsers["MESSAGE_CREATE"](payload)
    [reply_object] = [a[0] for n, a in recorded.dispatched[start:] if n == "message"]
    thanks = dtr.message_event(reply_object, DISCORD_SCOPE)
    assert isinstance(thanks, MessagePosted) and thanks.reply_to == str(own.id)
    events.append(thanks)
    reaction = copy.deepcopy(load("reaction_add")["d"])
    reaction["message_id"] = str(own.id)
    start = len(recorded.dispatched)
    recorded.state.parsers["MESSAGE_REACTION_ADD"](reaction)
    [raw_reaction] = [a[0] for n, a in recorded.dispatched[start:] if n == "raw_reaction_add"]
    added = dtr.reaction_event(raw_reaction, DISCORD_SCOPE, NOW)
    assert added is not None and added.message_id == str(own.id)
    events.append(added)
    decisions = []
    for event in events:
        decisions += (await app.engine.process(event)).decisions
    assert await karma_rows(app) == []
    assert not any(d.kind == "karma" for d in decisions)
    # The same 👍 on a member's message does give karma: the path is not simply dead.
    _, answer = recorded.feed("reply")
    _, liked = recorded.feed("reaction_add")
    control = [
        dtr.message_event(answer, DISCORD_SCOPE),
        dtr.reaction_event(liked, DISCORD_SCOPE, NOW),
    ]
    for event in control:
        assert event is not None
        await app.engine.process(event)
    assert [(k.giver, k.receiver) for k in await karma_rows(app)] == [
        (f"discord:{liked.user_id}", f"discord:{answer.author.id}")
    ]
