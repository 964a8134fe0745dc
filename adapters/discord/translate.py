"""Pure translation of discord.py objects (messages, raw events, interactions) into core events.

Keys and places, decided once for the whole adapter:

* A member is ``discord:<user id>``, a message id is ``str(message id)``.
* A chat is ``discord:<channel id>``. A message in a thread or a forum post belongs to the
  channel the thread hangs off: ``chat`` is ``discord:<parent channel id>`` and ``thread`` is
  the thread's id. Settings per channel then cover its threads (as Telegram forum topics
  belong to their group), and the adapter sends replies into the thread. Events that only
  name a channel id (raw reactions, edits, deletes) get the parent from the adapter, which
  looks it up in its cache or over REST; a thread it cannot resolve stays its own chat.
* A guild-wide event (a member joining) has the chat ``discord-guild:<guild id>``.
* Event keys name the real channel the message is in, so they never change with a lookup:
  ``discord:<channel>:<message>`` for a post, ``…:edit:<edited timestamp>`` for an edit,
  ``…:deleted`` for a delete, ``discord:<guild>:join:<user>:<joined_at>`` for a join,
  ``discord:<channel>:interaction:<interaction id>`` for slash commands and buttons.
* Reactions carry no timestamp and no sequence number reaches the handlers, so their key
  ends with the moment the bot received them, in milliseconds:
  ``discord:<channel>:<message>:reaction:<user>:<emoji>:<+|->:<ms>``. Add, remove and add
  again stay three distinct events; a true redelivery (rare: Discord replays only missed
  events on RESUME) would count twice, which is why karma keeps one reaction per giver and
  message in its own ledger instead of relying on the key.

Strings from the payload pass through ``well_formed``: a JSON escape of a lone surrogate
would otherwise reach the database, which refuses it and with it the whole event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord

from bot.commands import ParsedCommand, parse_command
from bot.events import (
    ButtonPressed,
    CommandIssued,
    MemberJoined,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.events import Member as EventMember
from bot.text import first_mentions, well_formed

PLATFORM = "discord"
GUILD_PREFIX = "discord-guild:"
# Message types a person writes; joins, pins, boosts and other system messages are not posts.
_USER_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
_USER_MENTION = re.compile(r"^<@!?(\d{1,20})>$")


@dataclass(frozen=True, slots=True)
class Scope:
    """What translation needs beyond the payload: whose bot this is and where events go."""

    community: str
    bot_id: int
    ignore_other_bots: bool = True
    # Role ids (digits) or lower-case role names whose holders count as moderators.
    moderator_roles: frozenset[str] = frozenset()
    # Command names a text message may call; None accepts every ``/word``.
    commands: frozenset[str] | None = None
    bot_username: str | None = None


def member_key(user_id: int) -> str:
    """The core member key of a Discord user."""
    return f"{PLATFORM}:{user_id}"


def chat_key(channel_id: int) -> str:
    """The core chat key of a Discord channel."""
    return f"{PLATFORM}:{channel_id}"


def guild_chat(guild_id: int) -> str:
    """The chat key that stands for a whole guild."""
    return f"{GUILD_PREFIX}{guild_id}"


def snowflake(key: str, prefix: str = f"{PLATFORM}:") -> int | None:
    """The numeric id in a key such as ``discord:123``; None if it is not one."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    # At most 20 ASCII digits (2**64): "²" passes str.isdigit but not int(), and int()
    # refuses over 4300 digits; keys also come from imports and the config.
    return int(rest) if len(rest) <= 20 and rest.isascii() and rest.isdigit() else None


def to_member(user: discord.abc.User) -> EventMember:
    """A core member from a Discord user or guild member."""
    return EventMember(
        key=member_key(user.id),
        name=well_formed(user.display_name),
        username=well_formed(user.name),
        is_bot=user.bot,
    )


def emoji_text(emoji: discord.PartialEmoji | discord.Emoji | str) -> str:
    """Unicode emoji as they are, custom ones as ``<:name:id>`` (``<a:name:id>`` if animated)."""
    return well_formed(emoji if isinstance(emoji, str) else str(emoji))


