"""Reader for DiscordChatExporter JSON (one file per channel), streaming with ijson.

``{guild: {id, name}, channel: {id, type, categoryId, name}, messages: [...]}``. Only one
message object is built at a time.

Keys and places are the live adapter's (``adapters/discord/translate.py``):

* A member is ``discord:<user id>``, a message key ``discord:<channel id>:<message id>``.
* The chat is ``discord:<channel id>``; a thread (channel type ``…Thread``) belongs to its
  parent channel, which the export gives as ``categoryId``: chat ``discord:<parent>``,
  thread ``<thread id>``.
* A join (``GuildMemberJoin``) is ``discord:<guild>:join:<user>:<time>`` in the chat
  ``discord-guild:<guild>``.
* The guild maps to a community by ``discord_guilds`` in the config, else the default one.

What the export says and how it is read:

* ``Default`` and ``Reply`` messages are posts; other system messages are counted only.
* ``contentRaw`` (newer exports) is the text as Discord sent it (``<@123>`` mentions, as
  the live bot sees it); otherwise ``content``.
* ``reference.messageId`` in the same channel is the reply; a reference of type
  ``Forward`` or a ``forwardedMessage`` marks the message forwarded (its text is then the
  forwarded one, as live).
* ``mentions[]`` give member keys; ``author.isBot`` (also webhooks) is skipped like the
  live bot skips other bots.
* Reactions with ``users[]`` are attributable: one ``ReactionAdded`` per user at the
  message's time (the export has no reaction times) with the key
  ``discord:<channel>:<message>:reaction:<user>:<emoji>:+:import``. Reactions beyond the
  listed users, and all of older exports without ``users``, are only counted.
* ``timestampEdited``: the final text is imported, no edit event is made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ijson

from adapters.imports.detect import (
    BOTS,
    CLOSERS,
    COMMANDS,
    EDITED,
    FORWARDED,
    UNATTRIBUTED,
    CountingReader,
    ExportError,
    Item,
    broken_file,
    parse_events,
)
from adapters.imports.jsonl import TIME_RANGE, LineEvent, plausible
from bot.commands import parse_command
from bot.events import Event, Member, MemberJoined, MessagePosted, ReactionAdded
from bot.text import first_mentions, well_formed

PLATFORM = "discord"
GUILD_PREFIX = "discord-guild:"
ITEM = "messages.item"
_BUILT = frozenset({ITEM, "guild", "channel"})
POST_TYPES = frozenset({"Default", "Reply"})
JOIN_TYPE = "GuildMemberJoin"
MAX_NAME = 256
MAX_USERNAME = 128
# Longer than any emoji name Discord allows; a longer one would overflow the stored keys.
MAX_EMOJI = 32

# Counted in ``DiscordExportReader.counts`` besides the notes shared with Telegram.
SYSTEM = "system messages other than joins"


class _BadMessage(Exception):
    pass


class _Place:
    """Where the messages of one file go: guild, community, chat, thread."""

    def __init__(self, guild: Any, channel: Any, community_of: Callable[[str], str]) -> None:
        guild_id = _snowflake(guild.get("id") if isinstance(guild, dict) else None)
        channel_id = _snowflake(channel.get("id") if isinstance(channel, dict) else None)
        if guild_id is None or channel_id is None:
            raise _BadMessage(
                "guild.id and channel.id must come before the messages "
                "(is this a DiscordChatExporter JSON file of a server channel?)"
            )
        self.guild = guild_id
        self.channel = channel_id
        self.community = community_of(f"{GUILD_PREFIX}{guild_id}")
        kind = channel.get("type") if isinstance(channel, dict) else None
        parent = _snowflake(channel.get("categoryId")) if isinstance(channel, dict) else None
        self.chat = f"{PLATFORM}:{channel_id}"
        self.thread: str | None = None
        if isinstance(kind, str) and "Thread" in kind and parent is not None:
            self.chat, self.thread = f"{PLATFORM}:{parent}", channel_id


class DiscordExportReader:
    """Turns a DiscordChatExporter JSON file into events, streaming.

    ``community_of`` maps ``discord-guild:<id>`` to a community name.
    """

    def __init__(
        self,
        community_of: Callable[[str], str],
        *,
        ignore_bots: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.community_of = community_of
        self.ignore_bots = ignore_bots
        self.progress = progress
        self.counts: Counter[str] = Counter()

    def read(self, path: Path) -> Iterator[Item]:
        """Yield the events of the file in order, and errors.

        A broken file yields one ExportError with the byte offset and the last message
        read whole, after everything before the break.
        """
        header: dict[str, Any] = {}
        place: _Place | None = None
        count, after = 0, None
        with path.open("rb") as raw:
            counting = CountingReader(raw, self.progress)
            try:
                for prefix, value in _values(parse_events(counting)):
                    if prefix != ITEM:
                        header[prefix] = value
                        continue
                    count += 1
                    try:
                        if place is None:
                            place = _Place(
                                header.get("guild"), header.get("channel"), self.community_of
                            )
                        events = self._events(value, place)
                    except _BadMessage as exc:
                        yield ExportError(count, str(exc), source=path.name, after=after)
                        if place is None:
                            return  # without a guild and channel nothing can be keyed
                        continue
                    for event in events:
                        yield LineEvent(count, event)
                    after = str(value.get("id"))
            except ijson.JSONError as exc:
                yield broken_file(exc, counting, count, after, path.name)

    def _events(self, raw: Any, place: _Place) -> list[Event]:
        if not isinstance(raw, dict):
            raise _BadMessage("a message must be a JSON object")
        message_id = _snowflake(raw.get("id"))
        if message_id is None:
            raise _BadMessage(f"id: a message id must be a snowflake, not {raw.get('id')!r}")
        at = _timestamp(raw.get("timestamp"))
        author = _member(raw.get("author"))
        if author is None:
            raise _BadMessage("author: missing or without an id")
        kind = raw.get("type", "Default")
        if kind == JOIN_TYPE:
            return [
                MemberJoined(
                    key=f"{PLATFORM}:{place.guild}:join:{user_id_of(author)}:{at.isoformat()}",
                    community=place.community,
                    chat=f"{GUILD_PREFIX}{place.guild}",
                    at=at,
                    member=author,
                )
            ]
        if not isinstance(kind, str) or kind not in POST_TYPES:  # a list is unhashable
            self.counts[SYSTEM] += 1
            return []
        if author.is_bot and self.ignore_bots:
            self.counts[BOTS] += 1
            return []
        text = _content(raw)
        reference = raw.get("reference")
        reference = reference if isinstance(reference, dict) else {}
        forwarded = reference.get("type") == "Forward" or isinstance(
            raw.get("forwardedMessage"), dict
        )
        if forwarded:
            self.counts[FORWARDED] += 1
            if not text:
                text = _content(raw.get("forwardedMessage"))
        elif text.startswith("/") and parse_command(text) is not None:
            self.counts[COMMANDS] += 1
            return []
        if raw.get("timestampEdited"):
            self.counts[EDITED] += 1
        reply_to = None
        if not forwarded and str(reference.get("channelId") or place.channel) == place.channel:
            reply_to = _snowflake(reference.get("messageId"))
        mentions = []
        listed = raw.get("mentions")
        for mentioned in listed if isinstance(listed, list) else []:
            member = _member(mentioned)
            if member is not None and not (member.is_bot and self.ignore_bots):
                mentions.append(member.key)
        events: list[Event] = [
            MessagePosted(
                key=f"{PLATFORM}:{place.channel}:{message_id}",
                community=place.community,
                chat=place.chat,
                at=at,
                message_id=message_id,
                author=author,
                text=text,
                reply_to=reply_to,
                mentions=first_mentions(mentions),
                thread=place.thread,
                forwarded=forwarded,
            )
        ]
        events.extend(self._reactions(raw.get("reactions"), message_id, at, place))
        return events

    def _reactions(
        self, reactions: Any, message_id: str, at: datetime, place: _Place
    ) -> list[Event]:
        events: list[Event] = []
        for reaction in reactions if isinstance(reactions, list) else []:
            if not isinstance(reaction, dict):
                continue
            emoji = _emoji(reaction.get("emoji"))
            count = reaction.get("count")
            count = int(count) if isinstance(count, int | float) else 0
            users = reaction.get("users")
            users = users if isinstance(users, list) else []
            attributed = 0
            for user in users:
                member = _member(user)
                if member is None or emoji is None:
                    continue
                attributed += 1
                if member.is_bot and self.ignore_bots:
                    continue
                events.append(
                    ReactionAdded(
                        key=(
                            f"{PLATFORM}:{place.channel}:{message_id}:reaction:"
                            f"{user_id_of(member)}:{emoji}:+:import"
                        ),
                        community=place.community,
                        chat=place.chat,
                        at=at,
                        message_id=message_id,
                        user=member,
                        emoji=emoji,
                    )
                )
            self.counts[UNATTRIBUTED] += max(0, count - attributed)
        return events


def _values(events: Iterator[tuple[str, str, Any]]) -> Iterator[tuple[str, Any]]:
    """The header objects and each message, built one at a time from the parse events."""
    builder: Any = None
    building, closing = "", ""
    for prefix, event, value in events:
        if builder is not None:
            builder.event(event, value)
            if event == closing and prefix == building:
                yield building, builder.value
                builder = None
        elif prefix in _BUILT and event in CLOSERS:
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            building, closing = prefix, CLOSERS[event]
        elif prefix == ITEM:
            yield ITEM, value  # a message that is no object, reported by the reader


def user_id_of(member: Member) -> str:
    """The user id part of a member key."""
    return member.key.partition(":")[2]


def _snowflake(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    # ASCII and at most 20 digits (2**64): "²" is a digit to str.isdigit, and the live
    # adapter int()s these ids, which fails beyond 4300 digits.
    if isinstance(value, str) and len(value) <= 20 and value.isascii() and value.isdigit():
        return value
    return None


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _BadMessage("timestamp: missing")
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _BadMessage(f"timestamp: not an ISO time: {value!r}") from exc
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    if not plausible(at):
        raise _BadMessage(f"timestamp: must be {TIME_RANGE}: {value!r}")
    # Exports give local offsets; the bot works in UTC (one zone object, quick to compare).
    return at.astimezone(UTC)


def _member(user: Any) -> Member | None:
    """A member from an exported user; the nickname is the display name, as live."""
    if not isinstance(user, dict):
        return None
    user_id = _snowflake(user.get("id"))
    if user_id is None:
        return None
    username = user.get("name")
    username = username if isinstance(username, str) and username else user_id
    nickname = user.get("nickname")
    name = nickname if isinstance(nickname, str) and nickname else username
    return Member(
        key=f"{PLATFORM}:{user_id}",
        name=well_formed(name[:MAX_NAME]),
        username=well_formed(username[:MAX_USERNAME]),
        is_bot=user.get("isBot") is True,
    )


def _content(raw: Any) -> str:
    if not isinstance(raw, dict):
        return ""
    for key in ("contentRaw", "content"):
        value = raw.get(key)
        if isinstance(value, str):
            return well_formed(value)  # a "\u0000" escape would make PostgreSQL refuse it
    return ""


def _emoji(emoji: Any) -> str | None:
    """Unicode emoji as they are, custom ones as ``<:name:id>`` (``<a:…>`` if animated)."""
    if not isinstance(emoji, dict):
        return None
    name = emoji.get("name")
    emoji_id = _snowflake(emoji.get("id"))
    if not isinstance(name, str) or len(name) > MAX_EMOJI:
        name = None
    if emoji_id is not None:
        prefix = "a" if emoji.get("isAnimated") is True else ""
        return well_formed(f"<{prefix}:{name or '_'}:{emoji_id}>")
    return well_formed(name) if name else None
