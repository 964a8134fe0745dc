"""The engine: idempotency, feature order, commands and permissions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select

from bot.actions import React, Reply
from bot.events import CommandIssued, Event, Member, MessagePosted, ReactionAdded
from bot.features.base import CommandSpec, Context, Decision, FeatureSettings, Outcome
from storage import models
from tests.conftest import MakeApp, MakeChat, introduce


class EchoSettings(FeatureSettings):
    """Settings of the echo feature."""

    prefix: str = "echo"


class Echo:
    """Answers every message and remembers the order it saw events in."""

    name: ClassVar[str] = "echo"
    settings_model: ClassVar[type[FeatureSettings]] = EchoSettings
    handles: ClassVar[tuple[type[Event], ...]] = (MessagePosted, ReactionAdded)
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("ping", "/ping", "core.help_help"),
        CommandSpec("purge", "/purge", "core.help_help", moderator_only=True),
    )

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, event: Any, ctx: Context[EchoSettings]) -> Outcome:
        self.seen.append(event.key)
        if isinstance(event, CommandIssued):
            return Outcome(actions=[Reply(chat=event.chat, text=f"/{event.name} ok")])
        if isinstance(event, ReactionAdded):
            return Outcome(
                actions=[React(chat=event.chat, message_id=event.message_id, emoji="👀")]
            )
        return Outcome(
            actions=[Reply(chat=event.chat, text=f"{ctx.settings.prefix}: {event.text}")],
            decisions=[
                Decision(
                    "echo",
                    event.message_id,
                    {"mentions": list(event.mentions), "reply_author": event.reply_author},
                )
            ],
        )


def posted(number: int, text: str = "hallo") -> MessagePosted:
    return MessagePosted(
        key=f"test:c:{number}",
        community="demo",
        chat="console:general",
        at=datetime(2026, 11, 16, 9, number, tzinfo=UTC),
        message_id=str(number),
        author=Member(key="console:alice", name="alice", username="alice"),
        text=text,
    )


async def test_same_event_twice_changes_nothing(make_app: MakeApp) -> None:
    echo = Echo()
    app = await make_app(features=[echo])
    first = await app.engine.process(posted(1))
    again = await app.engine.process(posted(1))
    assert [a.text for a in first.actions if isinstance(a, Reply)] == ["echo: hallo"]
    assert again.duplicate and again.actions == [] and again.decisions == []
    assert echo.seen == ["test:c:1"]
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(models.Message)) == 1
        kinds = (await session.execute(select(models.Decision.kind))).scalars().all()
        assert sorted(kinds) == ["echo", "reply"]


async def test_batch_is_idempotent_and_commits(make_app: MakeApp) -> None:
    app = await make_app(features=[Echo()])
    async with app.engine.batch(size=3):
        for n in range(1, 8):
            await app.engine.process(posted(n))
    async with app.engine.batch(size=3):
        results = [await app.engine.process(posted(n)) for n in range(1, 8)]
    assert all(r.duplicate for r in results)
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(models.Message)) == 7


async def test_mentions_by_name_are_resolved(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    await chat.say("bob", "hi")
    await chat.say("alice", "danke @bob und @nobody")
    echoed = [d.data for d in chat.decisions if d.kind == "echo"]
    assert echoed[-1] == {"mentions": ["console:bob"], "reply_author": None}


@pytest.mark.parametrize("impostor_first", [True, False])
async def test_a_mention_means_the_username_and_no_shared_display_name(
    make_chat: MakeChat, impostor_first: bool
) -> None:
    chat = await make_chat(features=[Echo()])
    real = ("console:111", "Alice Real", "alice")
    impostor = ("console:222", "alice", "mallory")
    for member in (impostor, real) if impostor_first else (real, impostor):
        await introduce(chat, *member)
    await introduce(chat, "console:301", "Anna", None)
    await introduce(chat, "console:302", "anna", None)
    await chat.say("bob", "danke @alice und @Anna")
    echoed = [d.data for d in chat.decisions if d.kind == "echo"]
    assert echoed[-1] == {"mentions": ["console:111"], "reply_author": None}


async def test_features_see_the_author_of_the_message_replied_to(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    question = await chat.say("bob", "Wie geht das?")
    await chat.say("alice", "So!", reply_to=question)
    await chat.say("carol", "Und das?", reply_to=99)  # a message never stored
    echoed = [d.data["reply_author"] for d in chat.decisions if d.kind == "echo"]
    assert echoed == [None, "console:bob", None]


async def test_commands_route_and_refuse_non_moderators(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    await chat.say("alice", "/ping")
    await chat.say("alice", "/purge")
    await chat.say("mod", "/purge")
    texts = [a.text for a in chat.sent if isinstance(a, Reply)]
    assert texts[0] == "/ping ok"
    assert "Moderator" in texts[1]
    assert texts[2] == "/purge ok"
    refused = [d.data for d in chat.decisions if d.kind == "refused"]
    assert refused == [{"command": "purge", "user": "console:alice"}]


async def test_help_lists_commands_for_the_caller(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    await chat.say("alice", "/help")
    await chat.say("mod", "/help")
    member_help, mod_help = (a.text for a in chat.sent if isinstance(a, Reply))
    assert "/ping" in member_help and "/purge" not in member_help
    assert "/purge" in mod_help


async def test_a_failing_feature_does_not_stop_the_others(make_chat: MakeChat) -> None:
    class Broken(Echo):
        name: ClassVar[str] = "broken"
        commands: ClassVar[tuple[CommandSpec, ...]] = ()

        async def handle(self, event: Any, ctx: Context[EchoSettings]) -> Outcome:
            raise RuntimeError("bug")

    chat = await make_chat(features=[Broken(), Echo()])
    await chat.say("alice", "hallo")
    assert [a.text for a in chat.sent if isinstance(a, Reply)] == ["echo: hallo"]


async def test_a_database_failure_inside_a_feature_rolls_the_whole_event_back(
    make_chat: MakeChat,
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    failing = True

    class Storing(Echo):
        name: ClassVar[str] = "storing"
        commands: ClassVar[tuple[CommandSpec, ...]] = ()

        async def handle(self, event: Any, ctx: Context[EchoSettings]) -> Outcome:
            if failing:
                raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
            return Outcome()

    chat = await make_chat(features=[Storing(), Echo()])
    with pytest.raises(OperationalError):
        await chat.send(posted(1))
    # Nothing of the event was kept, so handling it again stores it whole.
    failing = False
    result = await chat.send(posted(1))
    assert not result.duplicate
    assert [a.text for a in result.actions if isinstance(a, Reply)] == ["echo: hallo"]


async def test_chat_override_switches_a_feature_off(make_chat: MakeChat) -> None:
    extra = """
[communities.chats."console:offtopic".echo]
enabled = false
"""
    chat = await make_chat(extra, features=[Echo()])
    await chat.say("alice", "one", chat="offtopic")
    await chat.say("alice", "two", chat="general")
    assert [a.text for a in chat.sent if isinstance(a, Reply)] == ["echo: two"]


async def test_unknown_community_is_ignored(make_app: MakeApp) -> None:
    app = await make_app(features=[Echo()])
    result = await app.engine.process(replace(posted(1), community="nowhere"))
    assert result.actions == []
