"""Translation of recorded Discord payloads (fixtures/*.json) into core events.

The payloads go through discord.py's own parsers (a ConnectionState without a connection),
so the translate functions see exactly the objects the running client hands them.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord import translate as tr
from bot.commands import ParsedCommand
from bot.events import (
    ButtonPressed,
    CommandIssued,
    Event,
    Member,
    MemberJoined,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)

FIXTURES = Path(__file__).parent / "fixtures"
GUILD, GENERAL, MODS, FORUM = (
    600000000000000001,
    600000000000000010,
    600000000000000011,
    600000000000000012,
)
THREAD, POST = 600000000000000020, 600000000000000021
TEAM_ROLE = 600000000000000101
ALICE, BOB, CAROL, DAVE, OTHERBOT, BOT = (
    500000000000000001,
    500000000000000002,
    500000000000000003,
    500000000000000004,
    500000000000000009,
    500000000000000099,
)
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
# When the bot received a reaction or a delete (their payloads carry no time).
AT = datetime(2026, 11, 16, 10, 30, tzinfo=UTC)
AT_MS = 1794825000000
DISCORD_EPOCH_MS = 1_420_070_400_000

ALICE_M = Member(key=f"discord:{ALICE}", name="Alice A.", username="alice")
BOB_M = Member(key=f"discord:{BOB}", name="bob", username="bob")
CAROL_M = Member(key=f"discord:{CAROL}", name="Carol", username="carol")
DAVE_M = Member(key=f"discord:{DAVE}", name="Dave", username="dave")
OTHERBOT_M = Member(key=f"discord:{OTHERBOT}", name="otherbot", username="otherbot", is_bot=True)

SCOPE = tr.Scope(
    community="radler",
    bot_id=BOT,
    commands=frozenset({"karma", "top", "help"}),
    bot_username="Leumund",
)


def sf(minutes: int) -> str:
    """The snowflake id the fixtures use for a message sent ``minutes`` after T0."""
    ms = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return str((ms - DISCORD_EPOCH_MS) << 22)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


class Recorded:
    """discord.py's ConnectionState fed with recorded payloads: no network, no gateway."""

    def __init__(self) -> None:
        self.client = discord.Client(intents=discord.Intents.all())
        self.state = self.client._connection
        self.dispatched: list[tuple[str, tuple[Any, ...]]] = []
        self.state.dispatch = lambda name, *args: self.dispatched.append((name, args))
        data = load("state")
        self.state.user = discord.ClientUser(state=self.state, data=data["bot"])
        self.guild = discord.Guild(data=data["guild"], state=self.state)
        self.state._add_guild(self.guild)

    def feed(self, name: str) -> tuple[str, Any]:
        """Parse one recorded dispatch; the first event discord.py emits for it."""
        payload = load(name)
        start = len(self.dispatched)
        self.state.parsers[payload["t"]](payload["d"])
        event, args = self.dispatched[start]
        return event, args[0]


def translate(
    name: str,
    scope: tr.Scope = SCOPE,
    *,
    parent: int | None = None,
    user: int | None = None,
) -> Event | list[MessageDeleted] | None:
    """Run a fixture through discord.py and the matching translate function."""
    recorded = Recorded()
    kind, obj = recorded.feed(name)
    reactor = recorded.guild.get_member(user) if user is not None else None
    match kind:
        case "message":
            return tr.message_event(obj, scope, parent)
        case "raw_message_edit":
            return tr.edit_event(obj, scope, parent)
        case "raw_message_delete" | "raw_bulk_message_delete":
            return tr.delete_events(obj, scope, AT, parent)
        case "raw_reaction_add" | "raw_reaction_remove":
            return tr.reaction_event(obj, scope, AT, reactor, parent)
        case "member_join":
            return tr.join_event(obj, scope)
        case "interaction":
            return tr.slash_event(obj, scope) or tr.button_event(obj, scope)
    raise AssertionError(f"no translation for {kind}")


