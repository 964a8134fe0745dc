"""End to end: the real discord.py client in DiscordAdapter, against the local FakeDiscord."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import discord
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from adapters.base import Delivery
from adapters.discord import DiscordAdapter
from bot.actions import (
    Button,
    Delete,
    DirectMessage,
    PostSummary,
    React,
    Reply,
    Restrict,
    ReviewRequest,
    SetRole,
)
from bot.app import App
from bot.events import (
    ButtonPressed,
    CommandIssued,
    Event,
    MemberJoined,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.features.base import CommandSpec, Context, FeatureSettings, Outcome
from bot.locales import get_locale
from bot.runtime import Runtime
from storage import models
from tests.conftest import MakeApp
from tests.fakes.discord_api import FakeDiscord, channel, member, role, user

BOT_ID = 900_000_000_000_000_001
GID = 820_000_000_000_000_001
GENERAL = 820_000_000_000_000_010
MODS = 820_000_000_000_000_011
THREAD = 820_000_000_000_000_012
MOD_ROLE = 820_000_000_000_000_100
LEVEL_ROLE = 820_000_000_000_000_101
UNKNOWN_GID = 830_000_000_000_000_001
UNKNOWN_CHANNEL = 830_000_000_000_000_010
ALICE_ID = 700_000_000_000_000_001
BOB_ID = 700_000_000_000_000_002
CAROL_ID = 700_000_000_000_000_003
OTHER_BOT_ID = 700_000_000_000_000_009

ALICE = user(ALICE_ID, "alice")
BOB = user(BOB_ID, "bob")
CAROL = user(CAROL_ID, "carol")
OTHER_BOT = user(OTHER_BOT_ID, "otherbot", bot=True)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40
WAIT = 4.0

CONFIG = f"""
[bot]
database_url = "sqlite+aiosqlite:///unused.db"
language = "de"

[discord]
enabled = true
{{discord_extra}}

