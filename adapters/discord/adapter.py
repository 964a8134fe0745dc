"""The Discord adapter: a discord.py client that feeds core events in and executes actions.

Events are handed to the sink one at a time, in the order the gateway delivered them, by
one worker task: a reaction is never handled before the message it is on. Slash commands
get their answer as the interaction response; anything else goes to the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import io
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import app_commands

from adapters.base import Delivery, EventSink
from adapters.discord import translate as tr
from bot.actions import (
    Action,
    Button,
    Delete,
    DirectMessage,
    PostSummary,
    React,
    Reply,
    Restrict,
    ReviewRequest,
    SetRole,
    describe,
)
from bot.config import Config, DiscordSection
from bot.events import Event
from bot.features.base import CommandSpec
from bot.locales import LANGUAGES, get_locale

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]

MESSAGE_LIMIT = 2000
EMBED_LIMIT = 4096
MAX_BUTTONS = 25
# Discord refuses timeouts longer than 28 days.
MAX_TIMEOUT = timedelta(days=28) - timedelta(minutes=1)
# An interaction must be answered within 3 s; a slower engine gets "thinking…" first.
DEFER_AFTER_S = 2.0
# Interaction tokens stay valid for 15 minutes; late replies still become follow-ups.
INTERACTION_TTL = timedelta(minutes=14)
HINT_COOLDOWN = timedelta(minutes=10)
MEMORY = 20_000
NO_MENTIONS = discord.AllowedMentions.none()
DEVELOPER_PORTAL = "https://discord.com/developers/applications"
# The description of the member option of slash commands, per language.
_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


def intents_for(section: DiscordSection) -> discord.Intents:
    """The gateway intents the bot asks for (Server Members only with ``members_intent``)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    intents.guild_reactions = True
    intents.members = section.members_intent
    return intents


def privileged_names(intents: discord.Intents) -> list[str]:
    """The developer-portal names of the privileged intents in ``intents``."""
    names = []
    if intents.message_content:
        names.append("Message Content Intent")
    if intents.members:
        names.append("Server Members Intent")
    if intents.presences:
        names.append("Presence Intent")
    return names


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line breaks or spaces where possible."""
    rest = text.strip()
    pieces: list[str] = []
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def http_detail(exc: discord.HTTPException) -> str:
    """A one-line reason for a refused request: status, Discord's message and code."""
    reason = exc.text or getattr(exc.response, "reason", "") or type(exc).__name__
    return f"{exc.status} {reason} (code {exc.code})"


@dataclass(eq=False)
class _Pending:
    """A slash command waiting for its answer."""

    interaction: Interaction
    chat: str
    created: datetime
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    responded: bool = False
    # The first response was "thinking…", whose placeholder the answer replaces.
    deferred: bool = False
    timer: asyncio.Task[None] | None = None
    # Handling the command failed: the acknowledgement must not look like success.
    failed: bool = False


# The slash command whose event is being handled, so its replies become the response.
_CURRENT: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar(
    "discord_interaction", default=None
)


@dataclass(slots=True)
class _Job:
    build: Callable[[], Awaitable[Sequence[Event]]]
    pending: _Pending | None = None


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"(?s)(?P<custom_id>.{1,100})",
):
    """A button the bot posted; a press comes back as ButtonPressed, also after a restart.

    A dynamic item matches by ``custom_id`` alone, so no view has to be kept in memory.
    """

    def __init__(self, label: str, custom_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80] or "…", custom_id=custom_id, style=discord.ButtonStyle.secondary
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ReviewButton:
        """Rebuild the button from the pressed component."""
        label = getattr(item, "label", None) or match["custom_id"]
        return cls(str(label), match["custom_id"])

    async def callback(self, interaction: Interaction) -> None:
        """Acknowledge the press and hand it to the adapter."""
        client = interaction.client
        if isinstance(client, _Hooks):
            await client.adapter.on_button(interaction)


class ReviewView(discord.ui.View):
    """The buttons under a review message: persistent (no timeout), matched by custom_id."""

    def __init__(self, buttons: Sequence[Button]) -> None:
        super().__init__(timeout=None)
        for button in buttons[:MAX_BUTTONS]:
            self.add_item(ReviewButton(button.label, button.custom_id[:100]))