def posted(minutes: int, author: Member, text: str, **fields: Any) -> MessagePosted:
    channel = fields.pop("channel", GENERAL)
    return MessagePosted(
        key=f"discord:{channel}:{sf(minutes)}",
        community="radler",
        chat=fields.pop("chat", f"discord:{channel}"),
        at=at(minutes),
        message_id=sf(minutes),
        author=author,
        text=text,
        **{"author_is_moderator": False, **fields},
    )


def command(
    minutes: int, author: Member, name: str, args: tuple[str, ...], **fields: Any
) -> CommandIssued:
    return CommandIssued(
        key=f"discord:{GENERAL}:{sf(minutes)}",
        community="radler",
        chat=f"discord:{GENERAL}",
        at=at(minutes),
        name=name,
        args=args,
        author=author,
        message_id=sf(minutes),
        **{"author_is_moderator": False, **fields},
    )


MENTIONS_TEXT = f"Thanks <@{BOB}> and <@{OTHERBOT}>, <@{BOT}> please note <@&600000000000000100>"
ROLE_SCOPE = dataclasses.replace(SCOPE, moderator_roles=frozenset({"moderation-team"}))
ROLE_ID_SCOPE = dataclasses.replace(SCOPE, moderator_roles=frozenset({str(TEAM_ROLE)}))
BOT_FRIENDLY = dataclasses.replace(SCOPE, ignore_other_bots=False)
ANY_COMMAND = dataclasses.replace(SCOPE, commands=None)