[[communities]]
name = "demo"
discord_guilds = [{GID}]
moderator_chat = "discord:{MODS}"
"""


class ProbeSettings(FeatureSettings):
    """Settings of the probe feature."""


class Probe:
    """Answers like a feature would, and remembers every event it saw."""

    name: ClassVar[str] = "probe"
    settings_model: ClassVar[type[FeatureSettings]] = ProbeSettings
    handles: ClassVar[tuple[type[Event], ...]] = (
        MessagePosted,
        MessageEdited,
        MessageDeleted,
        ReactionAdded,
        ReactionRemoved,
        MemberJoined,
        ButtonPressed,
    )
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("ping", "/ping [@name] [text]", "core.help_help"),
        CommandSpec("purge", "/purge", "core.help_help", moderator_only=True),
        CommandSpec("slow", "/slow", "core.help_help"),
        CommandSpec("quiet", "/quiet", "core.help_help"),
        CommandSpec("mydata", "/mydata", "core.help_help"),
    )

    def __init__(self) -> None:
        self.seen: list[Event] = []

    async def handle(self, event: Any, ctx: Context[ProbeSettings]) -> Outcome:
        self.seen.append(event)
        if isinstance(event, CommandIssued) and event.name == "slow":
            await asyncio.sleep(0.3)
            return Outcome(
                actions=[Reply(chat=event.chat, text="endlich", reply_to=event.message_id)]
            )
        if isinstance(event, CommandIssued) and event.name == "quiet":
            return Outcome()
        if isinstance(event, CommandIssued) and event.name == "mydata":
            data = DirectMessage(
                chat=event.chat, member=event.author.key, text="Your data", attachment=b'{"a": 1}'
            )
            return Outcome(actions=[data])
        if isinstance(event, CommandIssued):
            text = " ".join(("pong", *event.args))
            return Outcome(actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)])
        if isinstance(event, ButtonPressed):
            text = f"{event.custom_id} von {event.user.name}"
            return Outcome(actions=[Reply(chat=event.chat, text=text)])
        if not isinstance(event, MessagePosted):
            return Outcome()
        words = re.findall(r"\w+", event.text.lower())
        if "ping" in words:
            return Outcome(
                actions=[
                    Reply(chat=event.chat, text="pong", reply_to=event.message_id),
                    React(chat=event.chat, message_id=event.message_id, emoji="👀"),
                ]
            )
        if "review" in words:
            moderators = ctx.community.section.moderator_chat or event.chat
            buttons = (
                Button(label="Bestätigen", custom_id="case:7:confirm"),
                Button(label="Verwerfen", custom_id="case:7:dismiss"),
            )
            return Outcome(
                actions=[ReviewRequest(chat=moderators, case_id=7, text="Fall 7", buttons=buttons)]
            )
        if "summary" in words:
            return Outcome(
                actions=[
                    PostSummary(
                        chat=event.chat, text="Woche: 3 Danke", image=PNG, image_name="w.png"
                    )
                ]
            )
        return Outcome()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.seen]


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bot_id=BOT_ID, bot_name="Leumund") as fake:
        add_guilds(fake)
        yield fake


def add_guilds(fake: FakeDiscord) -> None:
    thread = channel(THREAD, "Hilfe-Faden", guild_id=GID, type=11, parent_id=GENERAL)
    thread["thread_metadata"] = {
        "archived": False,
        "auto_archive_duration": 1440,
        "archive_timestamp": "2026-11-16T09:00:00+00:00",
        "locked": False,
    }
    thread["owner_id"] = str(ALICE_ID)
    thread["member_count"] = 1
    thread["message_count"] = 0
    mod_permissions = discord.Permissions(manage_messages=True, moderate_members=True).value
    fake.add_guild(
        GID,
        "Radler",
        channels=[(GENERAL, "allgemein"), (MODS, "mods")],
        members=[member(ALICE, [MOD_ROLE]), member(BOB), member(CAROL), member(OTHER_BOT)],
        roles=[role(MOD_ROLE, "Mods", mod_permissions), role(LEVEL_ROLE, "Helfer", 0)],
        owner_id=ALICE_ID,
    )
    # The thread is known over REST only (archived threads are not in the gateway cache).
    fake.add_rest_channel(thread)
    fake.add_guild(
        UNKNOWN_GID,
        "Fremd",
        channels=[(UNKNOWN_CHANNEL, "general")],
        members=[member(ALICE), member(BOB)],
        owner_id=ALICE_ID,
    )


async def make(
    make_app: MakeApp, features: list[Any], discord_extra: str = ""
) -> tuple[App, DiscordAdapter]:
    app = await make_app(
        config_text=CONFIG.replace("{discord_extra}", discord_extra), features=features
    )
    adapter = DiscordAdapter.from_app(app, token="fake-token", guild_ready_timeout=0.05)
    return app, adapter


@asynccontextmanager
async def running(app: App, adapter: DiscordAdapter) -> AsyncIterator[Runtime]:
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    task = asyncio.create_task(runtime.run())
    try:
        await asyncio.wait_for(adapter.ready.wait(), WAIT)
        yield runtime
    finally:
        runtime.stop()
        await asyncio.wait_for(task, WAIT)


async def until(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``check`` (sync or async) until it holds; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def of_kind(probe: Probe, kind: type[Event]) -> list[Any]:
    return [e for e in probe.seen if isinstance(e, kind)]


@pytest.mark.parametrize(
    ("text", "language"), [("ping, wer kann helfen?", "de"), ("ping, anyone around?", "en")]
)
async def test_message_reply_reaction_and_incoming_reaction(
    make_app: MakeApp, dc: FakeDiscord, text: str, language: str
) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    async with running(app, adapter):
        await dc.message_create(GID, GENERAL, OTHER_BOT, "ping from another bot")
        sent = await dc.message_create(GID, GENERAL, ALICE, text)
        mid = int(sent["id"])
        [post] = await dc.wait_for_request("POST", f"/channels/{GENERAL}/messages")
        assert post.json["content"] == "pong"
        assert post.json["message_reference"]["message_id"] == mid
        assert post.json["message_reference"]["fail_if_not_exists"] is False
        assert post.json["allowed_mentions"] == {"parse": []}
        [put] = await dc.wait_for_request("PUT", "/reactions/")
        assert put.path == f"/channels/{GENERAL}/messages/{mid}/reactions/👀/@me"

        await dc.reaction_add(GID, GENERAL, mid, BOB_ID, "👍")
        await dc.reaction_remove(GID, GENERAL, mid, BOB_ID, "👍")
        await until(lambda: len(of_kind(probe, ReactionRemoved)) == 1, "the removed reaction")

    [posted] = of_kind(probe, MessagePosted)
    assert (posted.chat, posted.message_id, posted.text) == (f"discord:{GENERAL}", str(mid), text)
    assert (posted.author.key, posted.author.name, posted.author_is_moderator) == (
        f"discord:{ALICE_ID}",
        "alice",
        True,
    )
    [added] = of_kind(probe, ReactionAdded)
    [removed] = of_kind(probe, ReactionRemoved)
    assert (added.user.key, added.emoji, added.message_id) == (f"discord:{BOB_ID}", "👍", str(mid))
    assert (removed.user.name, removed.emoji) == ("bob", "👍")
    # Neither the other bot's message nor the echo of the bot's own reply and reaction.
    assert probe.kinds() == ["MessagePosted", "ReactionAdded", "ReactionRemoved"]


async def test_review_buttons_come_back_also_after_a_restart(
    make_app: MakeApp, dc: FakeDiscord
) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    async with running(app, adapter):
        await dc.message_create(GID, GENERAL, BOB, "bitte review")
        [post] = await dc.wait_for_request("POST", f"/channels/{MODS}/messages")
        assert post.json["content"] == "Fall 7"
        buttons = post.json["components"][0]["components"]
        assert [(b["label"], b["custom_id"]) for b in buttons] == [
            ("Bestätigen", "case:7:confirm"),
            ("Verwerfen", "case:7:dismiss"),
        ]
        [review] = dc.channel_messages(MODS)
        click = await dc.button_click(GID, MODS, ALICE_ID, int(review["id"]), "case:7:confirm")
        await until(lambda: len(of_kind(probe, ButtonPressed)) == 1, "the button press")
        assert dc.interaction_responses(int(click["id"])) == [{"type": 6}]
        await dc.wait_for_request("POST", f"/channels/{MODS}/messages", count=2)

    # A new process knows nothing of the old message, and the button still works.
    restarted = DiscordAdapter.from_app(app, token="fake-token", guild_ready_timeout=0.05)
    async with running(app, restarted):
        await dc.button_click(GID, MODS, BOB_ID, int(review["id"]), "case:7:dismiss")
        await until(lambda: len(of_kind(probe, ButtonPressed)) == 2, "the press after restart")
        await dc.wait_for_request("POST", f"/channels/{MODS}/messages", count=3)

    first, second = of_kind(probe, ButtonPressed)
    assert (first.custom_id, first.user.key, first.user_is_moderator) == (
        "case:7:confirm",
        f"discord:{ALICE_ID}",
        True,
    )
    assert (first.chat, first.message_id) == (f"discord:{MODS}", review["id"])
    assert (second.custom_id, second.user_is_moderator) == ("case:7:dismiss", False)
    replies = [m["content"] for m in dc.sent_messages(MODS)]
    assert replies == ["Fall 7", "case:7:confirm von alice", "case:7:dismiss von bob"]


async def test_failing_action_is_logged_and_not_fatal(
    make_app: MakeApp, dc: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    caplog.set_level(logging.WARNING)
    async with running(app, adapter):
        dc.fail_next("POST", f"/channels/{GENERAL}/messages", 403, "Missing Permissions", 50013)
        first = await dc.message_create(GID, GENERAL, BOB, "ping eins")
        await dc.wait_for_request("PUT", f"/messages/{first['id']}/reactions/")
        second = await dc.message_create(GID, GENERAL, BOB, "ping zwei")
        [_, ok] = await dc.wait_for_request("POST", f"/channels/{GENERAL}/messages", count=2)
        assert ok.status == 200
        assert ok.json["message_reference"]["message_id"] == int(second["id"])
    refused = [r for r in caplog.records if "Missing Permissions" in r.getMessage()]
    assert refused and refused[0].levelno == logging.WARNING
    assert "403" in refused[0].getMessage() and "50013" in refused[0].getMessage()
    assert [m["content"] for m in dc.sent_messages(GENERAL)] == ["pong"]


async def test_slash_commands_are_registered_and_answered(
    make_app: MakeApp, dc: FakeDiscord
) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    async with running(app, adapter):
        registered = {c["name"]: c for c in dc.commands(GID)}
        assert sorted(registered) == ["help", "mydata", "ping", "purge", "quiet", "slow"]
        assert [o["name"] for o in registered["ping"]["options"]] == ["args", "member"]
        assert registered["purge"]["options"] == []
        assert registered["help"]["description"] == "diese Hilfe"
        assert dc.commands(UNKNOWN_GID) == []

        options = [
            {"name": "args", "type": 3, "value": 'hallo "liebe Welt"'},
            {"name": "member", "type": 6, "value": str(BOB_ID)},
        ]
        ping = await dc.slash_command(GID, GENERAL, CAROL_ID, "ping", options)
        purge = await dc.slash_command(GID, GENERAL, CAROL_ID, "purge")
        await until(lambda: len(dc.interaction_responses()) == 2, "both interaction responses")

    [answer] = dc.interaction_responses(int(ping["id"]))
    assert answer["type"] == 4
    assert answer["data"]["content"] == "pong hallo liebe Welt @bob"
    assert answer["data"]["allowed_mentions"] == {"parse": []}
    [refusal] = dc.interaction_responses(int(purge["id"]))
    assert refusal["data"]["content"] == get_locale("de").t("core.moderators_only", command="purge")
    [command] = of_kind(probe, CommandIssued)  # /purge was refused before any feature ran
    assert (command.name, command.args, command.message_id) == (
        "ping",
        ("hallo", "liebe Welt", "@bob"),
        ping["id"],
    )
    assert (command.chat, command.author_is_moderator) == (f"discord:{GENERAL}", False)
    assert dc.sent_messages(GENERAL) == []


async def test_slow_quiet_and_private_slash_commands(make_app: MakeApp, dc: FakeDiscord) -> None:
    app, adapter = await make(make_app, [Probe()])
    adapter.defer_after = 0.05
    async with running(app, adapter):
        slow = await dc.slash_command(GID, GENERAL, BOB_ID, "slow")
        await dc.wait_for_request("PATCH", f"/{slow['token']}/messages/@original")
        quiet = await dc.slash_command(GID, GENERAL, BOB_ID, "quiet")
        await dc.wait_for_request("POST", f"/interactions/{quiet['id']}/")
        dc.fail_next("POST", "/messages", 403, "Cannot send messages to this user", 50007)
        private = await dc.slash_command(GID, GENERAL, BOB_ID, "mydata")
        [callback] = await dc.wait_for_request("POST", f"/interactions/{private['id']}/")
    # Slow: "thinking…" first, then the answer replaces the placeholder.
    assert dc.interaction_responses(int(slow["id"])) == [{"type": 5}]
    [edit] = [r for r in dc.requests if r.method == "PATCH" and slow["token"] in r.path]
    assert edit.json["content"] == "endlich"
    # Quiet: an ephemeral acknowledgement, so Discord does not report a failure.
    [ack] = dc.interaction_responses(int(quiet["id"]))
    assert (ack["type"], ack["data"]["content"], ack["data"]["flags"]) == (4, "✓", 64)
    # Direct messages closed: the data goes to the member alone, as an ephemeral answer.
    assert callback.json["data"]["content"] == "Your data"
    assert callback.json["data"]["flags"] == 64
    assert callback.files == {"data.json": b'{"a": 1}'}
    assert dc.sent_messages(GENERAL) == []


async def test_text_command_in_a_thread_is_answered_in_the_thread(
    make_app: MakeApp, dc: FakeDiscord
) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    async with running(app, adapter):
        command = await dc.message_create(GID, THREAD, CAROL, "/ping im Faden")
        [post] = await dc.wait_for_request("POST", f"/channels/{THREAD}/messages")
        assert post.json["content"] == "pong im Faden"
        assert post.json["message_reference"]["message_id"] == int(command["id"])
        plain = await dc.message_create(GID, THREAD, BOB, "ping")
        await dc.wait_for_request("PUT", f"/channels/{THREAD}/messages/{plain['id']}/reactions/")
    [posted] = of_kind(probe, MessagePosted)
    assert (posted.chat, posted.thread) == (f"discord:{GENERAL}", str(THREAD))


async def test_summary_uploads_the_chart(make_app: MakeApp, dc: FakeDiscord) -> None:
    app, adapter = await make(make_app, [Probe()])
    async with running(app, adapter):
        await dc.message_create(GID, GENERAL, ALICE, "summary bitte")
        [post] = await dc.wait_for_request("POST", f"/channels/{GENERAL}/messages")
    assert post.files == {"w.png": PNG}
    [embed] = post.json["embeds"]
    assert embed["description"] == "Woche: 3 Danke"
    assert embed["image"]["url"] == "attachment://w.png"


async def test_moderation_actions_and_direct_messages(make_app: MakeApp, dc: FakeDiscord) -> None:
    app, adapter = await make(make_app, [Probe()])
    chat = f"discord:{GENERAL}"
    async with running(app, adapter):
        spam = await dc.message_create(GID, GENERAL, BOB, "kauft billig")
        until_ = datetime.now(UTC) + timedelta(hours=1)
        results = [
            await adapter.execute(Delete(chat=chat, message_id=spam["id"], reason="Werbung")),
            await adapter.execute(
                Restrict(chat=chat, member=f"discord:{BOB_ID}", until=until_, reason="Werbung")
            ),
            await adapter.execute(
                SetRole(chat=f"discord-guild:{GID}", member=f"discord:{CAROL_ID}", role="helfer")
            ),
            await adapter.execute(
                SetRole(chat=chat, member=f"discord:{ALICE_ID}", role=str(LEVEL_ROLE), add=False)
            ),
            await adapter.execute(
                SetRole(chat=chat, member=f"discord:{CAROL_ID}", role="Gibtsnicht")
            ),
            await adapter.execute(
                DirectMessage(
                    chat=chat, member=f"discord:{CAROL_ID}", text="Deine Daten", attachment=b"{}"
                )
            ),
        ]
        dc.fail_next("POST", "/messages", 403, "Cannot send messages to this user", 50007)
        closed = await adapter.execute(
            DirectMessage(chat=chat, member=f"discord:{BOB_ID}", text="Your data", attachment=b"{}")
        )
        gone = await adapter.execute(React(chat=chat, message_id=spam["id"], emoji="<:karma:42>"))

    assert [r.ok for r in results] == [True, True, True, True, False, True]
    assert results[4].detail == "no role 'Gibtsnicht' in guild 'Radler'"
    assert f"/channels/{GENERAL}/messages/{spam['id']}" in [
        r.path for r in dc.requests if r.method == "DELETE"
    ]
    assert dc.guild_member(GID, BOB_ID)["communication_disabled_until"] is not None
    assert str(LEVEL_ROLE) in dc.guild_member(GID, CAROL_ID)["roles"]
    dm = dc.dm_channel_id(CAROL_ID)
    assert dm is not None
    [dm_request] = [r for r in dc.requests if r.path == f"/channels/{dm}/messages"]
    assert dm_request.json["content"] == "Deine Daten" and dm_request.files == {"data.json": b"{}"}
    assert closed.ok and closed.detail.endswith("without the attachment")
    [fallback] = dc.sent_messages(GENERAL)
    assert fallback["content"] == f"<@{BOB_ID}> Your data"
    assert fallback["allowed_mentions"]["users"] == [BOB_ID]
    assert not gone.ok and gone.detail == "404 Unknown Message (code 10008)"


async def test_unknown_guild_gets_the_setup_hint_only(make_app: MakeApp, dc: FakeDiscord) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    async with running(app, adapter):
        await dc.message_create(UNKNOWN_GID, UNKNOWN_CHANNEL, BOB, f"<@{BOT_ID}> ping")
        asked = await dc.message_create(UNKNOWN_GID, UNKNOWN_CHANNEL, ALICE, f"<@{BOT_ID}> hallo")
        [post] = await dc.wait_for_request("POST", f"/channels/{UNKNOWN_CHANNEL}/messages")
    assert post.json["content"].startswith("Hallo! Dieser Chat gehört noch zu keiner Community.")
    assert post.json["message_reference"]["message_id"] == int(asked["id"])
    assert len(dc.sent_messages(UNKNOWN_CHANNEL)) == 1
    assert probe.seen == []


async def test_member_join_edit_and_delete(make_app: MakeApp, dc: FakeDiscord) -> None:
    probe = Probe()
    app, adapter = await make(make_app, [probe])
    dave = user(700_000_000_000_000_004, "dave")
    async with running(app, adapter):
        sent = await dc.message_create(GID, GENERAL, BOB, "Tippfehlr")
        await dc.message_update(int(sent["id"]), content="Tippfehler")
        await dc.message_delete(int(sent["id"]))
        await dc.guild_member_add(GID, member(dave))
        await until(lambda: len(probe.seen) == 4, "four events")
    assert probe.kinds() == ["MessagePosted", "MessageEdited", "MessageDeleted", "MemberJoined"]
    [edited], [joined] = of_kind(probe, MessageEdited), of_kind(probe, MemberJoined)
    assert (edited.text, edited.message_id) == ("Tippfehler", sent["id"])
    assert (joined.chat, joined.member.key) == (
        f"discord-guild:{GID}",
        "discord:700000000000000004",
    )


async def test_sharded_client_connects(make_app: MakeApp, dc: FakeDiscord) -> None:
    app, adapter = await make(make_app, [Probe()], "shard_ids = [0]\nshard_count = 1")
    assert isinstance(adapter.client, discord.AutoShardedClient)
    async with running(app, adapter):
        await dc.message_create(GID, GENERAL, ALICE, "ping")
        [post] = await dc.wait_for_request("POST", f"/channels/{GENERAL}/messages")
    identify = next(p for p in dc.gateway_received if p["op"] == 2)
    assert identify["d"]["shard"] == [0, 1]
    assert post.json["content"] == "pong"


async def test_refused_privileged_intents_stop_cleanly(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with FakeDiscord(bot_id=BOT_ID, allowed_privileged_intents=0) as fake:
        add_guilds(fake)
        _, adapter = await make(make_app, [Probe()])

        async def sink(event: Event) -> None:
            raise AssertionError("no event expected")

        started = time.monotonic()
        await asyncio.wait_for(adapter.run(sink), WAIT)
    assert time.monotonic() - started < WAIT
    [record] = [r for r in caplog.records if r.name.startswith("adapters.discord")]
    message = record.getMessage()
    assert "Message Content Intent and Server Members Intent" in message
    assert "https://discord.com/developers/applications" in message


async def test_stop_ends_run_quickly_and_leaves_nothing_behind(
    make_app: MakeApp, dc: FakeDiscord
) -> None:
    app, adapter = await make(make_app, [Probe()])
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(adapter.ready.wait(), WAIT)
    started = time.monotonic()
    runtime.stop()
    await asyncio.wait_for(task, WAIT)
    assert time.monotonic() - started < 2.0
    assert adapter.client.is_closed()
    late = await adapter.execute(Reply(chat=f"discord:{GENERAL}", text="zu spät"))
    assert late == Delivery(False, "not connected to Discord")
    await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


def acknowledged(dc: FakeDiscord, message_id: int) -> bool:
    """The bot reacted to the message or replied to it."""
    for r in dc.requests:
        if r.status >= 300:
            continue
        if r.method == "PUT" and f"/messages/{message_id}/reactions/" in r.path:
            return True
        reference = r.json.get("message_reference") if isinstance(r.json, dict) else None
        if r.method == "POST" and reference and reference["message_id"] == message_id:
            return True
    return False


async def karma_rows(app: App) -> list[tuple[str | None, str]]:
    async with app.db.session() as session:
        result = await session.execute(
            select(col(models.KarmaEntry.giver), col(models.KarmaEntry.reason)).where(
                col(models.KarmaEntry.receiver) == f"discord:{BOB_ID}"
            )
        )
        return [(giver, reason) for giver, reason in result.all()]


async def test_karma_thanks_and_reaction(make_app: MakeApp, dc: FakeDiscord) -> None:
    from bot.features.karma import KarmaFeature

    feature = KarmaFeature()
    app, adapter = await make(make_app, [feature])
    async with running(app, adapter):
        question = await dc.message_create(GID, GENERAL, CAROL, "Wie stelle ich die Bremse ein?")
        answer = await dc.message_create(
            GID, GENERAL, BOB, "Schraube am Hebel lösen", reply_to=int(question["id"])
        )
        thanks = await dc.message_create(
            GID, GENERAL, CAROL, "Danke, das hat geholfen!", reply_to=int(answer["id"])
        )
        await until(lambda: acknowledged(dc, int(thanks["id"])), "the acknowledgement")
        await dc.reaction_add(GID, GENERAL, int(answer["id"]), ALICE_ID, "👍")

        async def both_credited() -> bool:
            return len(await karma_rows(app)) >= 2

        await until(both_credited, "karma for the thanks and the reaction")

    rows = await karma_rows(app)
    assert {giver for giver, _ in rows} == {f"discord:{CAROL_ID}", f"discord:{ALICE_ID}"}
    async with app.db.session() as session:
        total = await session.scalar(
            select(func.sum(col(models.KarmaEntry.points))).where(
                col(models.KarmaEntry.receiver) == f"discord:{BOB_ID}"
            )
        )
    assert total is not None and total > 0
