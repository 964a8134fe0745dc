"""Reactions, edits and deletions, and the fast path that needs no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from adapters.console import ConsoleChat
from bot.actions import React
from bot.app import default_config
from bot.config import SettingsResolver
from bot.events import Member, MessageEdited, MessagePosted, ReactionAdded, ReactionRemoved
from bot.features.base import Context
from bot.features.karma import KarmaFeature, KarmaSettings
from bot.locales import get_locale
from storage import models
from storage.repositories import Store
from tests.conftest import MakeChat


def key(name: str) -> str:
    return f"console:{name}"


def kinds(chat: ConsoleChat, *wanted: str) -> list[tuple[str, dict[str, Any]]]:
    return [(d.kind, dict(d.data)) for d in chat.decisions if d.kind in wanted]


async def ledger(chat: ConsoleChat) -> list[tuple[str | None, str, float, str, str | None]]:
    async with chat.engine.db.session() as session:
        rows = (
            await session.execute(select(models.KarmaEntry).order_by(models.KarmaEntry.id))  # type: ignore[arg-type]
        ).scalars()
        return [(r.giver, r.receiver, r.points, r.reason, r.emoji) for r in rows]


async def totals(chat: ConsoleChat) -> dict[str, float]:
    async with chat.engine.db.session() as session:
        return await Store(session).karma.totals("demo")


@pytest.mark.parametrize(
    ("emoji", "counts"),
    [
        ("👍", True),
        ("👍🏽", True),
        ("🙏", True),
        ("✅", True),
        ("❤️", True),
        ("❤", True),
        ("🎉", True),
        ("⭐", True),
        ("😂", False),
        ("👎", False),
    ],
)
async def test_which_reactions_count(make_chat: MakeChat, emoji: str, counts: bool) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    answer = await chat.say("bob", "Versuch mal einen Neustart.")
    await chat.react("carol", answer, emoji)
    expected = [(key("carol"), key("bob"), 0.5, "reaction")] if counts else []
    assert [(g, r, p, reason) for g, r, p, reason, _ in await ledger(chat)] == expected
    # A reaction is itself visible: the bot does not acknowledge it.
    assert [a for a in chat.sent if isinstance(a, React)] == []


async def test_removing_a_reaction_takes_back_exactly_that_award(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    answer = await chat.say("bob", "Try restarting it.")
    await chat.react("carol", answer, "👍🏽")
    await chat.react("dave", answer, "👍")
    await chat.react("carol", answer, "🎉")  # same pair within the cooldown: blocked
    await chat.react("carol", answer, "🎉", remove=True)  # nothing to take back
    await chat.react("carol", answer, "👍🏽", remove=True)
    assert await ledger(chat) == [
        (key("carol"), key("bob"), 0.5, "reaction", "👍"),
        (key("dave"), key("bob"), 0.5, "reaction", "👍"),
        (key("carol"), key("bob"), -0.5, "reversal", "👍"),
    ]
    reversed_ = kinds(chat, "karma_reversed")
    assert reversed_ == [
        (
            "karma_reversed",
            {
                "giver": key("carol"),
                "receiver": key("bob"),
                "points": -0.5,
                "reverses": 1,
                "entry": 3,
                "cause": "reaction_removed",
            },
        )
    ]
    assert await totals(chat) == {key("bob"): 0.5}


async def test_reaction_rules(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    own = await chat.say("bob", "Meine eigene Antwort")
    await chat.react("bob", own, "👍")
    await chat.react("bot", own, "👍")
    await chat.react("carol", own, "👍")
    await chat.react("carol", own, "👍", remove=True)
    await chat.react("carol", own, "👍")  # toggling does not farm: the cooldown holds
    blocked = [(d["giver"], d["rule"]) for _, d in kinds(chat, "karma_blocked")]
    assert blocked == [(key("bob"), "self"), (key("bot"), "bot"), (key("carol"), "cooldown")]
    assert await totals(chat) == {key("bob"): 0.0}


async def test_reaction_to_an_unknown_message_does_nothing(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    await chat.say("bob", "hallo")
    await chat.send(
        ReactionAdded(
            key="r1",
            community="demo",
            chat="console:general",
            at=chat.clock(),
            message_id="999",
            user=chat.member("carol"),
            emoji="👍",
        )
    )
    assert chat.decisions == [] and await ledger(chat) == []


@pytest.mark.parametrize(
    ("language", "thanks", "edited", "reversed_"),
    [
        ("de", "Danke @bob!", "Ach nee, geht doch nicht.", True),
        ("de", "Danke @bob!", "Danke @bob, läuft!", False),
        ("en", "Thanks @bob!", "Never mind, still broken.", True),
        ("en", "Thanks @bob!", "Thanks a lot @bob!", False),
    ],
)
async def test_editing_thanks_into_something_else_reverses_it(
    make_chat: MakeChat, language: str, thanks: str, edited: str, reversed_: bool
) -> None:
    chat = await make_chat(features=[KarmaFeature()], language=language)
    await chat.say("bob", "hi")
    number = await chat.say("alice", thanks)
    await chat.edit("alice", number, edited)
    assert len(kinds(chat, "karma_reversed")) == int(reversed_)
    assert await totals(chat) == {key("bob"): 0.0 if reversed_ else 1.0}
    async with chat.engine.db.session() as session:
        message = await Store(session).messages.get("console:general", str(number))
        assert message is not None and message.is_thanks is not reversed_


async def test_editing_into_thanks_earns_nothing(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    await chat.say("bob", "hi")
    number = await chat.say("alice", "Hm, mal sehen @bob")
    await chat.edit("alice", number, "Danke @bob!")
    assert chat.decisions == [] and await ledger(chat) == []


async def test_deleting_thanks_or_answer_reverses_their_karma(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    answer = await chat.say("bob", "Stecker ziehen.")
    thanks = await chat.say("alice", "Danke!", reply_to=answer)
    await chat.react("carol", answer, "⭐")
    await chat.delete(thanks)
    assert await totals(chat) == {key("bob"): 0.5}
    await chat.delete(answer)
    assert await totals(chat) == {key("bob"): 0.0}
    causes = [(d["receiver"], d["points"], d["cause"]) for _, d in kinds(chat, "karma_reversed")]
    assert causes == [(key("bob"), -1.0, "deleted"), (key("bob"), -0.5, "deleted")]
    await chat.delete(thanks)  # a redelivered deletion changes nothing
    assert len(kinds(chat, "karma_reversed")) == 2


async def test_thanks_are_acknowledged_with_a_reaction_by_default(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    answer = await chat.say("bob", "So geht's.")
    thanks = await chat.say("alice", "Danke!", reply_to=answer)
    await chat.say("alice", "Danke im Voraus!")
    assert chat.sent == [React(chat="console:general", message_id=str(thanks), emoji="✨")]
    async with chat.engine.db.session() as session:
        message = await Store(session).messages.get("console:general", str(thanks))
        assert message is not None and message.is_thanks


# --- the fast path --------------------------------------------------------------------------


class NoStore:
    """Fails on any database use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"no database work expected, but store.{name} was used")