CASES: list[tuple[str, str, dict[str, Any], object]] = [
    (
        "German message",
        "message_de",
        {},
        posted(1, BOB_M, "Hat jemand Erfahrung mit Scheibenbremsen?"),
    ),
    (
        "English message",
        "message_en",
        {},
        posted(2, CAROL_M, "Does anyone know a good bike shop in Kiel?"),
    ),
    (
        "reply by a moderator (Manage Messages through a role)",
        "reply",
        {},
        posted(
            4,
            ALICE_M,
            "Schraube am Hebel eine halbe Drehung lösen.",
            reply_to=sf(3),
            author_is_moderator=True,
        ),
    ),
    (
        "user mentions count, the bot, other bots and roles do not",
        "mentions",
        {},
        posted(5, CAROL_M, MENTIONS_TEXT, mentions=(f"discord:{BOB}",)),
    ),
    (
        "other bots mentioned count when they are not ignored",
        "mentions",
        {"scope": BOT_FRIENDLY},
        posted(5, CAROL_M, MENTIONS_TEXT, mentions=(f"discord:{BOB}", f"discord:{OTHERBOT}")),
    ),
    (
        "thread message: the parent channel's chat, the thread id",
        "thread_message",
        {},
        posted(
            6,
            BOB_M,
            "Danke, jetzt bremst es wieder!",
            channel=THREAD,
            chat=f"discord:{GENERAL}",
            thread=str(THREAD),
        ),
    ),
    (
        "forum post: the forum's chat, the post id",
        "forum_post",
        {},
        posted(
            7,
            CAROL_M,
            "I would go for a Brooks saddle.",
            channel=POST,
            chat=f"discord:{FORUM}",
            thread=str(POST),
        ),
    ),
    (
        "edit keyed by its edit time",
        "edit",
        {},
        MessageEdited(
            key=f"discord:{GENERAL}:{sf(1)}:edit:2026-11-16T09:09:00+00:00",
            community="radler",
            chat=f"discord:{GENERAL}",
            at=at(9),
            message_id=sf(1),
            author=BOB_M,
            text="Hat jemand Erfahrung mit hydraulischen Scheibenbremsen?",
        ),
    ),
    ("an embed unfurl is no edit", "edit_embed_only", {}, None),
    (
        "delete",
        "delete",
        {},
        [
            MessageDeleted(
                key=f"discord:{GENERAL}:{sf(5)}:deleted",
                community="radler",
                chat=f"discord:{GENERAL}",
                at=AT,
                message_id=sf(5),
            )
        ],
    ),
    (
        "bulk delete, oldest first",
        "delete_bulk",
        {},
        [
            MessageDeleted(
                key=f"discord:{GENERAL}:{sf(n)}:deleted",
                community="radler",
                chat=f"discord:{GENERAL}",
                at=AT,
                message_id=sf(n),
            )
            for n in (1, 2)
        ],
    ),
    (
        "reaction added",
        "reaction_add",
        {},
        ReactionAdded(
            key=f"discord:{GENERAL}:{sf(4)}:reaction:{CAROL}:👍:+:{AT_MS}",
            community="radler",
            chat=f"discord:{GENERAL}",
            at=AT,
            message_id=sf(4),
            user=CAROL_M,
            emoji="👍",
        ),
    ),
    (
        "custom emoji in a thread (parent looked up by the adapter)",
        "reaction_add_custom",
        {"parent": GENERAL},
        ReactionAdded(
            key=(f"discord:{THREAD}:{sf(6)}:reaction:{BOB}:<:danke:600000000000000900>:+:{AT_MS}"),
            community="radler",
            chat=f"discord:{GENERAL}",
            at=AT,
            message_id=sf(6),
            user=BOB_M,
            emoji="<:danke:600000000000000900>",
        ),
    ),
    (
        "reaction removed, the member looked up by the adapter",
        "reaction_remove",
        {"user": CAROL},
        ReactionRemoved(
            key=f"discord:{GENERAL}:{sf(4)}:reaction:{CAROL}:👍:-:{AT_MS}",
            community="radler",
            chat=f"discord:{GENERAL}",
            at=AT,
            message_id=sf(4),
            user=CAROL_M,
            emoji="👍",
        ),
    ),
    (
        "reaction removed by someone unknown: known by id",
        "reaction_remove",
        {},
        ReactionRemoved(
            key=f"discord:{GENERAL}:{sf(4)}:reaction:{CAROL}:👍:-:{AT_MS}",
            community="radler",
            chat=f"discord:{GENERAL}",
            at=AT,
            message_id=sf(4),
            user=Member(key=f"discord:{CAROL}", name=str(CAROL)),
            emoji="👍",
        ),
    ),
    ("the bot's own reaction", "reaction_by_bot", {}, None),
    (
        "member join",
        "member_join",
        {},
        MemberJoined(
            key=f"discord:{GUILD}:join:{DAVE}:2026-11-16T09:10:00+00:00",
            community="radler",
            chat=f"discord-guild:{GUILD}",
            at=at(10),
            member=DAVE_M,
        ),
    ),
    (
        "slash command with free text and a member option",
        "slash_command",
        {},
        CommandIssued(
            key=f"discord:{GENERAL}:interaction:{sf(11)}",
            community="radler",
            chat=f"discord:{GENERAL}",
            at=at(11),
            name="karma",
            args=("why", "letzte Woche", "@bob"),
            author=CAROL_M,
            message_id=sf(11),
            author_is_moderator=False,
        ),
    ),
    (
        "button pressed by a moderator",
        "button",
        {},
        ButtonPressed(
            key=f"discord:{MODS}:interaction:{sf(13)}",
            community="radler",
            chat=f"discord:{MODS}",
            at=at(13),
            custom_id="case:7:confirm",
            user=ALICE_M,
            message_id=sf(12),
            user_is_moderator=True,
        ),
    ),
    ("the bot's own message", "own_message", {}, None),
    ("another bot's message", "other_bot", {}, None),
    (
        "another bot's message when bots are not ignored",
        "other_bot",
        {"scope": BOT_FRIENDLY},
        posted(15, OTHERBOT_M, "Neue Angebote jeden Tag!"),
    ),
    (
        "command typed as text, the mention becomes @username",
        "text_command",
        {},
        command(16, CAROL_M, "karma", ("why", "@bob")),
    ),
    (
        "!command replying to a message",
        "bang_command",
        {},
        command(17, BOB_M, "top", (), reply_to=sf(3), reply_to_author=BOB_M),
    ),
    (
        "an unknown /word is an ordinary message",
        "unknown_command",
        {},
        posted(18, BOB_M, "/shrug das weiß ich nicht"),
    ),
    (
        "every /word is a command when no command list is given",
        "unknown_command",
        {"scope": ANY_COMMAND},
        command(18, BOB_M, "shrug", ("das", "weiß", "ich", "nicht")),
    ),
    (
        "a role without Manage Messages makes no moderator",
        "moderator_by_role",
        {},
        posted(19, CAROL_M, "I will look into it.", channel=MODS),
    ),
    (
        "a configured moderator role, by name",
        "moderator_by_role",
        {"scope": ROLE_SCOPE},
        posted(19, CAROL_M, "I will look into it.", channel=MODS, author_is_moderator=True),
    ),
    (
        "a configured moderator role, by id",
        "moderator_by_role",
        {"scope": ROLE_ID_SCOPE},
        posted(19, CAROL_M, "I will look into it.", channel=MODS, author_is_moderator=True),
    ),
    (
        "forwarded message: the forwarded text, no reply",
        "forwarded",
        {},
        posted(20, BOB_M, "Jetzt 50 % Rabatt bei uns!", forwarded=True),
    ),
    ("a system message (member joined) is no post", "system_message", {}, None),
]


