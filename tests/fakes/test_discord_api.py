"""End-to-end tests: the real discord.py client against the local FakeDiscord."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

with warnings.catch_warnings():
    # discord.py imports the deprecated stdlib audioop module (error under filterwarnings).
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    import discord.gateway
    import discord.http
    from discord import app_commands

    from tests.fakes.discord_api import FakeDiscord, member, role, user

BOT_ID = 900_000_000_000_000_001
GUILD_ID = 810_000_000_000_000_001
CHANNEL_ID = 810_000_000_000_000_010
OTHER_CHANNEL_ID = 810_000_000_000_000_011
MOD_ROLE_ID = 810_000_000_000_000_100
ALICE_ID = 700_000_000_000_000_001
BOB_ID = 700_000_000_000_000_002

ALICE = user(ALICE_ID, "alice")
BOB = user(BOB_ID, "bob")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

WAIT = 3.0


def make_intents(*, message_content: bool = True) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = message_content
    intents.guild_reactions = True
    intents.members = True
    return intents


def make_client(**kwargs: bool) -> discord.Client:
    return discord.Client(intents=make_intents(**kwargs), guild_ready_timeout=0.05)


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bot_id=BOT_ID, bot_name="Leumund") as fake:
        fake.add_guild(
            GUILD_ID,
            "Leumund Test",
            channels=[(CHANNEL_ID, "general"), (OTHER_CHANNEL_ID, "karma")],
            members=[member(ALICE, [MOD_ROLE_ID]), member(BOB)],
            roles=[
                role(MOD_ROLE_ID, "Mods", int(discord.Permissions(moderate_members=True).value))
            ],
            owner_id=ALICE_ID,
        )
        yield fake


@asynccontextmanager
async def running(client: discord.Client) -> AsyncIterator[discord.Client]:
    async with client:
        task = asyncio.create_task(client.start("fake-token"))
        try:
            await asyncio.wait_for(client.wait_until_ready(), WAIT)
            yield client
        finally:
            await client.close()
            await task


def text_channel(client: discord.Client) -> discord.TextChannel:
    found = client.get_channel(CHANNEL_ID)
    assert isinstance(found, discord.TextChannel)
    return found


async def test_ready_and_guild_create(dc: FakeDiscord) -> None:
    previous_base = discord.http.Route.BASE
    assert previous_base == dc.base_url
    async with running(make_client()) as client:
        assert client.user is not None and client.user.id == BOT_ID
        channel = text_channel(client)
        assert channel.name == "general"
        assert channel.guild.id == GUILD_ID
        guild = client.get_guild(GUILD_ID)
        assert guild is not None and guild.chunked
        alice = guild.get_member(ALICE_ID)
        assert alice is not None and [r.id for r in alice.roles[1:]] == [MOD_ROLE_ID]
        assert guild.owner_id == ALICE_ID
        assert guild.me.id == BOT_ID
        assert client.application_id == BOT_ID
    identify = next(p for p in dc.gateway_received if p["op"] == 2)
    assert identify["d"]["token"] == "fake-token"
    assert identify["d"]["intents"] == make_intents().value
    assert dc.gateway_connects[0]["compress"] in ("zlib-stream", "zstd-stream")


async def test_urls_restored_after_exit() -> None:
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as fake:
        assert fake.base_url == discord.http.Route.BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


async def test_message_reply_and_reaction(dc: FakeDiscord) -> None:
    client = make_client()
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.id == BOT_ID:
            return
        await seen.put(message)
        await message.reply("pong", mention_author=False)
        await message.add_reaction("👍")

    async with running(client):
        sent = await dc.message_create(GUILD_ID, CHANNEL_ID, ALICE, "ping")
        received = await asyncio.wait_for(seen.get(), WAIT)
        assert received.content == "ping"
        assert isinstance(received.author, discord.Member)
        assert received.author.id == ALICE_ID

        [post] = await dc.wait_for_request("POST", f"/channels/{CHANNEL_ID}/messages")
        assert post.json["content"] == "pong"
        assert post.json["message_reference"]["message_id"] == int(sent["id"])
        assert post.json["allowed_mentions"]["replied_user"] is False
        [put] = await dc.wait_for_request("PUT", "/reactions/")
        assert put.path == f"/channels/{CHANNEL_ID}/messages/{sent['id']}/reactions/👍/@me"
        assert dc.sent_messages(CHANNEL_ID) == [post.json]
        assert dc.message(int(sent["id"]))["reactions"][0]["me"] is True


async def test_reply_reference_reaches_client(dc: FakeDiscord) -> None:
    client = make_client()
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await seen.put(message)

    async with running(client):
        original = await dc.message_create(GUILD_ID, CHANNEL_ID, BOB, "how do I X?")
        await asyncio.wait_for(seen.get(), WAIT)
        reply = await dc.message_create(
            GUILD_ID, CHANNEL_ID, ALICE, f"<@{BOB_ID}> like this", reply_to=int(original["id"])
        )
        assert reply["type"] == 19
        got = await asyncio.wait_for(seen.get(), WAIT)
        assert got.type is discord.MessageType.reply
        assert got.reference is not None
        assert got.reference.message_id == int(original["id"])
        assert isinstance(got.reference.resolved, discord.Message)
        assert got.reference.resolved.content == "how do I X?"
        assert [m.id for m in got.mentions] == [BOB_ID]


async def test_raw_reaction_add_and_remove(dc: FakeDiscord) -> None:
    client = make_client()
    added: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()
    removed: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()

    @client.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        await added.put(payload)

    @client.event
    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        await removed.put(payload)

    async with running(client):
        msg = await dc.message_create(GUILD_ID, CHANNEL_ID, BOB, "helpful answer")
        mid = int(msg["id"])
        await dc.reaction_add(GUILD_ID, CHANNEL_ID, mid, ALICE_ID, "🙏")
        got = await asyncio.wait_for(added.get(), WAIT)
        assert (got.emoji.name, got.user_id, got.message_id) == ("🙏", ALICE_ID, mid)
        assert got.guild_id == GUILD_ID
        assert got.member is not None and got.member.id == ALICE_ID
        assert got.message_author_id == BOB_ID

        await dc.reaction_remove(GUILD_ID, CHANNEL_ID, mid, ALICE_ID, "🙏")
        gone = await asyncio.wait_for(removed.get(), WAIT)
        assert (gone.emoji.name, gone.user_id, gone.message_id) == ("🙏", ALICE_ID, mid)


class ThanksView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.results: asyncio.Queue[discord.InteractionCallbackResponse[discord.Client]] = (
            asyncio.Queue()
        )

    @discord.ui.button(label="Danke", custom_id="karma:thanks", style=discord.ButtonStyle.primary)
    async def thanks(
        self, interaction: discord.Interaction, button: discord.ui.Button[ThanksView]
    ) -> None:
        response = await interaction.response.send_message("ok", ephemeral=True)
        await self.results.put(response)


async def test_persistent_view_button_interaction(dc: FakeDiscord) -> None:
    async with running(make_client()) as client:
        view = ThanksView()
        client.add_view(view)
        message = await text_channel(client).send("Was this helpful?", view=view)

        [payload] = dc.sent_messages(CHANNEL_ID)
        button = payload["components"][0]["components"][0]
        assert button["custom_id"] == "karma:thanks"
        assert button["label"] == "Danke"

        interaction = await dc.button_click(
            GUILD_ID, CHANNEL_ID, ALICE_ID, message.id, "karma:thanks"
        )
        response = await asyncio.wait_for(view.results.get(), WAIT)
        assert response.is_ephemeral()
        assert response.message_id is not None

        [callback] = await dc.wait_for_request("POST", f"/interactions/{interaction['id']}/")
        assert callback.json["type"] == 4
        assert callback.json["data"]["content"] == "ok"
        assert callback.json["data"]["flags"] == 64
        assert callback.query["with_response"] in ("1", "true")
        assert dc.interaction_responses(int(interaction["id"])) == [callback.json]


async def test_failure_injection_forbidden_then_success(dc: FakeDiscord) -> None:
    async with running(make_client()) as client:
        channel = text_channel(client)
        dc.fail_next("POST", "/messages", 403, "Missing Permissions", 50013)
        with pytest.raises(discord.Forbidden) as excinfo:
            await channel.send("first")
        assert excinfo.value.code == 50013
        assert excinfo.value.status == 403

        msg = await channel.send("second")
        assert msg.content == "second"
        assert msg.author.id == BOT_ID
        assert [p["content"] for p in dc.sent_messages(CHANNEL_ID)] == ["second"]
        assert [r.status for r in dc.requests if r.method == "POST"] == [403, 200]


async def test_rate_limit_429_is_retried(dc: FakeDiscord) -> None:
    async with running(make_client()) as client:
        dc.fail_next("POST", "/messages", 429, retry_after=0.01)
        msg = await text_channel(client).send("eventually")
        assert msg.content == "eventually"
        statuses = [r.status for r in dc.requests if r.path.endswith("/messages")]
        assert statuses == [429, 200]


async def test_unknown_route_is_404_json(dc: FakeDiscord) -> None:
    async with running(make_client()) as client:
        with pytest.raises(discord.NotFound) as excinfo:
            await client.http.request(discord.http.Route("GET", "/nope/{x}", x=1))
        assert excinfo.value.text == "Unknown route"
        assert dc.requests[-1].path == "/nope/1"
        assert dc.requests[-1].status == 404


async def test_file_upload_with_embed(dc: FakeDiscord) -> None:
    async with running(make_client()) as client:
        embed = discord.Embed(title="Karma").set_image(url="attachment://chart.png")
        msg = await text_channel(client).send(
            file=discord.File(io.BytesIO(PNG), "chart.png"), embed=embed
        )
        [req] = await dc.wait_for_request("POST", f"/channels/{CHANNEL_ID}/messages")
        assert req.files == {"chart.png": PNG}
        assert req.json["embeds"][0]["title"] == "Karma"
        assert req.json["attachments"] == [{"id": 0, "filename": "chart.png"}]
        [attachment] = msg.attachments
        assert attachment.filename == "chart.png"
        assert attachment.size == len(PNG)
        assert await attachment.read() == PNG
        assert msg.embeds[0].title == "Karma"


async def test_slash_command_sync_and_invoke(dc: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    invoked: asyncio.Queue[discord.Member | discord.User] = asyncio.Queue()

    @tree.command(name="karma", description="Show karma", guild=discord.Object(GUILD_ID))
    async def karma(interaction: discord.Interaction, target: discord.Member) -> None:
        await interaction.response.send_message(f"{target.display_name}: 5 karma")
        await invoked.put(target)

    async with running(client):
        synced = await tree.sync(guild=discord.Object(GUILD_ID))
        assert [c.name for c in synced] == ["karma"]
        [put] = await dc.wait_for_request(
            "PUT", f"/applications/{BOT_ID}/guilds/{GUILD_ID}/commands"
        )
        assert put.json[0]["options"][0]["name"] == "target"
        assert dc.commands(GUILD_ID)[0]["id"] == str(synced[0].id)

        interaction = await dc.slash_command(
            GUILD_ID,
            CHANNEL_ID,
            ALICE_ID,
            "karma",
            [{"name": "target", "type": 6, "value": str(BOB_ID)}],
        )
        target = await asyncio.wait_for(invoked.get(), WAIT)
        assert target.id == BOB_ID
        [callback] = await dc.wait_for_request("POST", f"/interactions/{interaction['id']}/")
        assert callback.json["type"] == 4
        assert callback.json["data"]["content"] == "bob: 5 karma"
        assert "flags" not in callback.json["data"]
        assert [m["content"] for m in dc.channel_messages(CHANNEL_ID)] == ["bob: 5 karma"]


async def test_deferred_slash_command_with_followup_and_edit(dc: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    done = asyncio.Event()

    @tree.command(name="top", description="Top helpers", guild=discord.Object(GUILD_ID))
    async def top(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("details", ephemeral=True)
        await interaction.edit_original_response(content="1. bob")
        done.set()

    async with running(client):
        await tree.sync(guild=discord.Object(GUILD_ID))
        interaction = await dc.slash_command(GUILD_ID, CHANNEL_ID, ALICE_ID, "top")
        await asyncio.wait_for(done.wait(), WAIT)
        token = interaction["token"]
        assert dc.interaction_responses(int(interaction["id"])) == [{"type": 5}]
        [followup] = await dc.wait_for_request("POST", f"/webhooks/{BOT_ID}/{token}")
        assert followup.json["content"] == "details" and followup.json["flags"] == 64
        [edit] = await dc.wait_for_request("PATCH", f"/{token}/messages/@original")
        assert edit.json["content"] == "1. bob"
        assert [m["content"] for m in dc.channel_messages(CHANNEL_ID)] == ["1. bob"]


async def test_member_moderation_routes(dc: FakeDiscord) -> None:
    client = make_client()
    updated: asyncio.Queue[discord.Member] = asyncio.Queue()

    @client.event
    async def on_member_update(before: discord.Member, after: discord.Member) -> None:
        await updated.put(after)

    async with running(client):
        guild = client.get_guild(GUILD_ID)
        assert guild is not None
        bob = guild.get_member(BOB_ID)
        mods = guild.get_role(MOD_ROLE_ID)
        assert bob is not None and mods is not None

        await bob.add_roles(mods, reason="helpful")
        await dc.wait_for_request("PUT", f"/members/{BOB_ID}/roles/{MOD_ROLE_ID}")
        assert str(MOD_ROLE_ID) in dc.guild_member(GUILD_ID, BOB_ID)["roles"]
        after = await asyncio.wait_for(updated.get(), WAIT)
        assert mods in after.roles

        await bob.timeout(dt.timedelta(minutes=5), reason="spam")
        [patch] = await dc.wait_for_request("PATCH", f"/guilds/{GUILD_ID}/members/{BOB_ID}")
        assert patch.json["communication_disabled_until"] is not None
        assert patch.reason == "spam"

        await bob.remove_roles(mods)
        await dc.wait_for_request("DELETE", f"/members/{BOB_ID}/roles/{MOD_ROLE_ID}")
        assert str(MOD_ROLE_ID) not in dc.guild_member(GUILD_ID, BOB_ID)["roles"]

        fetched = await guild.fetch_member(ALICE_ID)
        assert fetched.id == ALICE_ID


async def test_dm_channel(dc: FakeDiscord) -> None:
    async with running(make_client()) as client:
        alice = client.get_user(ALICE_ID)
        assert alice is not None
        msg = await alice.send("Du hast Karma bekommen")
        dm_id = dc.dm_channel_id(ALICE_ID)
        assert dm_id is not None and msg.channel.id == dm_id
        assert [p["content"] for p in dc.sent_messages(dm_id)] == ["Du hast Karma bekommen"]


async def test_message_content_blanked_without_intent(dc: FakeDiscord) -> None:
    client = make_client(message_content=False)
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await seen.put(message)

    async with running(client):
        await dc.message_create(GUILD_ID, CHANNEL_ID, ALICE, "secret")
        assert (await asyncio.wait_for(seen.get(), WAIT)).content == ""
        await dc.message_create(GUILD_ID, CHANNEL_ID, ALICE, f"<@{BOT_ID}> hi")
        assert (await asyncio.wait_for(seen.get(), WAIT)).content == f"<@{BOT_ID}> hi"


async def test_edit_delete_and_reconnect_resume(dc: FakeDiscord) -> None:
    client = make_client()
    edits: asyncio.Queue[discord.RawMessageUpdateEvent] = asyncio.Queue()
    deletes: asyncio.Queue[discord.RawMessageDeleteEvent] = asyncio.Queue()
    resumed = asyncio.Event()

    @client.event
    async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
        await edits.put(payload)

    @client.event
    async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
        await deletes.put(payload)

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    async with running(client):
        msg = await dc.message_create(GUILD_ID, CHANNEL_ID, ALICE, "typo")
        await dc.force_reconnect()
        await asyncio.wait_for(resumed.wait(), WAIT)
        assert any(p["op"] == 6 for p in dc.gateway_received)

        await dc.message_update(int(msg["id"]), content="fixed")
        edit = await asyncio.wait_for(edits.get(), WAIT)
        assert edit.message.content == "fixed"
        await dc.message_delete(int(msg["id"]))
        deleted = await asyncio.wait_for(deletes.get(), WAIT)
        assert deleted.message_id == int(msg["id"])

        own = await text_channel(client).send("draft")
        await own.edit(content="final")
        await own.delete()
        methods = [r.method for r in dc.requests if f"/messages/{own.id}" in r.path]
        assert methods == ["PATCH", "DELETE"]
