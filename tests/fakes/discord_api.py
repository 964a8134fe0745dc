"""Local fake of Discord (REST API + gateway) that the real discord.py client can talk to.

Usage::

    async with FakeDiscord(bot_id=BOT_ID) as dc:
        dc.add_guild(GUILD_ID, "Guild", channels=[(CHANNEL_ID, "general")], members=[...])
        client = discord.Client(intents=..., guild_ready_timeout=0.05)
        async with client:
            task = asyncio.create_task(client.start("fake-token"))
            await client.wait_until_ready()
            await dc.message_create(GUILD_ID, CHANNEL_ID, alice, "hello")
            ...
            await client.close()
            await task

While active, ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` point here.
Only one instance should be active at a time (those are class attributes).

Notes on behaviour:

* Pass ``guild_ready_timeout`` (e.g. 0.05) to the client, otherwise discord.py waits 2 s after the
  last GUILD_CREATE before it fires READY.
* Like real Discord, the gateway echoes what the bot does over REST (MESSAGE_CREATE for its own
  messages, reactions, member updates, ...) unless ``FakeDiscord(echo=False)``.
* Like real Discord, events are filtered by the intents sent in IDENTIFY, and message content is
  blanked without the message_content intent (unless the bot is mentioned or it is a DM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
import secrets
import time
import warnings
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

with warnings.catch_warnings():
    # discord.py imports the stdlib audioop module, deprecated since Python 3.11; under
    # pytest's filterwarnings=error that import would fail.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    import discord.gateway
    import discord.http

JSON = dict[str, Any]

API_PREFIX: Final = "/api/v10"
GATEWAY_PATH: Final = "/ws"
DISCORD_EPOCH_MS: Final = 1_420_070_400_000
HEARTBEAT_INTERVAL_MS: Final = 41_250

ADMINISTRATOR: Final = 1 << 3
ALL_PERMISSIONS: Final = discord.Permissions.all().value
DEFAULT_EVERYONE_PERMISSIONS: Final = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_application_commands=True,
    create_instant_invite=True,
    change_nickname=True,
).value

# Gateway intents (bit values).
_GUILDS = 1 << 0
_GUILD_MEMBERS = 1 << 1
_GUILD_MODERATION = 1 << 2
_GUILD_MESSAGES = 1 << 9
_GUILD_MESSAGE_REACTIONS = 1 << 10
_GUILD_MESSAGE_TYPING = 1 << 11
_DIRECT_MESSAGES = 1 << 12
_DIRECT_MESSAGE_REACTIONS = 1 << 13
_DIRECT_MESSAGE_TYPING = 1 << 14
_MESSAGE_CONTENT = 1 << 15
_GUILD_PRESENCES = 1 << 8
PRIVILEGED_INTENTS: Final = _GUILD_MEMBERS | _GUILD_PRESENCES | _MESSAGE_CONTENT

_EPHEMERAL = 1 << 6
_LOADING = 1 << 7

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CUSTOM_EMOJI = re.compile(r"<?a?:?(?P<name>[A-Za-z0-9_~]+):(?P<id>\d+)>?")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


# --------------------------------------------------------------------------------------------
# Builders for Discord API JSON objects
# --------------------------------------------------------------------------------------------


def user(
    id: int,
    username: str,
    bot: bool = False,
    *,
    global_name: str | None = None,
    avatar: str | None = None,
) -> JSON:
    """Build a Discord user object."""
    return {
        "id": str(id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": avatar,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def role(
    id: int,
    name: str,
    permissions: int = 0,
    *,
    position: int = 1,
    color: int = 0,
    hoist: bool = False,
    managed: bool = False,
    mentionable: bool = False,
) -> JSON:
    """Build a Discord role object."""
    return {
        "id": str(id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "managed": managed,
        "mentionable": mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def member(
    user: JSON,
    roles: Sequence[int] = (),
    *,
    permissions: int | None = None,
    nick: str | None = None,
    joined_at: str | None = None,
    communication_disabled_until: str | None = None,
) -> JSON:
    """Build a guild member object (with ``user``); ``permissions`` is used for interactions."""
    data: JSON = {
        "user": dict(user),
        "nick": nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in roles],
        "joined_at": joined_at or _now_iso(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": communication_disabled_until,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel(
    id: int,
    name: str,
    *,
    guild_id: int | None = None,
    type: int = 0,
    position: int = 0,
    topic: str | None = None,
    parent_id: int | None = None,
) -> JSON:
    """Build a guild channel object (text channel by default)."""
    data: JSON = {
        "id": str(id),
        "type": type,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": str(parent_id) if parent_id is not None else None,
        "nsfw": False,
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if type in (0, 5, 15, 16):
        data.update(topic=topic, rate_limit_per_user=0, last_message_id=None)
    if type in (2, 13):
        data.update(bitrate=64000, user_limit=0, rtc_region=None, last_message_id=None)
    return data


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One REST request the fake received (path relative to /api/v10, ids filled in)."""

    method: str
    path: str
    json: Any
    files: dict[str, bytes] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    status: int = 200
    reason: str | None = None


@dataclass
class _Failure:
    method: str
    path_contains: str
    status: int
    message: str
    code: int
    times: int
    retry_after: float


@dataclass
class _Guild:
    id: int
    name: str
    owner_id: int
    channels: dict[int, JSON]
    roles: dict[int, JSON]
    members: dict[int, JSON]
    joined_at: str


@dataclass
class _Call:
    match: re.Match[str]
    json: Any
    files: dict[str, bytes]
    query: Mapping[str, str]

    def snowflake(self, name: str) -> int:
        return int(self.match[name])

    def param(self, name: str) -> str:
        return self.match[name]


_Reply = tuple[int, Any]
_Handler = Callable[[_Call], Awaitable[_Reply]]


class _ApiError(Exception):
    def __init__(self, status: int, message: str, code: int) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {"message": message, "code": code}


def _error(status: int, message: str, code: int) -> _Reply:
    return status, {"message": message, "code": code}