@pytest.mark.parametrize(
    ("fixture", "options", "expected"),
    [pytest.param(f, o, e, id=title) for title, f, o, e in CASES],
)
def test_recorded_payloads(fixture: str, options: dict[str, Any], expected: object) -> None:
    rest = dict(options)
    scope = rest.pop("scope", SCOPE)
    assert translate(fixture, scope, **rest) == expected


def test_every_fixture_is_used() -> None:
    used = {fixture for _, fixture, _, _ in CASES} | {"state"}
    assert used == {p.stem for p in FIXTURES.glob("*.json")}


@pytest.mark.parametrize(
    ("text", "scope", "expected"),
    [
        ("/karma why", SCOPE, ParsedCommand("karma", ("why",))),
        ("/karma@Leumund", SCOPE, ParsedCommand("karma", ())),
        ("/karma@AndererBot", SCOPE, None),
        ("!top", SCOPE, ParsedCommand("top", ())),
        (f"<@{BOT}> karma warum", SCOPE, ParsedCommand("karma", ("warum",))),
        (f"<@!{BOT}> /help", SCOPE, ParsedCommand("help", ())),
        (f"<@{BOB}> karma", SCOPE, None),
        ("/ban bob", SCOPE, None),
        ("/ban bob", ANY_COMMAND, ParsedCommand("ban", ("bob",))),
        ("danke /karma", SCOPE, None),
        ("thanks!", SCOPE, None),
    ],
)
def test_text_commands(text: str, scope: tr.Scope, expected: ParsedCommand | None) -> None:
    assert tr.text_command(text, scope) == expected


@pytest.mark.parametrize(
    ("channel", "parent", "expected"),
    [
        (GENERAL, None, (f"discord:{GENERAL}", None)),
        (THREAD, GENERAL, (f"discord:{GENERAL}", str(THREAD))),
        (GENERAL, GENERAL, (f"discord:{GENERAL}", None)),
    ],
)
def test_place(channel: int, parent: int | None, expected: tuple[str, str | None]) -> None:
    assert tr.place(channel, parent) == expected


@pytest.mark.parametrize(
    ("key", "prefix", "expected"),
    [
        ("discord:123", "discord:", 123),
        ("discord-guild:77", "discord-guild:", 77),
        ("discord-guild:77", "discord:", None),
        ("telegram:123", "discord:", None),
        ("discord:abc", "discord:", None),
    ],
)
def test_snowflake(key: str, prefix: str, expected: int | None) -> None:
    assert tr.snowflake(key, prefix) == expected


def test_reactions_add_remove_add_are_distinct_events() -> None:
    first = translate("reaction_add")
    removed = translate("reaction_remove", user=CAROL)
    recorded = Recorded()
    _, raw = recorded.feed("reaction_add")
    again = tr.reaction_event(raw, SCOPE, AT + timedelta(seconds=3), None, None)
    assert isinstance(first, ReactionAdded) and isinstance(removed, ReactionRemoved)
    assert isinstance(again, ReactionAdded)
    assert len({first.key, removed.key, again.key}) == 3
    assert again.key == f"discord:{GENERAL}:{sf(4)}:reaction:{CAROL}:👍:+:{AT_MS + 3000}"