class _Hooks:
    """The gateway events the adapter listens to, shared by the plain and sharded client."""

    adapter: DiscordAdapter

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_ready(self) -> None:
        self.adapter.connected()

    async def on_message(self, message: discord.Message) -> None:
        self.adapter.on_message(message)

    async def on_raw_message_edit(self, raw: discord.RawMessageUpdateEvent) -> None:
        self.adapter.on_raw_edit(raw)

    async def on_raw_message_delete(self, raw: discord.RawMessageDeleteEvent) -> None:
        self.adapter.on_raw_delete(raw)

    async def on_raw_bulk_message_delete(self, raw: discord.RawBulkMessageDeleteEvent) -> None:
        self.adapter.on_raw_delete(raw)

    async def on_raw_reaction_add(self, raw: discord.RawReactionActionEvent) -> None:
        self.adapter.on_raw_reaction(raw)

    async def on_raw_reaction_remove(self, raw: discord.RawReactionActionEvent) -> None:
        self.adapter.on_raw_reaction(raw)

    async def on_member_join(self, member: discord.Member) -> None:
        self.adapter.on_member_join(member)


class _Client(_Hooks, discord.Client):
    """A discord.Client wired to the adapter."""


class _ShardedClient(_Hooks, discord.AutoShardedClient):
    """An AutoShardedClient wired to the adapter."""