def known_parent(channel: object) -> int | None:
    """The parent channel id of a thread or forum post, None for any other channel."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return None


def place(channel_id: int, parent_id: int | None) -> tuple[str, str | None]:
    """The chat key and thread id of a channel (a thread belongs to its parent's chat)."""
    if parent_id is not None and parent_id != channel_id:
        return chat_key(parent_id), str(channel_id)
    return chat_key(channel_id), None


def is_moderator(user: discord.abc.User, channel: object, scope: Scope) -> bool | None:
    """Manage Messages in the channel or a configured moderator role; None if unknowable."""
    if not isinstance(user, discord.Member):
        return None
    if _has_moderator_role(user, scope):
        return True
    if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return channel.permissions_for(user).manage_messages
    return user.guild_permissions.manage_messages


def _has_moderator_role(member: discord.Member, scope: Scope) -> bool:
    return bool(scope.moderator_roles) and any(
        str(r.id) in scope.moderator_roles or r.name.lower() in scope.moderator_roles
        for r in member.roles
    )


def _ignored(user: discord.abc.User, scope: Scope) -> bool:
    return user.id == scope.bot_id or (scope.ignore_other_bots and user.bot)


def _mention_args(args: Iterable[str], names: Mapping[int, str]) -> tuple[str, ...]:
    """``<@123>`` arguments become ``@username``, the form commands look members up by."""
    out = []
    for arg in args:
        match = _USER_MENTION.match(arg)
        if match and int(match.group(1)) in names:
            arg = f"@{names[int(match.group(1))]}"
        out.append(arg)
    return tuple(out)


def text_command(text: str, scope: Scope) -> ParsedCommand | None:
    """A command typed as text: ``/karma why``, ``!karma why`` or ``@Bot karma why``."""
    stripped = text.strip()
    mention = re.match(rf"^<@!?{scope.bot_id}>\s*", stripped)
    if mention:
        stripped = "/" + stripped[mention.end() :].lstrip("/!")
    elif stripped.startswith("!"):
        stripped = "/" + stripped[1:]
    if not stripped.startswith("/"):
        return None
    parsed = parse_command(stripped, scope.bot_username)
    if parsed is None or (scope.commands is not None and parsed.name not in scope.commands):
        return None
    return parsed


def message_event(
    message: discord.Message, scope: Scope, parent_id: int | None = None
) -> MessagePosted | CommandIssued | None:
    """MESSAGE_CREATE as a post or, for a known command, as a command; None if ignored."""
    author = message.author
    if message.guild is None or _ignored(author, scope) or message.webhook_id is not None:
        return None
    if message.type not in _USER_TYPES:
        return None
    channel_id = message.channel.id
    parent = parent_id if parent_id is not None else known_parent(message.channel)
    chat, thread = place(channel_id, parent)
    key = f"{PLATFORM}:{channel_id}:{message.id}"
    reference = message.reference
    forwarded = message.flags.forwarded or (
        reference is not None and reference.type is discord.MessageReferenceType.forward
    )
    reply_to = None
    if reference is not None and not forwarded and reference.message_id is not None:
        reply_to = str(reference.message_id)
    moderator = is_moderator(author, message.channel, scope)
    text = message.content
    if forwarded and not text and message.message_snapshots:
        text = message.message_snapshots[0].content
    text = well_formed(text)
    command = None if forwarded else text_command(text, scope)
    if command is not None:
        names = {u.id: well_formed(u.name) for u in message.mentions}
        resolved = reference.resolved if reference is not None else None
        return CommandIssued(
            key=key,
            community=scope.community,
            chat=chat,
            at=message.created_at,
            name=command.name,
            args=_mention_args(command.args, names),
            author=to_member(author),
            message_id=str(message.id),
            reply_to=reply_to,
            reply_to_author=to_member(resolved.author)
            if isinstance(resolved, discord.Message)
            else None,
            author_is_moderator=moderator,
        )
    mentions = first_mentions(
        member_key(u.id)
        for u in message.mentions
        if u.id != scope.bot_id and not (scope.ignore_other_bots and u.bot)
    )
    return MessagePosted(
        key=key,
        community=scope.community,
        chat=chat,
        at=message.created_at,
        message_id=str(message.id),
        author=to_member(author),
        text=text,
        reply_to=reply_to,
        mentions=mentions,
        thread=thread,
        forwarded=forwarded,
        author_is_moderator=moderator,
    )


def edit_event(
    raw: discord.RawMessageUpdateEvent, scope: Scope, parent_id: int | None = None
) -> MessageEdited | None:
    """MESSAGE_UPDATE with new text; embed unfurls and edits by bots are ignored."""
    edited = raw.data.get("edited_timestamp")
    if raw.guild_id is None or not edited or "content" not in raw.data:
        return None
    message = raw.message
    if _ignored(message.author, scope) or message.webhook_id is not None:
        return None
    parent = parent_id if parent_id is not None else known_parent(message.channel)
    chat, _ = place(raw.channel_id, parent)
    at = datetime.fromisoformat(edited)
    return MessageEdited(
        key=f"{PLATFORM}:{raw.channel_id}:{raw.message_id}:edit:{at.isoformat()}",
        community=scope.community,
        chat=chat,
        at=at,
        message_id=str(raw.message_id),
        author=to_member(message.author),
        text=well_formed(message.content),
    )


def delete_events(
    raw: discord.RawMessageDeleteEvent | discord.RawBulkMessageDeleteEvent,
    scope: Scope,
    at: datetime,
    parent_id: int | None = None,
) -> list[MessageDeleted]:
    """MESSAGE_DELETE (or a bulk delete) as one event per message, oldest id first."""
    if raw.guild_id is None:
        return []
    ids = (
        sorted(raw.message_ids)
        if isinstance(raw, discord.RawBulkMessageDeleteEvent)
        else [raw.message_id]
    )
    chat, _ = place(raw.channel_id, parent_id)
    return [
        MessageDeleted(
            key=f"{PLATFORM}:{raw.channel_id}:{mid}:deleted",
            community=scope.community,
            chat=chat,
            at=at,
            message_id=str(mid),
        )
        for mid in ids
    ]


def reaction_event(
    raw: discord.RawReactionActionEvent,
    scope: Scope,
    at: datetime,
    user: discord.abc.User | None = None,
    parent_id: int | None = None,
) -> ReactionAdded | ReactionRemoved | None:
    """A reaction added or removed, on any message, however old; None if ignored.

    ``user`` is who reacted (the payload carries a member only for additions); without
    it the member is known by id alone.
    """
    if raw.guild_id is None or raw.user_id == scope.bot_id:
        return None
    who = raw.member if raw.member is not None else user
    if who is not None and _ignored(who, scope):
        return None
    member = (
        to_member(who)
        if who is not None
        else EventMember(key=member_key(raw.user_id), name=str(raw.user_id))
    )
    added = raw.event_type == "REACTION_ADD"
    emoji = emoji_text(raw.emoji)
    sign = "+" if added else "-"
    millis = int(at.timestamp() * 1000)
    chat, _ = place(raw.channel_id, parent_id)
    cls = ReactionAdded if added else ReactionRemoved
    return cls(
        key=(
            f"{PLATFORM}:{raw.channel_id}:{raw.message_id}:reaction:"
            f"{raw.user_id}:{emoji}:{sign}:{millis}"
        ),
        community=scope.community,
        chat=chat,
        at=at,
        message_id=str(raw.message_id),
        user=member,
        emoji=emoji,
    )


def join_event(member: discord.Member, scope: Scope) -> MemberJoined | None:
    """GUILD_MEMBER_ADD; bots joining are ignored like their messages."""
    if _ignored(member, scope):
        return None
    joined = member.joined_at
    stamp = joined.isoformat() if joined is not None else "unknown"
    return MemberJoined(
        key=f"{PLATFORM}:{member.guild.id}:join:{member.id}:{stamp}",
        community=scope.community,
        chat=guild_chat(member.guild.id),
        at=joined or discord.utils.utcnow(),
        member=to_member(member),
    )


def _interaction_place(interaction: discord.Interaction[discord.Client]) -> tuple[str, str | None]:
    channel_id = interaction.channel_id or 0
    return place(channel_id, known_parent(interaction.channel))


def slash_args(
    interaction: discord.Interaction[discord.Client],
) -> tuple[str, ...]:
    """The arguments of an application command: the words of ``args``, then a member option.

    The generic command has a free-text ``args`` option (quotes group words) and, where
    the command takes a member, a ``member`` option that becomes ``@username``.
    """
    data: Mapping[str, Any] = interaction.data or {}
    options = data.get("options", [])
    words: tuple[str, ...] = ()
    tail: list[str] = []
    resolved = data.get("resolved", {})
    users = resolved.get("users", {}) if isinstance(resolved, dict) else {}
    for option in options if isinstance(options, list) else []:
        value = option.get("value")
        if value is None:
            continue
        if option.get("type") == discord.AppCommandOptionType.user.value:
            found = users.get(str(value))
            tail.append(well_formed(f"@{found['username']}") if found else f"<@{value}>")
        elif option.get("name") == "args":
            parsed = parse_command(f"/x {well_formed(str(value))}")
            words = parsed.args if parsed is not None else ()
            names = {int(uid): well_formed(str(u["username"])) for uid, u in users.items()}
            words = _mention_args(words, names)
        else:
            tail.append(well_formed(str(value)))
    return (*words, *tail)


def slash_event(
    interaction: discord.Interaction[discord.Client], scope: Scope
) -> CommandIssued | None:
    """An application command (INTERACTION_CREATE type 2) as a command; None if ignored."""
    if interaction.type is not discord.InteractionType.application_command:
        return None
    data: Mapping[str, Any] = interaction.data or {}
    name = data.get("name")
    if (
        interaction.guild_id is None
        or not isinstance(name, str)
        or _ignored(interaction.user, scope)
    ):
        return None
    chat, _ = _interaction_place(interaction)
    return CommandIssued(
        key=f"{PLATFORM}:{interaction.channel_id}:interaction:{interaction.id}",
        community=scope.community,
        chat=chat,
        at=interaction.created_at,
        name=well_formed(name.lower()),
        args=slash_args(interaction),
        author=to_member(interaction.user),
        message_id=str(interaction.id),
        author_is_moderator=_interaction_moderator(interaction, scope),
    )


def _interaction_moderator(
    interaction: discord.Interaction[discord.Client], scope: Scope
) -> bool | None:
    user = interaction.user
    if not isinstance(user, discord.Member):
        return None
    if _has_moderator_role(user, scope):
        return True
    # The payload carries the member's resolved permissions in that channel.
    return interaction.permissions.manage_messages


def button_event(
    interaction: discord.Interaction[discord.Client], scope: Scope
) -> ButtonPressed | None:
    """A button press (INTERACTION_CREATE type 3) with its custom_id; None if ignored."""
    if interaction.type is not discord.InteractionType.component:
        return None
    data: Mapping[str, Any] = interaction.data or {}
    custom_id = data.get("custom_id")
    if interaction.guild_id is None or not isinstance(custom_id, str):
        return None
    if _ignored(interaction.user, scope):
        return None
    chat, _ = _interaction_place(interaction)
    message = interaction.message
    return ButtonPressed(
        key=f"{PLATFORM}:{interaction.channel_id}:interaction:{interaction.id}",
        community=scope.community,
        chat=chat,
        at=interaction.created_at,
        custom_id=well_formed(custom_id),
        user=to_member(interaction.user),
        message_id=str(message.id) if message is not None else None,
        user_is_moderator=_interaction_moderator(interaction, scope),
    )