class _GatewayConnection:
    """One websocket connection from a client."""

    def __init__(self, ws: web.WebSocketResponse, zlib_stream: bool) -> None:
        self.ws = ws
        self._compressor = zlib.compressobj() if zlib_stream else None
        self._lock = asyncio.Lock()
        self.session_id: str | None = None
        self.intents: int = 0

    async def send(self, payload: JSON, seq: Callable[[], int] | None = None) -> None:
        async with self._lock:
            if seq is not None:
                payload = {**payload, "s": seq()}
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            if self.ws.closed:
                raise ConnectionResetError("gateway websocket is closed")
            if self._compressor is not None:
                chunk = self._compressor.compress(text.encode())
                chunk += self._compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(chunk)
            else:
                await self.ws.send_str(text)


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeDiscord:
    """A local Discord REST API + gateway server for end-to-end tests with discord.py."""

    def __init__(
        self,
        bot_id: int = 900_000_000_000_000_001,
        bot_name: str = "Leumund",
        *,
        application_id: int | None = None,
        echo: bool = True,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
    ) -> None:
        self.bot_id = bot_id
        # Privileged intents enabled in the "developer portal"; IDENTIFY asking for others
        # is refused with close code 4014, as Discord does.
        self.allowed_privileged_intents = allowed_privileged_intents
        self.application_id = application_id if application_id is not None else bot_id
        self.echo = echo
        self.bot_user: JSON = user(bot_id, bot_name, bot=True)
        self.requests: list[Request] = []
        self.gateway_received: list[JSON] = []
        self.gateway_connects: list[dict[str, str]] = []
        self.errors: list[Exception] = []
        self.port: int = 0

        self._users: dict[int, JSON] = {bot_id: self.bot_user}
        self._guilds: dict[int, _Guild] = {}
        self._channels: dict[int, JSON] = {}
        self._messages: dict[int, JSON] = {}
        self._reactions: dict[int, dict[str, list[int]]] = {}
        self._dm_channels: dict[int, int] = {}
        self._commands: dict[int | None, list[JSON]] = {}
        self._interactions: dict[str, JSON] = {}
        self._responded: set[str] = set()
        self._original_responses: dict[str, int] = {}
        self._blobs: dict[str, bytes] = {}
        self._failures: list[_Failure] = []

        self._last_id = 0
        self._seq = 0
        self._session_id: str | None = None
        self._last_intents = 0
        self._current: _GatewayConnection | None = None
        self._connections: set[_GatewayConnection] = set()
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, yarl.URL] | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = self._build_routes()

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """HTTP base URL of the REST API (``http://127.0.0.1:PORT/api/v10``)."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Websocket URL of the gateway."""
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    async def start(self) -> None:
        """Start the server and point discord.py at it."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self._gateway_handler)
        app.router.add_get("/attachments/{tail:.*}", self._attachment_handler)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    async def close(self) -> None:
        """Stop the server and restore discord.py's URLs."""
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---------------------------------------------------------------- configuration

    def new_id(self) -> int:
        """Return a fresh, increasing snowflake based on the current time."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    def add_user(self, data: JSON) -> JSON:
        """Register a user object so mentions, reactions and interactions can resolve it."""
        self._users[int(data["id"])] = data
        return data

    def add_guild(
        self,
        guild_id: int,
        name: str,
        channels: Sequence[tuple[int, str] | JSON] = (),
        members: Sequence[JSON] = (),
        roles: Sequence[JSON] = (),
        owner_id: int | None = None,
    ) -> None:
        """Configure a guild the bot is in (call before the client connects)."""
        role_map = {int(r["id"]): dict(r) for r in roles}
        if guild_id not in role_map:
            everyone = role(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, position=0)
            role_map = {guild_id: everyone, **role_map}
        channel_map: dict[int, JSON] = {}
        for position, spec in enumerate(channels):
            if isinstance(spec, tuple):
                data = channel(spec[0], spec[1], guild_id=guild_id, position=position)
            else:
                data = {**spec, "guild_id": str(guild_id)}
            channel_map[int(data["id"])] = data
            self._channels[int(data["id"])] = data
        member_map: dict[int, JSON] = {}
        for m in members:
            uid = int(m["user"]["id"])
            member_map[uid] = dict(m)
            self._users.setdefault(uid, m["user"])
        if self.bot_id not in member_map:
            member_map[self.bot_id] = member(self.bot_user)
        if owner_id is None:
            humans = [uid for uid in member_map if uid != self.bot_id]
            owner_id = humans[0] if humans else self.bot_id
        self._guilds[guild_id] = _Guild(
            id=guild_id,
            name=name,
            owner_id=owner_id,
            channels=channel_map,
            roles=role_map,
            members=member_map,
            joined_at=_now_iso(),
        )

    def add_rest_channel(self, data: JSON) -> JSON:
        """Register a channel only REST knows, not GUILD_CREATE (e.g. an archived thread)."""
        self._channels[int(data["id"])] = data
        return data

    def fail_next(
        self,
        method: str,
        path_contains: str,
        status: int,
        message: str = "Missing Permissions",
        code: int = 50013,
        times: int = 1,
        *,
        retry_after: float = 0.05,
    ) -> None:
        """Fail the next ``times`` matching requests (method "*" = any; 429 = rate limit)."""
        self._failures.append(
            _Failure(method.upper(), path_contains, status, message, code, times, retry_after)
        )

    # ---------------------------------------------------------------- inspection

    def sent_messages(self, channel_id: int | None = None) -> list[JSON]:
        """JSON payloads of successfully POSTed channel messages (optionally for one channel)."""
        out: list[JSON] = []
        for r in self.requests:
            m = re.fullmatch(r"/channels/(\d+)/messages", r.path)
            if r.method != "POST" or m is None or r.status >= 300:
                continue
            if channel_id is None or int(m[1]) == channel_id:
                out.append(r.json)
        return out

    def interaction_responses(self, interaction_id: int | None = None) -> list[JSON]:
        """JSON payloads of successful interaction callbacks (optionally for one interaction)."""
        out: list[JSON] = []
        for r in self.requests:
            m = re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", r.path)
            if r.method != "POST" or m is None or r.status >= 300:
                continue
            if interaction_id is None or int(m[1]) == interaction_id:
                out.append(r.json)
        return out

    def message(self, message_id: int) -> JSON:
        """The stored message object with this id (as Discord would return it)."""
        return self._messages[message_id]

    def channel_messages(self, channel_id: int) -> list[JSON]:
        """All stored (non-ephemeral) messages of a channel, oldest first."""
        return [
            m
            for m in self._messages.values()
            if int(m["channel_id"]) == channel_id and not int(m.get("flags", 0)) & _EPHEMERAL
        ]

    def guild_member(self, guild_id: int, user_id: int) -> JSON:
        """The fake's current member object (roles, timeout, ...)."""
        return self._guilds[guild_id].members[user_id]

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """Application commands registered via bulk overwrite (global if guild_id is None)."""
        return list(self._commands.get(guild_id, []))

    def dm_channel_id(self, user_id: int) -> int | None:
        """The id of the DM channel the bot opened with a user, if any."""
        return self._dm_channels.get(user_id)

    async def wait_for_request(
        self,
        method: str,
        path_contains: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Request]:
        """Wait until ``count`` matching requests were recorded (since start); return matches."""
        method = method.upper()

        def matching() -> list[Request]:
            return [r for r in self.requests if r.method == method and path_contains in r.path]

        async with self._cond:
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: len(matching()) >= count), timeout
                )
            except TimeoutError:
                seen = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self.requests)
                raise AssertionError(
                    f"expected {count} x {method} *{path_contains}* within {timeout}s, "
                    f"got {len(matching())}; requests seen:\n{seen or '  (none)'}"
                ) from None
        return matching()

    async def wait_until_connected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a client has identified (READY + GUILD_CREATEs sent)."""
        await self._connection(timeout)

    # ---------------------------------------------------------------- gateway dispatch

    async def dispatch(self, event: str, data: JSON, *, force: bool = False) -> bool:
        """Send a DISPATCH event to the connected client (filtered by intents unless forced)."""
        conn = await self._connection(5.0)
        payload = data if force else self._filter(conn, event, data)
        if payload is None:
            return False
        await conn.send({"op": 0, "t": event, "d": payload}, self._next_seq)
        return True

    async def force_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and RESUMEs."""
        conn = await self._connection(5.0)
        async with self._cond:
            self._current = None
        await conn.send({"op": 7, "d": None, "s": None, "t": None})

    async def message_create(
        self,
        guild_id: int | None,
        channel_id: int,
        author: JSON | int,
        content: str = "",
        message_id: int | None = None,
        reply_to: int | None = None,
        mentions: Sequence[JSON] | None = None,
        *,
        mention_roles: Sequence[int] | None = None,
        embeds: Sequence[JSON] = (),
        attachments: Sequence[JSON] = (),
        mention_everyone: bool | None = None,
    ) -> JSON:
        """Dispatch MESSAGE_CREATE from a user and return the stored message object."""
        author_data = self._resolve_user(author)
        ch = self._channels.get(channel_id) or channel(channel_id, "unknown", guild_id=guild_id)
        if guild_id is not None:
            ch = {**ch, "guild_id": str(guild_id)}
        else:
            ch = {k: v for k, v in ch.items() if k != "guild_id"}
        reference: JSON | None = None
        if reply_to is not None:
            reference = {"message_id": str(reply_to), "channel_id": str(channel_id)}
            if guild_id is not None:
                reference["guild_id"] = str(guild_id)
        msg = self._build_message(
            ch,
            author=author_data,
            content=content,
            message_id=message_id,
            embeds=list(embeds),
            attachments=list(attachments),
            reference=reference,
            mentions=mentions,
            mention_roles=mention_roles,
            mention_everyone=mention_everyone,
        )
        self._messages[int(msg["id"])] = msg
        await self.dispatch("MESSAGE_CREATE", self._gateway_message(msg))
        return msg

    async def message_update(
        self,
        message_id: int,
        *,
        content: str | None = None,
        embeds: Sequence[JSON] | None = None,
    ) -> JSON:
        """Edit a stored message and dispatch MESSAGE_UPDATE; return the updated message."""
        msg = self._messages[message_id]
        if content is not None:
            msg["content"] = content
            self._fill_mentions(msg, None, None, None)
        if embeds is not None:
            msg["embeds"] = list(embeds)
        msg["edited_timestamp"] = _now_iso()
        await self.dispatch("MESSAGE_UPDATE", self._gateway_message(msg))
        return msg

    async def message_delete(
        self, message_id: int, *, channel_id: int | None = None, guild_id: int | None = None
    ) -> JSON:
        """Dispatch MESSAGE_DELETE (channel/guild taken from the stored message if known)."""
        stored = self._messages.pop(message_id, None)
        if stored is not None:
            channel_id = int(stored["channel_id"])
            guild_id = int(stored["guild_id"]) if "guild_id" in stored else None
        if channel_id is None:
            raise KeyError(f"unknown message {message_id}; pass channel_id")
        data: JSON = {"id": str(message_id), "channel_id": str(channel_id)}
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        await self.dispatch("MESSAGE_DELETE", data)
        return data

    async def reaction_add(
        self,
        guild_id: int | None,
        channel_id: int,
        message_id: int,
        user_id: int,
        emoji_name: str,
    ) -> JSON:
        """Dispatch MESSAGE_REACTION_ADD (emoji as unicode or ``name:id``)."""
        data = self._reaction_event(guild_id, channel_id, message_id, user_id, emoji_name, True)
        self._set_reaction(message_id, emoji_name, user_id, add=True)
        await self.dispatch("MESSAGE_REACTION_ADD", data)
        return data

    async def reaction_remove(
        self,
        guild_id: int | None,
        channel_id: int,
        message_id: int,
        user_id: int,
        emoji_name: str,
    ) -> JSON:
        """Dispatch MESSAGE_REACTION_REMOVE."""
        data = self._reaction_event(guild_id, channel_id, message_id, user_id, emoji_name, False)
        self._set_reaction(message_id, emoji_name, user_id, add=False)
        await self.dispatch("MESSAGE_REACTION_REMOVE", data)
        return data

    async def guild_member_add(self, guild_id: int, member_data: JSON) -> JSON:
        """Add a member to a guild and dispatch GUILD_MEMBER_ADD."""
        guild = self._guilds[guild_id]
        uid = int(member_data["user"]["id"])
        guild.members[uid] = dict(member_data)
        self._users.setdefault(uid, member_data["user"])
        data = {**member_data, "guild_id": str(guild_id)}
        await self.dispatch("GUILD_MEMBER_ADD", data)
        return data

    async def guild_member_remove(self, guild_id: int, user_id: int) -> JSON:
        """Remove a member from a guild and dispatch GUILD_MEMBER_REMOVE."""
        self._guilds[guild_id].members.pop(user_id, None)
        data = {"guild_id": str(guild_id), "user": self._resolve_user(user_id)}
        await self.dispatch("GUILD_MEMBER_REMOVE", data)
        return data

    async def interaction_create(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        *,
        type: int,
        data: JSON,
        message: JSON | None = None,
    ) -> JSON:
        """Dispatch a raw INTERACTION_CREATE; return the interaction (``id``, ``token``, ...)."""
        interaction_id = self.new_id()
        token = f"itoken-{interaction_id}-{secrets.token_hex(8)}"
        ch = self._channels.get(channel_id) or channel(channel_id, "unknown", guild_id=guild_id)
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type,
            "data": data,
            "channel_id": str(channel_id),
            "channel": {**ch},
            "token": token,
            "version": 1,
            "locale": "de",
            "entitlements": [],
            "attachment_size_limit": 26_214_400,
        }
        if guild_id is not None:
            guild = self._guilds[guild_id]
            m = guild.members.get(user_id) or member(self._resolve_user(user_id))
            perms = self._permissions(guild, m)
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "de", "features": []},
                guild_locale="de",
                member={**m, "permissions": str(perms)},
                app_permissions=str(self._permissions(guild, guild.members[self.bot_id])),
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        else:
            payload.update(
                user=self._resolve_user(user_id),
                app_permissions=str(DEFAULT_EVERYONE_PERMISSIONS),
                authorizing_integration_owners={"1": str(user_id)},
                context=1,
            )
        if message is not None:
            payload["message"] = message
        self._interactions[token] = payload
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def button_click(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
    ) -> JSON:
        """Dispatch a component interaction (button or select) on a stored message."""
        try:
            msg = self._messages[message_id]
        except KeyError:
            raise KeyError(f"unknown message {message_id}: components live on messages") from None
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
            data["resolved"] = {}
        return await self.interaction_create(
            guild_id, channel_id, user_id, type=3, data=data, message=msg
        )

    async def slash_command(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Sequence[JSON] = (),
        *,
        command_type: int = 1,
    ) -> JSON:
        """Dispatch an application command interaction; user/role/channel options get resolved."""
        registered = [c for c in self._commands.get(guild_id, []) if c["name"] == name]
        registered += [c for c in self._commands.get(None, []) if c["name"] == name]
        data: JSON = {"name": name, "type": command_type, "options": list(options)}
        if registered:
            data["id"] = registered[0]["id"]
            if registered[0].get("guild_id"):
                data["guild_id"] = registered[0]["guild_id"]
        else:
            data["id"] = str(self.new_id())
            if guild_id is not None:
                data["guild_id"] = str(guild_id)
        resolved = self._resolve_options(guild_id, options)
        if resolved:
            data["resolved"] = resolved
        return await self.interaction_create(guild_id, channel_id, user_id, type=2, data=data)

    # ---------------------------------------------------------------- internals: data

    def _resolve_user(self, who: JSON | int) -> JSON:
        if isinstance(who, dict):
            return self._users.setdefault(int(who["id"]), who)
        try:
            return self._users[who]
        except KeyError:
            raise KeyError(f"unknown user {who}: add them to a guild or call add_user") from None

    def _guild_of_channel(self, channel_id: int) -> _Guild | None:
        ch = self._channels.get(channel_id)
        if ch is None or "guild_id" not in ch:
            return None
        return self._guilds.get(int(ch["guild_id"]))

    def _permissions(self, guild: _Guild, member_data: JSON) -> int:
        if "permissions" in member_data:
            return int(member_data["permissions"])
        uid = int(member_data["user"]["id"])
        if uid == guild.owner_id:
            return ALL_PERMISSIONS
        perms = int(guild.roles[guild.id]["permissions"]) if guild.id in guild.roles else 0
        for rid in member_data.get("roles", []):
            r = guild.roles.get(int(rid))
            if r is not None:
                perms |= int(r["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    @staticmethod
    def _partial_member(member_data: JSON) -> JSON:
        return {k: v for k, v in member_data.items() if k not in ("user", "permissions")}

    def _build_message(
        self,
        ch: JSON,
        *,
        author: JSON,
        content: str,
        message_id: int | None = None,
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        attachments: list[JSON] | None = None,
        reference: JSON | None = None,
        mentions: Sequence[JSON] | None = None,
        mention_roles: Sequence[int] | None = None,
        mention_everyone: bool | None = None,
        flags: int = 0,
        nonce: str | int | None = None,
        tts: bool = False,
        msg_type: int | None = None,
        extra: JSON | None = None,
    ) -> JSON:
        mid = message_id if message_id is not None else self.new_id()
        msg: JSON = {
            "id": str(mid),
            "channel_id": ch["id"],
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [{"type": "rich", **e} for e in (embeds or [])],
            "components": components or [],
            "pinned": False,
            "type": 0,
            "flags": flags,
        }
        if "guild_id" in ch:
            msg["guild_id"] = ch["guild_id"]
        if nonce is not None:
            msg["nonce"] = nonce
        if reference is not None:
            ref_id = int(reference["message_id"])
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(ref_id),
                "channel_id": str(reference.get("channel_id") or ch["id"]),
                **({"guild_id": str(msg["guild_id"])} if "guild_id" in msg else {}),
            }
            referenced = self._messages.get(ref_id)
            if referenced is not None:
                msg["referenced_message"] = {
                    k: v for k, v in referenced.items() if k != "referenced_message"
                }
            msg["type"] = 19
        if msg_type is not None:
            msg["type"] = msg_type
        if extra:
            msg.update(extra)
        self._fill_mentions(msg, mentions, mention_roles, mention_everyone)
        return msg

    def _fill_mentions(
        self,
        msg: JSON,
        mentions: Sequence[JSON] | None,
        mention_roles: Sequence[int] | None,
        mention_everyone: bool | None,
    ) -> None:
        content: str = msg["content"]
        if mentions is None:
            ids = dict.fromkeys(int(x) for x in _USER_MENTION.findall(content))
            mentions = [self._users[i] for i in ids if i in self._users]
        if mention_roles is None:
            mention_roles = [int(x) for x in dict.fromkeys(_ROLE_MENTION.findall(content))]
        if mention_everyone is None:
            is_bot = int(msg["author"]["id"]) == self.bot_id
            mention_everyone = not is_bot and ("@everyone" in content or "@here" in content)
        msg["mentions"] = [dict(u) for u in mentions]
        msg["mention_roles"] = [str(r) for r in mention_roles]
        msg["mention_everyone"] = mention_everyone

    def _gateway_message(self, msg: JSON) -> JSON:
        """Message as sent over the gateway: with ``member`` partials in guilds."""
        out = dict(msg)
        guild = self._guilds.get(int(msg["guild_id"])) if "guild_id" in msg else None
        if guild is None:
            return out
        author_member = guild.members.get(int(msg["author"]["id"]))
        if author_member is not None and "webhook_id" not in msg:
            out["member"] = self._partial_member(author_member)
        mentions = []
        for u in msg["mentions"]:
            m = guild.members.get(int(u["id"]))
            mentions.append({**u, "member": self._partial_member(m)} if m else u)
        out["mentions"] = mentions
        return out

    def _store_attachments(
        self,
        channel_id: int,
        requested: Sequence[JSON] | None,
        files: Mapping[str, bytes],
        existing: Sequence[JSON] = (),
    ) -> list[JSON]:
        keep = {str(a["id"]): a for a in existing}
        if requested is None:
            requested = [{"filename": name} for name in files]
            result = list(existing)
        else:
            result = []
        for spec in requested:
            if str(spec.get("id")) in keep and spec.get("filename") not in files:
                result.append(keep[str(spec["id"])])
                continue
            filename = str(spec.get("filename", ""))
            if filename not in files:
                continue
            blob = files[filename]
            aid = self.new_id()
            path = f"/attachments/{channel_id}/{aid}/{filename}"
            self._blobs[path] = blob
            url = f"http://127.0.0.1:{self.port}{path}"
            att: JSON = {
                "id": str(aid),
                "filename": filename,
                "size": len(blob),
                "url": url,
                "proxy_url": url,
                "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
            }
            if "description" in spec:
                att["description"] = spec["description"]
            result.append(att)
        return result

    def _reaction_event(
        self,
        guild_id: int | None,
        channel_id: int,
        message_id: int,
        user_id: int,
        emoji_name: str,
        add: bool,
    ) -> JSON:
        data: JSON = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": self._emoji(emoji_name),
            "burst": False,
            "type": 0,
        }
        stored = self._messages.get(message_id)
        if add and stored is not None:
            data["message_author_id"] = stored["author"]["id"]
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            guild = self._guilds.get(guild_id)
            if add and guild is not None and user_id in guild.members:
                data["member"] = guild.members[user_id]
        if add:
            data["burst_colors"] = []
        return data

    @staticmethod
    def _emoji(name: str) -> JSON:
        m = _CUSTOM_EMOJI.fullmatch(name)
        if m is not None:
            return {"id": m["id"], "name": m["name"], "animated": name.startswith("<a:")}
        return {"id": None, "name": name}

    def _set_reaction(self, message_id: int, emoji: str, user_id: int, *, add: bool) -> None:
        users = self._reactions.setdefault(message_id, {}).setdefault(emoji, [])
        if add and user_id not in users:
            users.append(user_id)
        if not add and user_id in users:
            users.remove(user_id)
        msg = self._messages.get(message_id)
        if msg is None:
            return
        reactions = []
        for name, who in self._reactions[message_id].items():
            if who:
                reactions.append(
                    {
                        "emoji": self._emoji(name),
                        "count": len(who),
                        "count_details": {"burst": 0, "normal": len(who)},
                        "me": self.bot_id in who,
                        "me_burst": False,
                        "burst_colors": [],
                    }
                )
        msg["reactions"] = reactions

    def _resolve_options(self, guild_id: int | None, options: Iterable[JSON]) -> JSON:
        resolved: dict[str, JSON] = {}
        guild = self._guilds.get(guild_id) if guild_id is not None else None
        for opt in options:
            if "options" in opt:
                for key, values in self._resolve_options(guild_id, opt["options"]).items():
                    resolved.setdefault(key, {}).update(values)
            kind, value = opt.get("type"), opt.get("value")
            if value is None:
                continue
            vid = int(value) if str(value).isdigit() else None
            if vid is None:
                continue
            if kind in (6, 9) and vid in self._users:
                resolved.setdefault("users", {})[str(vid)] = self._users[vid]
                if guild is not None and vid in guild.members:
                    m = guild.members[vid]
                    resolved.setdefault("members", {})[str(vid)] = {
                        **self._partial_member(m),
                        "permissions": str(self._permissions(guild, m)),
                    }
            if kind in (8, 9) and guild is not None and vid in guild.roles:
                resolved.setdefault("roles", {})[str(vid)] = guild.roles[vid]
            if kind == 7 and vid in self._channels:
                resolved.setdefault("channels", {})[str(vid)] = {
                    **self._channels[vid],
                    "permissions": str(ALL_PERMISSIONS),
                }
        return resolved

    # ---------------------------------------------------------------- internals: gateway

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _connection(self, limit_s: float) -> _GatewayConnection:
        async with self._cond:
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self._current is not None), limit_s
                )
            except TimeoutError:
                raise AssertionError(
                    f"no discord.py client identified with the fake gateway within {limit_s}s"
                ) from None
            assert self._current is not None
            return self._current

    async def _echo(self, event: str, data: JSON) -> None:
        """Send an event caused by the bot's own REST call, if a client is connected."""
        conn = self._current
        if not self.echo or conn is None:
            return
        payload = self._filter(conn, event, data)
        if payload is None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.send({"op": 0, "t": event, "d": payload}, self._next_seq)

    def _filter(self, conn: _GatewayConnection, event: str, data: JSON) -> JSON | None:
        in_guild = "guild_id" in data
        needed = 0
        if event.startswith("MESSAGE_REACTION_"):
            needed = _GUILD_MESSAGE_REACTIONS if in_guild else _DIRECT_MESSAGE_REACTIONS
        elif event.startswith("MESSAGE_"):
            needed = _GUILD_MESSAGES if in_guild else _DIRECT_MESSAGES
        elif event == "TYPING_START":
            needed = _GUILD_MESSAGE_TYPING if in_guild else _DIRECT_MESSAGE_TYPING
        elif event.startswith("GUILD_MEMBER_") and event != "GUILD_MEMBERS_CHUNK":
            needed = _GUILD_MEMBERS
        elif event.startswith("GUILD_BAN_"):
            needed = _GUILD_MODERATION
        elif event.startswith(("GUILD_", "CHANNEL_", "THREAD_")) and event != "GUILD_MEMBERS_CHUNK":
            needed = _GUILDS
        if needed and not conn.intents & needed:
            return None
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not conn.intents & _MESSAGE_CONTENT:
            author_id = int(data.get("author", {}).get("id", 0))
            mentioned = any(int(u["id"]) == self.bot_id for u in data.get("mentions", []))
            if in_guild and author_id != self.bot_id and not mentioned:
                data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
        return data

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=1.0, max_msg_size=0)
        await ws.prepare(request)
        self.gateway_connects.append(dict(request.query))
        conn = _GatewayConnection(ws, request.query.get("compress") == "zlib-stream")
        self._connections.add(conn)
        try:
            await conn.send(
                {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_payload(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await self._on_gateway_payload(conn, json.loads(msg.data.decode()))
        except ConnectionError:
            pass
        finally:
            self._connections.discard(conn)
            async with self._cond:
                if self._current is conn:
                    self._current = None
        return ws

    async def _on_gateway_payload(self, conn: _GatewayConnection, payload: JSON) -> None:
        self.gateway_received.append(payload)
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2 and isinstance(d, dict):
            await self._identify(conn, d)
        elif op == 6 and isinstance(d, dict):
            if d.get("session_id") != self._session_id or self._session_id is None:
                await conn.send({"op": 9, "d": False, "s": None, "t": None})
                return
            conn.session_id = self._session_id
            conn.intents = self._last_intents
            await conn.send({"op": 0, "t": "RESUMED", "d": {}}, self._next_seq)
            async with self._cond:
                self._current = conn
                self._cond.notify_all()
        elif op == 8 and isinstance(d, dict):
            await self._request_members(conn, d)

    async def _identify(self, conn: _GatewayConnection, d: JSON) -> None:
        requested = int(d.get("intents", 0))
        if requested & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self._session_id = secrets.token_hex(16)
        self._seq = 0
        conn.session_id = self._session_id
        conn.intents = self._last_intents = int(d.get("intents", 0))
        ready: JSON = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self._guilds],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": d.get("shard", [0, 1]),
            "application": {
                "id": str(self.application_id),
                "flags": (1 << 13) | (1 << 15) | (1 << 19),
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "auth": {},
        }
        await conn.send({"op": 0, "t": "READY", "d": ready}, self._next_seq)
        for guild in self._guilds.values():
            await conn.send(
                {"op": 0, "t": "GUILD_CREATE", "d": self._guild_create(guild)}, self._next_seq
            )
        async with self._cond:
            self._current = conn
            self._cond.notify_all()

    def _guild_payload(self, guild: _Guild) -> JSON:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": list(guild.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "de",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def _guild_create(self, guild: _Guild) -> JSON:
        return {
            **self._guild_payload(guild),
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "members": list(guild.members.values()),
            "channels": [
                {k: v for k, v in c.items() if k != "guild_id"} for c in guild.channels.values()
            ],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    async def _request_members(self, conn: _GatewayConnection, d: JSON) -> None:
        raw_ids = d.get("guild_id")
        guild_ids: list[Any] = raw_ids if isinstance(raw_ids, list) else [raw_ids]
        for gid in guild_ids:
            guild = self._guilds.get(int(gid)) if gid is not None else None
            if guild is None:
                continue
            members = list(guild.members.values())
            not_found: list[str] = []
            if d.get("user_ids"):
                wanted = [int(u) for u in d["user_ids"]]
                members = [m for m in members if int(m["user"]["id"]) in wanted]
                not_found = [str(u) for u in wanted if u not in guild.members]
            elif d.get("query"):
                query = str(d["query"]).lower()
                members = [m for m in members if m["user"]["username"].lower().startswith(query)]
            if d.get("limit"):
                members = members[: int(d["limit"])]
            chunk: JSON = {
                "guild_id": str(guild.id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": not_found,
            }
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await conn.send({"op": 0, "t": "GUILD_MEMBERS_CHUNK", "d": chunk}, self._next_seq)

    # ---------------------------------------------------------------- internals: REST plumbing

    async def _attachment_handler(self, request: web.Request) -> web.Response:
        blob = self._blobs.get(request.path)
        if blob is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=blob, headers={"Content-Type": "application/octet-stream"})

    @staticmethod
    def _json_response(
        status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        all_headers = dict(headers or {})
        if body is None and status == 204:
            return web.Response(status=204, headers=all_headers)
        # No charset: discord.py compares the content type with == "application/json".
        all_headers["Content-Type"] = "application/json"
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return web.Response(status=status, body=text.encode(), headers=all_headers)

    async def _read_body(self, request: web.Request) -> tuple[Any, dict[str, bytes]]:
        files: dict[str, bytes] = {}
        body: Any = None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    files[part.filename or part.name or "file"] = bytes(await part.read())
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                body = json.loads(raw) if request.content_type == "application/json" else raw
        return body, files

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (method, "*") and failure.path_contains in path:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _rest_handler(self, request: web.Request) -> web.Response:
        method = request.method.upper()
        path = request.path[len(API_PREFIX) :] or "/"
        body, files = await self._read_body(request)
        query = dict(request.query)
        reason = request.headers.get("X-Audit-Log-Reason")
        headers: dict[str, str] = {}

        failure = self._take_failure(method, path)
        if failure is not None:
            status = failure.status
            reply: Any = {"message": failure.message, "code": failure.code}
            if status == 429:
                reply = {
                    "message": "You are being rate limited.",
                    "retry_after": failure.retry_after,
                    "global": False,
                    "code": 0,
                }
                headers = {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(failure.retry_after))),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                    "X-RateLimit-Scope": "user",
                }
        else:
            status, reply = 404, {"message": "Unknown route", "code": 0}
            for route_method, pattern, handler in self._routes:
                m = pattern.fullmatch(path)
                if m is not None and route_method == method:
                    try:
                        status, reply = await handler(_Call(m, body, files, query))
                    except _ApiError as exc:
                        status, reply = exc.status, exc.body
                    except Exception as exc:
                        # A bug in the fake (or a payload it cannot handle): answer 400 so
                        # discord.py raises at once instead of retrying a 500 for seconds.
                        self.errors.append(exc)
                        status, reply = 400, {"message": f"FakeDiscord error: {exc!r}", "code": 0}
                    break

        async with self._cond:
            self.requests.append(Request(method, path, body, files, query, status, reason))
            self._cond.notify_all()
        return self._json_response(status, reply, headers)

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        ch = r"/channels/(?P<cid>\d+)"
        msg = ch + r"/messages/(?P<mid>\d+)"
        gm = r"/guilds/(?P<gid>\d+)/members/(?P<uid>\d+)"
        app = r"/applications/(?P<aid>\d+)"
        hook = r"/webhooks/(?P<aid>\d+)/(?P<token>[^/]+)"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway_bot),
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(?P<uid>\d+)", self._get_user),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", ch, self._get_channel),
            ("POST", ch + r"/typing", self._no_content),
            ("GET", ch + r"/messages", self._get_messages),
            ("POST", ch + r"/messages", self._post_message),
            ("GET", msg, self._get_message),
            ("PATCH", msg, self._patch_message),
            ("DELETE", msg, self._delete_message),
            ("PUT", msg + r"/reactions/(?P<emoji>[^/]+)/@me", self._put_reaction),
            ("DELETE", msg + r"/reactions/(?P<emoji>[^/]+)/(?P<who>@me|\d+)", self._del_reaction),
            ("GET", r"/guilds/(?P<gid>\d+)", self._get_guild),
            ("GET", r"/guilds/(?P<gid>\d+)/roles", self._get_roles),
            ("GET", r"/guilds/(?P<gid>\d+)/members", self._get_members),
            ("GET", gm, self._get_member),
            ("PATCH", gm, self._patch_member),
            ("DELETE", gm, self._kick_member),
            ("PUT", r"/guilds/(?P<gid>\d+)/bans/(?P<uid>\d+)", self._ban_member),
            ("PUT", gm + r"/roles/(?P<rid>\d+)", self._add_role),
            ("DELETE", gm + r"/roles/(?P<rid>\d+)", self._remove_role),
            ("GET", app + r"/commands", self._get_commands),
            ("PUT", app + r"/commands", self._put_commands),
            ("GET", app + r"/guilds/(?P<gid>\d+)/commands", self._get_commands),
            ("PUT", app + r"/guilds/(?P<gid>\d+)/commands", self._put_commands),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", hook, self._post_followup),
            ("GET", hook + r"/messages/(?P<mid>@original|\d+)", self._get_webhook_message),
            ("PATCH", hook + r"/messages/(?P<mid>@original|\d+)", self._patch_webhook_message),
            ("DELETE", hook + r"/messages/(?P<mid>@original|\d+)", self._delete_webhook_message),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # ---------------------------------------------------------------- REST handlers

    async def _no_content(self, call: _Call) -> _Reply:
        return 204, None

    async def _get_gateway(self, call: _Call) -> _Reply:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, call: _Call) -> _Reply:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    async def _get_me(self, call: _Call) -> _Reply:
        return 200, {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None}

    async def _get_user(self, call: _Call) -> _Reply:
        found = self._users.get(call.snowflake("uid"))
        return (200, found) if found is not None else _error(404, "Unknown User", 10013)

    async def _get_application(self, call: _Call) -> _Reply:
        owner = next((u for uid, u in self._users.items() if uid != self.bot_id), self.bot_user)
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": owner,
            "team": None,
            "verify_key": "0" * 64,
            "flags": (1 << 13) | (1 << 15) | (1 << 19),
            "bot": self.bot_user,
            "interactions_endpoint_url": None,
        }

    async def _create_dm(self, call: _Call) -> _Reply:
        uid = int((call.json or {})["recipient_id"])
        recipient = self._users.get(uid)
        if recipient is None:
            return _error(400, "Invalid Recipient(s)", 50033)
        cid = self._dm_channels.get(uid)
        if cid is None:
            cid = self._dm_channels[uid] = self.new_id()
            self._channels[cid] = {
                "id": str(cid),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [recipient],
            }
        return 200, self._channels[cid]

    async def _get_channel(self, call: _Call) -> _Reply:
        found = self._channels.get(call.snowflake("cid"))
        return (200, found) if found is not None else _error(404, "Unknown Channel", 10003)

    async def _get_messages(self, call: _Call) -> _Reply:
        limit = int(call.query.get("limit", "50"))
        msgs = sorted(self.channel_messages(call.snowflake("cid")), key=lambda m: -int(m["id"]))
        if "before" in call.query:
            msgs = [m for m in msgs if int(m["id"]) < int(call.query["before"])]
        if "after" in call.query:
            msgs = [m for m in msgs if int(m["id"]) > int(call.query["after"])]
        return 200, msgs[:limit]

    async def _get_message(self, call: _Call) -> _Reply:
        found = self._messages.get(call.snowflake("mid"))
        if found is None or int(found["channel_id"]) != call.snowflake("cid"):
            return _error(404, "Unknown Message", 10008)
        return 200, found

    async def _post_message(self, call: _Call) -> _Reply:
        cid = call.snowflake("cid")
        ch = self._channels.get(cid)
        if ch is None:
            return _error(404, "Unknown Channel", 10003)
        payload: JSON = call.json or {}
        has_body = any(payload.get(k) for k in ("content", "embeds", "components", "sticker_ids"))
        if not has_body and not call.files and "poll" not in payload:
            return _error(400, "Cannot send an empty message", 50006)
        reference = payload.get("message_reference")
        if reference is not None:
            ref_id = int(reference["message_id"])
            if ref_id not in self._messages and reference.get("fail_if_not_exists", True):
                return _error(400, "Invalid Form Body (message_reference: Unknown message)", 50035)
        msg = self._build_message(
            ch,
            author=self.bot_user,
            content=payload.get("content") or "",
            embeds=payload.get("embeds"),
            components=payload.get("components"),
            attachments=self._store_attachments(cid, payload.get("attachments"), call.files),
            reference=reference,
            flags=int(payload.get("flags") or 0),
            nonce=payload.get("nonce"),
            tts=bool(payload.get("tts")),
        )
        self._messages[int(msg["id"])] = msg
        await self._echo("MESSAGE_CREATE", self._gateway_message(msg))
        return 200, msg

    async def _patch_message(self, call: _Call) -> _Reply:
        msg = self._messages.get(call.snowflake("mid"))
        if msg is None or int(msg["channel_id"]) != call.snowflake("cid"):
            return _error(404, "Unknown Message", 10008)
        if int(msg["author"]["id"]) != self.bot_id:
            return _error(403, "Cannot edit a message authored by another user", 50005)
        self._apply_edit(msg, call)
        await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        return 200, msg

    def _apply_edit(self, msg: JSON, call: _Call) -> None:
        payload: JSON = call.json or {}
        if "content" in payload:
            msg["content"] = payload["content"] or ""
            self._fill_mentions(msg, None, None, None)
        if "embeds" in payload:
            msg["embeds"] = [{"type": "rich", **e} for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = payload["components"] or []
        if "flags" in payload and payload["flags"] is not None:
            msg["flags"] = int(payload["flags"])
        if "attachments" in payload or call.files:
            msg["attachments"] = self._store_attachments(
                int(msg["channel_id"]), payload.get("attachments"), call.files, msg["attachments"]
            )
        msg["edited_timestamp"] = _now_iso()

    async def _delete_message(self, call: _Call) -> _Reply:
        msg = self._messages.pop(call.snowflake("mid"), None)
        if msg is None or int(msg["channel_id"]) != call.snowflake("cid"):
            return _error(404, "Unknown Message", 10008)
        data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if "guild_id" in msg:
            data["guild_id"] = msg["guild_id"]
        await self._echo("MESSAGE_DELETE", data)
        return 204, None

    async def _put_reaction(self, call: _Call) -> _Reply:
        cid, mid, emoji = call.snowflake("cid"), call.snowflake("mid"), call.param("emoji")
        if mid not in self._messages:
            return _error(404, "Unknown Message", 10008)
        guild = self._guild_of_channel(cid)
        gid = guild.id if guild else None
        self._set_reaction(mid, emoji, self.bot_id, add=True)
        await self._echo(
            "MESSAGE_REACTION_ADD", self._reaction_event(gid, cid, mid, self.bot_id, emoji, True)
        )
        return 204, None

    async def _del_reaction(self, call: _Call) -> _Reply:
        cid, mid, emoji = call.snowflake("cid"), call.snowflake("mid"), call.param("emoji")
        if mid not in self._messages:
            return _error(404, "Unknown Message", 10008)
        who = self.bot_id if call.param("who") == "@me" else call.snowflake("who")
        guild = self._guild_of_channel(cid)
        gid = guild.id if guild else None
        self._set_reaction(mid, emoji, who, add=False)
        await self._echo(
            "MESSAGE_REACTION_REMOVE", self._reaction_event(gid, cid, mid, who, emoji, False)
        )
        return 204, None

    async def _get_guild(self, call: _Call) -> _Reply:
        guild = self._guild(call)
        return 200, self._guild_payload(guild)

    async def _get_roles(self, call: _Call) -> _Reply:
        guild = self._guild(call)
        return 200, list(guild.roles.values())

    async def _get_members(self, call: _Call) -> _Reply:
        guild = self._guild(call)
        limit = int(call.query.get("limit", "1"))
        after = int(call.query.get("after", "0"))
        members = sorted(guild.members.values(), key=lambda m: int(m["user"]["id"]))
        return 200, [m for m in members if int(m["user"]["id"]) > after][:limit]

    def _guild(self, call: _Call) -> _Guild:
        guild = self._guilds.get(call.snowflake("gid"))
        if guild is None:
            raise _ApiError(404, "Unknown Guild", 10004)
        return guild

    def _member(self, call: _Call) -> tuple[_Guild, JSON]:
        guild = self._guild(call)
        found = guild.members.get(call.snowflake("uid"))
        if found is None:
            raise _ApiError(404, "Unknown Member", 10007)
        return guild, found

    def _role_id(self, guild: _Guild, call: _Call) -> int:
        rid = call.snowflake("rid")
        if rid not in guild.roles:
            raise _ApiError(404, "Unknown Role", 10011)
        return rid

    async def _member_updated(self, guild: _Guild, member_data: JSON) -> None:
        await self._echo("GUILD_MEMBER_UPDATE", {**member_data, "guild_id": str(guild.id)})

    async def _get_member(self, call: _Call) -> _Reply:
        return 200, self._member(call)[1]

    async def _patch_member(self, call: _Call) -> _Reply:
        guild, member_data = self._member(call)
        payload: JSON = call.json or {}
        for key in ("nick", "communication_disabled_until", "mute", "deaf", "flags"):
            if key in payload:
                member_data[key] = payload[key]
        if "roles" in payload:
            member_data["roles"] = [str(r) for r in payload["roles"]]
        await self._member_updated(guild, member_data)
        return 200, member_data

    async def _kick_member(self, call: _Call) -> _Reply:
        guild, member_data = self._member(call)
        del guild.members[call.snowflake("uid")]
        await self._echo(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": member_data["user"]}
        )
        return 204, None

    async def _ban_member(self, call: _Call) -> _Reply:
        guild = self._guild(call)
        uid = call.snowflake("uid")
        banned = self._users.get(uid, user(uid, f"user{uid}"))
        removed = guild.members.pop(uid, None)
        await self._echo("GUILD_BAN_ADD", {"guild_id": str(guild.id), "user": banned})
        if removed is not None:
            await self._echo("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": banned})
        return 204, None

    async def _add_role(self, call: _Call) -> _Reply:
        guild, member_data = self._member(call)
        rid = self._role_id(guild, call)
        if str(rid) not in member_data["roles"]:
            member_data["roles"].append(str(rid))
            await self._member_updated(guild, member_data)
        return 204, None

    async def _remove_role(self, call: _Call) -> _Reply:
        guild, member_data = self._member(call)
        rid = self._role_id(guild, call)
        if str(rid) in member_data["roles"]:
            member_data["roles"].remove(str(rid))
            await self._member_updated(guild, member_data)
        return 204, None

    def _command_scope(self, call: _Call) -> int | None:
        return int(call.match["gid"]) if call.match.groupdict().get("gid") else None

    async def _get_commands(self, call: _Call) -> _Reply:
        return 200, self._commands.get(self._command_scope(call), [])

    async def _put_commands(self, call: _Call) -> _Reply:
        scope = self._command_scope(call)
        old = {c["name"]: c for c in self._commands.get(scope, [])}
        echoed: list[JSON] = []
        for spec in call.json or []:
            cmd: JSON = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **spec,
                "id": old[spec["name"]]["id"] if spec["name"] in old else str(self.new_id()),
                "application_id": str(self.application_id),
                "version": str(self.new_id()),
            }
            if scope is not None:
                cmd["guild_id"] = str(scope)
            echoed.append(cmd)
        self._commands[scope] = echoed
        return 200, echoed

    def _interaction_message(
        self, interaction: JSON, payload: JSON, files: dict[str, bytes]
    ) -> JSON:
        ch = interaction["channel"]
        cid = int(interaction["channel_id"])
        return self._build_message(
            ch,
            author=self.bot_user,
            content=payload.get("content") or "",
            embeds=payload.get("embeds"),
            components=payload.get("components"),
            attachments=self._store_attachments(cid, payload.get("attachments"), files),
            flags=int(payload.get("flags") or 0),
            tts=bool(payload.get("tts")),
            msg_type=20 if interaction["type"] == 2 else 0,
            extra={
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
            },
        )

    async def _callback(self, call: _Call) -> _Reply:
        token = call.param("token")
        interaction = self._interactions.get(token)
        if interaction is None or int(interaction["id"]) != call.snowflake("iid"):
            return _error(404, "Unknown interaction", 10062)
        if token in self._responded:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        self._responded.add(token)
        body: JSON = call.json or {}
        rtype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        result: JSON = {
            "interaction": {
                "id": interaction["id"],
                "type": interaction["type"],
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(flags & _EPHEMERAL),
            }
        }
        message: JSON | None = None
        if rtype in (4, 5):
            payload = {**data, "flags": flags | (_LOADING if rtype == 5 else 0)}
            message = self._interaction_message(interaction, payload, call.files)
            self._messages[int(message["id"])] = message
            self._original_responses[token] = int(message["id"])
            if not flags & _EPHEMERAL:
                await self._echo("MESSAGE_CREATE", self._gateway_message(message))
        elif rtype in (6, 7) and "message" in interaction:
            mid = int(interaction["message"]["id"])
            message = self._messages.get(mid) or interaction["message"]
            assert message is not None
            if rtype == 7:
                self._apply_edit(message, _Call(call.match, data, call.files, call.query))
                await self._echo("MESSAGE_UPDATE", self._gateway_message(message))
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"] = {"type": rtype, "message": message}
        if call.query.get("with_response", "").lower() in ("1", "true"):
            return 200, result
        return 204, None

    async def _post_followup(self, call: _Call) -> _Reply:
        interaction = self._interactions.get(call.param("token"))
        if interaction is None or call.snowflake("aid") != self.application_id:
            return _error(404, "Unknown Webhook", 10015)
        payload: JSON = call.json or {}
        message = self._interaction_message(interaction, payload, call.files)
        self._messages[int(message["id"])] = message
        if not int(payload.get("flags") or 0) & _EPHEMERAL:
            await self._echo("MESSAGE_CREATE", self._gateway_message(message))
        if call.query.get("wait", "").lower() in ("1", "true"):
            return 200, message
        return 204, None

    def _webhook_message(self, call: _Call) -> JSON | None:
        token = call.param("token")
        if token not in self._interactions or call.snowflake("aid") != self.application_id:
            return None
        raw = call.param("mid")
        mid = self._original_responses.get(token) if raw == "@original" else int(raw)
        return self._messages.get(mid) if mid is not None else None

    async def _get_webhook_message(self, call: _Call) -> _Reply:
        message = self._webhook_message(call)
        return (200, message) if message is not None else _error(404, "Unknown Message", 10008)

    async def _patch_webhook_message(self, call: _Call) -> _Reply:
        message = self._webhook_message(call)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        was_loading = bool(int(message.get("flags", 0)) & _LOADING)
        self._apply_edit(message, call)
        message["flags"] = int(message.get("flags", 0)) & ~_LOADING
        if was_loading:
            message["edited_timestamp"] = None
        if not message["flags"] & _EPHEMERAL:
            await self._echo("MESSAGE_UPDATE", self._gateway_message(message))
        return 200, message

    async def _delete_webhook_message(self, call: _Call) -> _Reply:
        message = self._webhook_message(call)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        self._messages.pop(int(message["id"]), None)
        if not int(message.get("flags", 0)) & _EPHEMERAL:
            data = {"id": message["id"], "channel_id": message["channel_id"]}
            if "guild_id" in message:
                data["guild_id"] = message["guild_id"]
            await self._echo("MESSAGE_DELETE", data)
        return 204, None