class DiscordAdapter:
    """Connects to Discord, turns gateway events into core events and executes actions."""

    platform: ClassVar[str] = "discord"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "Reply",
            "React",
            "Delete",
            "Restrict",
            "SetRole",
            "PostSummary",
            "ReviewRequest",
            "DirectMessage",
        }
    )

    # Seconds after which a slash command still unanswered gets "thinking…" (Discord allows 3).
    defer_after: float = DEFER_AFTER_S

    def __init__(
        self,
        config: Config,
        *,
        commands: Sequence[CommandSpec] = (),
        moderator_roles: Iterable[str | int] = (),
        token: str | None = None,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        section = config.discord
        if section.shard_ids is not None and section.shard_count is None:
            raise ValueError("[discord] shard_ids needs shard_count as well")
        self.config = config
        self.section = section
        self.commands = tuple(commands)
        self.moderator_roles = frozenset(str(r).lower() for r in moderator_roles)
        self.intents = intents_for(section)
        self._token = token
        options: dict[str, Any] = {
            "intents": self.intents,
            "guild_ready_timeout": guild_ready_timeout,
            # Raw events make old messages count; no message cache is needed.
            "max_messages": None,
            # Members arrive with their messages; fetching every member at start-up of a
            # large guild would only delay READY.
            "chunk_guilds_at_startup": False,
            "allowed_mentions": NO_MENTIONS,
        }
        client: _Client | _ShardedClient
        if section.shard_ids is not None or section.shard_count is not None:
            if section.shard_ids is not None:
                options["shard_ids"] = section.shard_ids
            client = _ShardedClient(shard_count=section.shard_count, **options)
        else:
            client = _Client(**options)
        client.adapter = self
        self.client: discord.Client = client
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
        self.ready = asyncio.Event()
        self._sink: EventSink | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, _Pending] = {}
        self._scopes: dict[str, tr.Scope] = {}
        self._guild_communities: dict[int, str | None] = {}
        # Thread parents learnt over REST, and messages that live in a thread (id -> thread).
        self._parents: OrderedDict[int, int | None] = OrderedDict()
        self._threads: OrderedDict[str, int] = OrderedDict()
        self._hints: dict[int, datetime] = {}

    @classmethod
    def from_app(cls, app: App, **options: Any) -> DiscordAdapter:
        """An adapter for the app's config, offering the engine's commands as slash commands."""
        return cls(app.config, commands=app.engine.command_specs(), **options)

    # --- lifecycle -------------------------------------------------------------------

    async def run(self, sink: EventSink) -> None:
        """Connect and feed every event to ``sink`` until ``stop()``."""
        if self._stopped:
            return
        token = self._token or self.config.token("discord")
        self._sink = sink
        self._spawn(self._work(), "discord-events")
        try:
            async with self.client:
                await self._start(token)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self.ready.clear()

    async def _start(self, token: str) -> None:
        try:
            await self.client.start(token)
        except discord.PrivilegedIntentsRequired:
            log.error(
                "Discord refused the privileged gateway intents this bot needs. Enable %s in "
                "the developer portal (%s → your application → Bot → Privileged Gateway "
                "Intents) and start the bot again%s.",
                " and ".join(privileged_names(self.intents)),
                DEVELOPER_PORTAL,
                " (or set members_intent = false under [discord])" if self.intents.members else "",
            )
        except discord.LoginFailure:
            log.error(
                "Discord refused the bot token in %s; copy a fresh one from %s → Bot → Reset "
                "Token.",
                self.section.token_env,
                DEVELOPER_PORTAL,
            )
        except Exception:
            if not self._stopped:
                raise
            # Stopping while still logging in closes the session under the request.
            log.debug("Discord start-up interrupted by stop()", exc_info=True)

    async def stop(self) -> None:
        """Disconnect cleanly."""
        self._stopped = True
        if not self.client.is_closed():
            await self.client.close()

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def runner() -> None:
            await coro

        task = asyncio.create_task(runner(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def setup(self) -> None:
        """After login, before the gateway: buttons and slash commands."""
        self.client.add_dynamic_items(ReviewButton)
        shard_ids = self.section.shard_ids
        # One process registers commands; every shard process answers them.
        if self.commands and (shard_ids is None or 0 in shard_ids):
            await self._register_commands()

    def connected(self) -> None:
        """READY: say where the bot is, and which guilds still need a community."""
        me = self.client.user
        log.info("connected to Discord as %s in %d guild(s)", me, len(self.client.guilds))
        for guild in self.client.guilds:
            if self.community_of(guild.id) is None:
                log.warning(
                    "Discord guild %r (%d) belongs to no community; add discord_guilds = [%d] "
                    "to a [[communities]] entry",
                    guild.name,
                    guild.id,
                    guild.id,
                )
        self.ready.set()

    # --- slash commands --------------------------------------------------------------

    async def _register_commands(self) -> None:
        for community in self.config.communities:
            for guild_id in community.section.discord_guilds:
                guild = discord.Object(guild_id)
                for spec in self.commands:
                    self.tree.add_command(
                        self._slash_command(spec, community.language), guild=guild, override=True
                    )
                try:
                    await self.tree.sync(guild=guild)
                except discord.HTTPException as exc:
                    log.warning(
                        "could not register slash commands in Discord guild %d: %s; invite "
                        "the bot with the applications.commands scope",
                        guild_id,
                        http_detail(exc),
                    )
                except Exception:
                    if not self._stopped:
                        raise

    def _slash_command(
        self, spec: CommandSpec, language: str
    ) -> app_commands.Command[Any, ..., None]:
        """One generic command per spec: free-text ``args``, ``member`` if the usage has ``@``."""
        locale = get_locale(language)
        description = (locale.t(spec.help_key) or spec.name)[:100]
        usage = spec.usage[:100] or spec.name
        adapter = self

        async def bare(interaction: Interaction) -> None:
            await adapter.on_slash(interaction)

        async def plain(interaction: Interaction, args: str | None = None) -> None:
            await adapter.on_slash(interaction)

        async def with_member(
            interaction: Interaction,
            args: str | None = None,
            member: discord.Member | None = None,
        ) -> None:
            await adapter.on_slash(interaction)

        callback: Callable[..., Coroutine[Any, Any, None]]
        if "@" in spec.usage:
            member_text = get_locale(language).t("core.slash_member")
            callback = app_commands.describe(args=usage, member=member_text)(with_member)
        elif spec.usage.strip() == f"/{spec.name}":
            callback = bare
        else:
            callback = app_commands.describe(args=usage)(plain)
        return app_commands.Command(name=spec.name, description=description, callback=callback)

    async def on_slash(self, interaction: Interaction) -> None:
        """A slash command: queue it; its reply becomes the interaction response."""
        community = self.community_of(interaction.guild_id)
        if community is None:
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(
                    self._hint_text(interaction.guild), ephemeral=True
                )
            return
        scope = self._scope(community)
        event = tr.slash_event(interaction, scope)
        if event is None:
            return
        now = datetime.now(UTC)
        for key in [k for k, p in self._pending.items() if now - p.created > INTERACTION_TTL]:
            del self._pending[key]
        pending = _Pending(interaction, event.chat, now)
        self._pending[str(interaction.id)] = pending
        pending.timer = self._spawn(self._defer_later(pending), "discord-defer")
        self._enqueue(lambda: _ready(event), pending)

    async def _defer_later(self, pending: _Pending) -> None:
        await asyncio.sleep(self.defer_after)
        async with pending.lock:
            if pending.responded:
                return
            try:
                await pending.interaction.response.defer(thinking=True)
                pending.responded = pending.deferred = True
            except discord.HTTPException as exc:
                log.warning("could not defer a slash command: %s", http_detail(exc))

    async def _settle(self, pending: _Pending) -> None:
        """After the engine is done: acknowledge a command that got no answer."""
        if pending.timer is not None:
            pending.timer.cancel()
        async with pending.lock:
            try:
                if not pending.responded:
                    mark = "⚠️" if pending.failed else "✓"
                    await pending.interaction.response.send_message(mark, ephemeral=True)
                    pending.responded = True
                elif pending.deferred:
                    await pending.interaction.delete_original_response()
                    pending.deferred = False
            except discord.HTTPException as exc:
                log.warning("could not acknowledge a slash command: %s", http_detail(exc))

    async def _answer(
        self,
        pending: _Pending,
        text: str,
        *,
        ephemeral: bool = False,
        file: bytes | None = None,
        filename: str = "data.json",
    ) -> str | None:
        """Answer a slash command: the response, the deferred placeholder, or a follow-up."""
        interaction = pending.interaction
        extra: dict[str, Any] = {}
        if file is not None:
            extra["file"] = discord.File(io.BytesIO(file), filename=filename)
        async with pending.lock:
            if not pending.responded:
                response = await interaction.response.send_message(
                    text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS, **extra
                )
                pending.responded = True
                return None if response.message_id is None else str(response.message_id)
            if pending.deferred and not ephemeral:
                edited = await interaction.edit_original_response(
                    content=text,
                    allowed_mentions=NO_MENTIONS,
                    attachments=[extra["file"]] if file is not None else discord.utils.MISSING,
                )
                pending.deferred = False
                return str(edited.id)
            sent = await interaction.followup.send(
                text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS, wait=True, **extra
            )
            return str(sent.id)

    def _interaction_for(self, chat: str, reply_to: str | None) -> _Pending | None:
        if reply_to is not None:
            return self._pending.get(reply_to)
        current = _CURRENT.get()
        return current if current is not None and current.chat == chat else None

    # --- incoming ----------------------------------------------------------------------

    def community_of(self, guild_id: int | None) -> str | None:
        """The community a guild belongs to by config, or None."""
        if guild_id is None:
            return None
        if guild_id not in self._guild_communities:
            community = self.config.community_for_chat(tr.guild_chat(guild_id))
            self._guild_communities[guild_id] = community.name if community else None
        return self._guild_communities[guild_id]

    def _scope(self, community: str) -> tr.Scope:
        scope = self._scopes.get(community)
        if scope is None:
            me = self.client.user
            scope = tr.Scope(
                community=community,
                bot_id=me.id if me else 0,
                ignore_other_bots=self.section.ignore_other_bots,
                moderator_roles=self.moderator_roles,
                commands=frozenset(s.name for s in self.commands) or None,
                bot_username=me.name if me else None,
            )
            self._scopes[community] = scope
        return scope

    def _enqueue(
        self, build: Callable[[], Awaitable[Sequence[Event]]], pending: _Pending | None = None
    ) -> None:
        self._queue.put_nowait(_Job(build, pending))

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            token = _CURRENT.set(job.pending)
            try:
                for event in await job.build():
                    if not await self._feed(event) and job.pending is not None:
                        job.pending.failed = True
            except Exception:
                log.exception("could not translate a Discord event")
            finally:
                _CURRENT.reset(token)
                if job.pending is not None:
                    await self._settle(job.pending)

    async def _feed(self, event: Event) -> bool:
        if self._sink is None:
            return False
        try:
            await self._sink(event)
        except Exception:
            log.exception("handling Discord event %s failed", event.key)
            return False
        return True

    def _is_me(self, user_id: int) -> bool:
        me = self.client.user
        return me is not None and me.id == user_id

    def on_message(self, message: discord.Message) -> None:
        """MESSAGE_CREATE."""
        if message.guild is None or self._is_me(message.author.id):
            return
        self._enqueue(lambda: self._message(message))

    async def _message(self, message: discord.Message) -> Sequence[Event]:
        assert message.guild is not None
        community = self.community_of(message.guild.id)
        if community is None:
            await self._maybe_hint(message)
            return ()
        channel = message.channel
        parent = tr.known_parent(channel)
        if parent is None and not isinstance(channel, discord.abc.GuildChannel):
            parent = await self._parent_of(channel.id, message.guild.id)
        event = tr.message_event(message, self._scope(community), parent)
        if event is None:
            return ()
        self._remember(str(message.id), channel.id, event.chat)
        return (event,)

    def on_raw_edit(self, raw: discord.RawMessageUpdateEvent) -> None:
        """MESSAGE_UPDATE, cached message or not."""
        if raw.guild_id is None or self._is_me(raw.message.author.id):
            return
        self._enqueue(lambda: self._edit(raw))

    async def _edit(self, raw: discord.RawMessageUpdateEvent) -> Sequence[Event]:
        community = self.community_of(raw.guild_id)
        if community is None:
            return ()
        parent = await self._parent_of(raw.channel_id, raw.guild_id)
        event = tr.edit_event(raw, self._scope(community), parent)
        return () if event is None else (event,)

    def on_raw_delete(
        self, raw: discord.RawMessageDeleteEvent | discord.RawBulkMessageDeleteEvent
    ) -> None:
        """MESSAGE_DELETE and MESSAGE_DELETE_BULK."""
        if raw.guild_id is None:
            return
        at = datetime.now(UTC)
        self._enqueue(lambda: self._delete(raw, at))

    async def _delete(
        self,
        raw: discord.RawMessageDeleteEvent | discord.RawBulkMessageDeleteEvent,
        at: datetime,
    ) -> Sequence[Event]:
        community = self.community_of(raw.guild_id)
        if community is None:
            return ()
        parent = await self._parent_of(raw.channel_id, raw.guild_id)
        return tr.delete_events(raw, self._scope(community), at, parent)

    def on_raw_reaction(self, raw: discord.RawReactionActionEvent) -> None:
        """MESSAGE_REACTION_ADD / _REMOVE, on any message however old."""
        if raw.guild_id is None or self._is_me(raw.user_id):
            return
        # Reactions carry no time: the moment they arrived is their time (and key).
        at = datetime.now(UTC)
        self._enqueue(lambda: self._reaction(raw, at))

    async def _reaction(self, raw: discord.RawReactionActionEvent, at: datetime) -> Sequence[Event]:
        community = self.community_of(raw.guild_id)
        if community is None:
            return ()
        user: discord.abc.User | None = raw.member
        if user is None:
            user = await self._user(raw.guild_id, raw.user_id)
        parent = await self._parent_of(raw.channel_id, raw.guild_id)
        event = tr.reaction_event(raw, self._scope(community), at, user, parent)
        if event is None:
            return ()
        self._remember(event.message_id, raw.channel_id, event.chat)
        return (event,)

    def on_member_join(self, member: discord.Member) -> None:
        """GUILD_MEMBER_ADD (needs the Server Members intent)."""
        self._enqueue(lambda: self._join(member))

    async def _join(self, member: discord.Member) -> Sequence[Event]:
        community = self.community_of(member.guild.id)
        if community is None:
            return ()
        event = tr.join_event(member, self._scope(community))
        return () if event is None else (event,)

    async def on_button(self, interaction: Interaction) -> None:
        """A press of a button the bot posted: acknowledge at once, then queue it."""
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            log.warning("could not acknowledge a button press: %s", http_detail(exc))
        community = self.community_of(interaction.guild_id)
        if community is None:
            return
        event = tr.button_event(interaction, self._scope(community))
        if event is not None:
            self._enqueue(lambda: _ready(event))

    async def _user(self, guild_id: int | None, user_id: int) -> discord.abc.User | None:
        guild = self.client.get_guild(guild_id) if guild_id is not None else None
        found: discord.abc.User | None = guild.get_member(user_id) if guild else None
        found = found or self.client.get_user(user_id)
        if found is None:
            try:
                found = await self.client.fetch_user(user_id)
            except discord.HTTPException as exc:
                log.warning("could not look up Discord user %d: %s", user_id, http_detail(exc))
        return found

    async def _parent_of(self, channel_id: int, guild_id: int | None) -> int | None:
        """The parent of a thread (cache, then REST once); None for an ordinary channel."""
        guild = self.client.get_guild(guild_id) if guild_id is not None else None
        channel = guild.get_channel_or_thread(channel_id) if guild is not None else None
        if channel is not None:
            return tr.known_parent(channel)
        if channel_id in self._parents:
            return self._parents[channel_id]
        try:
            fetched = await self.client.fetch_channel(channel_id)
        except discord.HTTPException as exc:
            log.warning("could not look up Discord channel %d: %s", channel_id, http_detail(exc))
            return None
        parent = tr.known_parent(fetched)
        self._parents[channel_id] = parent
        while len(self._parents) > MEMORY:
            self._parents.popitem(last=False)
        return parent

    def _remember(self, message_id: str, channel_id: int, chat: str) -> None:
        """Remember messages that live in a thread, so actions on them find the thread."""
        if chat != tr.chat_key(channel_id):
            self._threads[message_id] = channel_id
            while len(self._threads) > MEMORY:
                self._threads.popitem(last=False)

    # --- unknown guilds ------------------------------------------------------------------

    def _hint_text(self, guild: discord.Guild | None) -> str:
        language: str = self.config.bot.language
        if guild is not None:
            preferred = str(guild.preferred_locale.value)[:2]
            if preferred in LANGUAGES:
                language = preferred
        return get_locale(language).t("core.setup_hint")

    async def _maybe_hint(self, message: discord.Message) -> None:
        """In a guild without a community: answer /help, or an admin who mentions the bot."""
        guild = message.guild
        me = self.client.user
        if guild is None or me is None or message.author.bot:
            return
        bare = tr.Scope(community="", bot_id=me.id, bot_username=me.name)
        command = tr.text_command(message.content, bare)
        asks_help = command is not None and command.name in ("help", "start")
        author = message.author
        admin = isinstance(author, discord.Member) and (
            author.guild_permissions.administrator or author.guild_permissions.manage_guild
        )
        mentioned = any(u.id == me.id for u in message.mentions)
        if not (asks_help or (admin and mentioned)):
            return
        now = datetime.now(UTC)
        last = self._hints.get(guild.id)
        if last is not None and now - last < HINT_COOLDOWN:
            return
        self._hints[guild.id] = now
        try:
            await message.channel.send(
                self._hint_text(guild),
                reference=message.to_reference(fail_if_not_exists=False),
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            log.warning("could not send the setup hint in guild %d: %s", guild.id, http_detail(exc))

    # --- outgoing ----------------------------------------------------------------------

    async def execute(self, action: Action) -> Delivery:
        """Execute one action; refusals by Discord come back as ``Delivery(ok=False)``."""
        if self.client.is_closed() or not self.client.is_ready():
            return Delivery(False, "not connected to Discord")
        try:
            return await self._execute(_escaped(action))
        except discord.HTTPException as exc:
            detail = http_detail(exc)
        except (discord.DiscordException, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
        log.warning("Discord could not %s: %s", describe(action)[:200], detail)
        return Delivery(False, detail)

    async def _execute(self, action: Action) -> Delivery:
        match action:
            case Reply():
                return await self._reply(action)
            case React(chat=chat, message_id=mid, emoji=emoji):
                channel = self._channel(chat, None, mid)
                await channel.get_partial_message(_id(mid)).add_reaction(emoji)
                return Delivery(True)
            case Delete(chat=chat, message_id=mid):
                channel = self._channel(chat, None, mid)
                await channel.get_partial_message(_id(mid)).delete()
                return Delivery(True)
            case Restrict():
                return await self._restrict(action)
            case SetRole():
                return await self._set_role(action)
            case PostSummary():
                return await self._summary(action)
            case ReviewRequest():
                return await self._review(action)
            case DirectMessage():
                return await self._direct(action)
        return Delivery(False, f"discord cannot {action.kind}")

    async def _reply(self, action: Reply) -> Delivery:
        pieces = split_text(action.text, MESSAGE_LIMIT)
        if not pieces:
            return Delivery(False, "empty text")
        pending = self._interaction_for(action.chat, action.reply_to)
        if pending is not None:
            first_id = await self._answer(pending, pieces[0])
            for piece in pieces[1:]:
                await self._answer(pending, piece)
            return Delivery(True, message_id=first_id)
        channel = self._channel(action.chat, action.thread, action.reply_to)
        reference = None
        if action.reply_to is not None and action.reply_to.isdigit():
            reference = discord.MessageReference(
                message_id=int(action.reply_to), channel_id=channel.id, fail_if_not_exists=False
            )
        first: discord.Message | None = None
        for piece in pieces:
            kwargs: dict[str, Any] = {"reference": reference} if first is None and reference else {}
            sent = await channel.send(piece, allowed_mentions=NO_MENTIONS, **kwargs)
            first = first or sent
        assert first is not None
        return Delivery(True, message_id=str(first.id))

    async def _restrict(self, action: Restrict) -> Delivery:
        guild = await self._guild(action.chat)
        member = await self._member(guild, action.member)
        now = discord.utils.utcnow()
        until = action.until if action.until.tzinfo else action.until.replace(tzinfo=UTC)
        reason = action.reason or None
        if until <= now:
            await member.timeout(None, reason=reason)
        else:
            await member.timeout(min(until, now + MAX_TIMEOUT), reason=reason)
        return Delivery(True)

    async def _set_role(self, action: SetRole) -> Delivery:
        guild = await self._guild(action.chat)
        wanted = action.role.strip()
        role = guild.get_role(int(wanted)) if wanted.isdigit() else None
        if role is None:
            role = discord.utils.find(lambda r: r.name.lower() == wanted.lower(), guild.roles)
        if role is None:
            return Delivery(False, f"no role {action.role!r} in guild {guild.name!r}")
        member = await self._member(guild, action.member)
        if action.add:
            await member.add_roles(role, reason="Leumund level role")
        else:
            await member.remove_roles(role, reason="Leumund level role")
        return Delivery(True)

    async def _summary(self, action: PostSummary) -> Delivery:
        channel = self._channel(action.chat, None, None)
        pieces = split_text(action.text, EMBED_LIMIT)
        embed = discord.Embed(description=pieces[0] if pieces else None)
        kwargs: dict[str, Any] = {}
        if action.image is not None:
            name = _FILENAME.sub("_", action.image_name) or "summary.png"
            kwargs["file"] = discord.File(io.BytesIO(action.image), filename=name)
            embed.set_image(url=f"attachment://{name}")
        sent = await channel.send(embed=embed, allowed_mentions=NO_MENTIONS, **kwargs)
        for piece in split_text("\n".join(pieces[1:]), MESSAGE_LIMIT):
            await channel.send(piece, allowed_mentions=NO_MENTIONS)
        return Delivery(True, message_id=str(sent.id))

    async def _review(self, action: ReviewRequest) -> Delivery:
        channel = self._channel(action.chat, None, None)
        pieces = split_text(action.text, MESSAGE_LIMIT) or [f"#{action.case_id}"]
        for piece in pieces[:-1]:
            await channel.send(piece, allowed_mentions=NO_MENTIONS)
        sent = await channel.send(
            pieces[-1], view=ReviewView(action.buttons), allowed_mentions=NO_MENTIONS
        )
        return Delivery(True, message_id=str(sent.id))

    async def _direct(self, action: DirectMessage) -> Delivery:
        user_id = tr.snowflake(action.member)
        if user_id is None:
            return Delivery(False, f"not a Discord member: {action.member}")
        user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
        pieces = split_text(action.text, MESSAGE_LIMIT) or [action.filename]
        try:
            first: discord.Message | None = None
            for index, piece in enumerate(pieces):
                kwargs: dict[str, Any] = {}
                if action.attachment is not None and index == len(pieces) - 1:
                    data = io.BytesIO(action.attachment)
                    kwargs["file"] = discord.File(data, filename=action.filename)
                sent = await user.send(piece, **kwargs)
                first = first or sent
            return Delivery(True, message_id=str(first.id) if first else None)
        except discord.Forbidden as exc:
            log.info(
                "%s accepts no direct messages (%s); answering in %s instead",
                action.member,
                http_detail(exc),
                action.chat,
            )
        pending = _CURRENT.get()
        if pending is not None and pending.interaction.user.id == user_id:
            # Only the member sees an ephemeral answer, so the attachment may go with it.
            mid = await self._answer(
                pending,
                pieces[0],
                ephemeral=True,
                file=action.attachment,
                filename=action.filename,
            )
            return Delivery(True, "sent as an ephemeral answer", message_id=mid)
        channel = self._channel(action.chat, None, None)
        sent = await channel.send(
            f"<@{user_id}> {pieces[0]}"[:MESSAGE_LIMIT],
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[discord.Object(user_id)]
            ),
        )
        detail = "direct messages closed; answered in the chat"
        if action.attachment is not None:
            detail += " without the attachment"
        return Delivery(True, detail, message_id=str(sent.id))

    # --- resolving keys ------------------------------------------------------------------

    def _channel(
        self, chat: str, thread: str | None, message_id: str | None
    ) -> discord.PartialMessageable:
        """Where to send: the thread, the thread a message lives in, or the chat's channel."""
        if thread is not None and thread.isdigit():
            return self.client.get_partial_messageable(int(thread))
        if message_id is not None and message_id in self._threads:
            return self.client.get_partial_messageable(self._threads[message_id])
        channel_id = tr.snowflake(chat)
        if channel_id is not None:
            return self.client.get_partial_messageable(channel_id)
        guild_id = tr.snowflake(chat, tr.GUILD_PREFIX)
        if guild_id is not None:
            return self.client.get_partial_messageable(self._guild_channel(guild_id))
        raise ValueError(f"not a Discord chat: {chat}")

    def _guild_channel(self, guild_id: int) -> int:
        """A guild's system channel, else its first text channel the bot may write in."""
        guild = self.client.get_guild(guild_id)
        if guild is None:
            raise ValueError(f"the bot is not in guild {guild_id}")
        candidates = [guild.system_channel, *guild.text_channels]
        for channel in candidates:
            if channel is not None and channel.permissions_for(guild.me).send_messages:
                return channel.id
        raise ValueError(f"no channel to write to in guild {guild_id}")

    async def _guild(self, chat: str) -> discord.Guild:
        guild_id = tr.snowflake(chat, tr.GUILD_PREFIX)
        if guild_id is None:
            channel_id = tr.snowflake(chat)
            if channel_id is None:
                raise ValueError(f"not a Discord chat: {chat}")
            channel = self.client.get_channel(channel_id)
            if channel is None:
                channel = await self.client.fetch_channel(channel_id)
            if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
                guild_id = channel.guild.id
        guild = self.client.get_guild(guild_id) if guild_id else None
        if guild is None:
            raise ValueError(f"{chat} is in no guild the bot is in")
        return guild

    async def _member(self, guild: discord.Guild, key: str) -> discord.Member:
        user_id = tr.snowflake(key)
        if user_id is None:
            raise ValueError(f"not a Discord member: {key}")
        return guild.get_member(user_id) or await guild.fetch_member(user_id)


def _id(message_id: str) -> int:
    if not message_id.isdigit():
        raise ValueError(f"not a Discord message id: {message_id}")
    return int(message_id)


async def _ready(event: Event) -> Sequence[Event]:
    return (event,)


def _escaped(action: Action) -> Action:
    """Escape Markdown in what the bot posts: names and quoted texts render as written."""
    # Features write plain text (the same text goes to Telegram, which shows it as is);
    # Discord renders Markdown, so a member called *x* or a quoted `code` must be escaped.
    if isinstance(action, Reply | ReviewRequest | PostSummary | DirectMessage):
        return dataclasses.replace(
            action, text=discord.utils.escape_markdown(action.text, ignore_links=True)
        )
    return action