def bare_context() -> Context[KarmaSettings]:
    config = default_config("sqlite+aiosqlite:///unused.db", features=[KarmaFeature()])
    community = config.community("demo")
    assert community is not None
    return Context(
        settings=KarmaSettings(),
        store=NoStore(),  # type: ignore[arg-type]
        config=config,
        community=community,
        locale=get_locale("de"),
        resolver=SettingsResolver(config),
        now=datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
    )


ALICE = Member(key="console:alice", name="alice")
BASE: dict[str, Any] = {
    "key": "k",
    "community": "demo",
    "chat": "console:general",
    "at": datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
}


@pytest.mark.parametrize(
    "event",
    [
        MessagePosted(**BASE, message_id="1", author=ALICE, text="Wie starte ich den Router neu?"),
        MessagePosted(**BASE, message_id="1", author=ALICE, text="The build fails on main"),
        MessagePosted(**BASE, message_id="1", author=ALICE, text="Danke im Voraus!"),
        ReactionAdded(**BASE, message_id="1", user=ALICE, emoji="😂"),
        ReactionRemoved(**BASE, message_id="1", user=ALICE, emoji="👎"),
        MessageEdited(**BASE, message_id="1", author=ALICE, text="Danke @bob!"),
    ],
)
async def test_ordinary_events_need_no_database(event: Any) -> None:
    outcome = await KarmaFeature().handle(event, bare_context())
    assert outcome.actions == [] and outcome.decisions == []
