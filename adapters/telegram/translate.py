"""Pure translation of python-telegram-bot updates into core events.

Keys: a chat is ``telegram:<chat_id>``, a person ``telegram:<user_id>``, a chat speaking for
itself (an anonymous admin, a channel posting in a group) ``telegram:chat<chat_id>``. Event
keys are derived from Telegram's own ids and dates, so a redelivered update yields the same
key and the engine ignores it.

Strings from the update pass through ``well_formed``: a JSON escape of a lone surrogate
would otherwise reach the database, which refuses it and with it the whole event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from telegram import (
    CallbackQuery,
    Chat,
    ChatMember,
    ChatMemberRestricted,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    MessageReactionUpdated,
    ReactionType,
    ReactionTypeCustomEmoji,
    ReactionTypeEmoji,
    Update,
    User,
)

from bot.commands import parse_command
from bot.config import Config
from bot.events import (
    ButtonPressed,
    CommandIssued,
    Event,
    MemberJoined,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.events import Member as EventMember
from bot.text import MAX_MENTIONS, well_formed

PLATFORM = "telegram"
# The community of events from a group that no community lists; the adapter drops them.
UNMAPPED = ""
_MEMBER_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER})
# "@" and a username of at most 32 characters, in UTF-16 units: a longer mention is forged.
_MAX_MENTION_UNITS = 33


@dataclass(frozen=True, slots=True)
class TranslateContext:
    """What translation needs to know: who the bot is and which chat belongs where."""

    bot_id: int
    bot_username: str
    # Telegram chat id -> community name.
    communities: Mapping[int, str] = field(default_factory=dict)
    # The community private chats with the bot belong to (commands only); None: ignore them.
    private_community: str | None = None
    ignore_other_bots: bool = True

    @classmethod
    def from_config(cls, config: Config, bot_id: int, bot_username: str) -> TranslateContext:
        """The context for a configured bot: every community's Telegram chats."""
        communities = {
            chat_id: community.name
            for community in config.communities
            for chat_id in community.section.telegram_chats
        }
        return cls(
            bot_id=bot_id,
            bot_username=bot_username,
            communities=communities,
            private_community=config.default_community().name if config.communities else None,
            ignore_other_bots=config.telegram.ignore_other_bots,
        )

    def community_of(self, chat: Chat) -> str | None:
        """The community of a chat; UNMAPPED for unknown groups, None for ignored chats."""
        if chat.type == Chat.PRIVATE:
            return self.private_community
        if chat.type == Chat.CHANNEL:
            return None
        return self.communities.get(chat.id, UNMAPPED)


def chat_key(chat_id: int) -> str:
    """The core key of a Telegram chat."""
    return f"{PLATFORM}:{chat_id}"


def member_key(user_id: int) -> str:
    """The core key of a Telegram user."""
    return f"{PLATFORM}:{user_id}"


def sender_chat_key(chat_id: int) -> str:
    """The core key of a chat that posts as itself (anonymous admins, channels)."""
    return f"{PLATFORM}:chat{chat_id}"


def parse_chat_key(key: str) -> int | None:
    """The Telegram chat id of ``telegram:<id>``; None for anything else."""
    platform, _, rest = key.partition(":")
    if platform != PLATFORM:
        return None
    try:
        return int(rest)
    except ValueError:
        return None


def user_member(user: User) -> EventMember:
    """A Telegram user as a core member."""
    return EventMember(
        key=member_key(user.id),
        name=well_formed(user.full_name),
        is_bot=user.is_bot,
        username=None if user.username is None else well_formed(user.username),
    )


def chat_member(chat: Chat) -> EventMember:
    """A chat posting as itself as a core member; never a bot, so its posts count."""
    name = well_formed(chat.effective_name or str(chat.id))
    username = None if chat.username is None else well_formed(chat.username)
    return EventMember(key=sender_chat_key(chat.id), name=name, username=username)


def _stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _ignored_user(user: User, ctx: TranslateContext) -> bool:
    return user.id == ctx.bot_id or (user.is_bot and ctx.ignore_other_bots)


def _sender(message: Message, ctx: TranslateContext) -> tuple[EventMember, bool | None] | None:
    """The author and whether Telegram already proves them a moderator; None: ignore."""
    if message.sender_chat is not None:
        # An anonymous admin posts as the group itself (only admins can); from_user is then
        # the placeholder GroupAnonymousBot, so this check comes before the bot filter.
        is_admin = True if message.sender_chat.id == message.chat.id else None
        return chat_member(message.sender_chat), is_admin
    user = message.from_user
    if user is None or _ignored_user(user, ctx):
        return None
    return user_member(user), None


def _author_of(message: Message) -> EventMember | None:
    if message.sender_chat is not None:
        return chat_member(message.sender_chat)
    return None if message.from_user is None else user_member(message.from_user)


def _mentions(message: Message, text: str, ctx: TranslateContext) -> tuple[str, ...]:
    """Mentioned members (keys) and ``@names``, in order, at most MAX_MENTIONS.

    ``text`` is the message's text or caption, already ``well_formed`` (same offsets).
    Unlike ``Message.parse_entities``, which encodes the whole text again for every entity
    (100 kB with 10,000 nested entities took seconds), the text is encoded once and only
    entities short enough to be a username are read.
    """
    entities = message.entities if message.text is not None else message.caption_entities
    own = f"@{ctx.bot_username}".lower()
    encoded: bytes | None = None
    found: list[str] = []
    for entity in entities:
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
            key = None if entity.user.id == ctx.bot_id else member_key(entity.user.id)
        elif entity.type in (MessageEntity.MENTION, MessageEntity.TEXT_MENTION):
            if not 0 < entity.length <= _MAX_MENTION_UNITS or entity.offset < 0:
                continue
            if encoded is None:
                encoded = text.encode("utf-16-le")
            start = 2 * entity.offset
            name = encoded[start : start + 2 * entity.length].decode("utf-16-le", "replace")
            key = None if name.lower() == own else name
        else:
            continue
        if key is not None and key not in found:
            found.append(key)
            if len(found) == MAX_MENTIONS:
                break
    return tuple(found)


def _reply_to(message: Message) -> Message | None:
    reply = message.reply_to_message
    if reply is None:
        return None
    # In a forum every message of a topic "replies" to the topic's first message.
    if message.is_topic_message and reply.message_id == message.message_thread_id:
        return None
    return reply


def _message(message: Message, ctx: TranslateContext) -> list[Event]:
    community = ctx.community_of(message.chat)
    if community is None or message.is_automatic_forward:
        # Automatic forwards are the linked channel's broadcasts mirrored into the group.
        return []
    if message.new_chat_members:
        return _joins(message, community, ctx)
    sender = _sender(message, ctx)
    if sender is None:
        return []
    author, is_moderator = sender
    base_key = f"{chat_key(message.chat.id)}:{message.message_id}"
    reply = _reply_to(message)
    private = message.chat.type == Chat.PRIVATE
    text = well_formed(message.text or message.caption or "")
    if message.text and text.startswith("/"):
        parsed = parse_command(text, ctx.bot_username)
        if parsed is not None:
            return [
                CommandIssued(
                    key=base_key,
                    community=community,
                    chat=chat_key(message.chat.id),
                    at=message.date,
                    name=parsed.name,
                    args=parsed.args,
                    author=author,
                    message_id=str(message.message_id),
                    reply_to=None if reply is None else str(reply.message_id),
                    reply_to_author=None if reply is None else _author_of(reply),
                    author_is_moderator=is_moderator,
                    private=private,
                )
            ]
        if parse_command(text) is not None:
            return []  # a command addressed to another bot
    if private or (not text and message.effective_attachment is None):
        return []  # private small talk and service messages are not dialogue in a community
    return [
        MessagePosted(
            key=base_key,
            community=community,
            chat=chat_key(message.chat.id),
            at=message.date,
            message_id=str(message.message_id),
            author=author,
            text=text,
            reply_to=None if reply is None else str(reply.message_id),
            mentions=_mentions(message, text, ctx),
            thread=str(message.message_thread_id) if message.is_topic_message else None,
            forwarded=message.forward_origin is not None,
        )
    ]


def _join_key(chat_id: int, user_id: int, date: datetime) -> str:
    # The same join also arrives as a chat_member update with the same date: one key for both.
    return f"{chat_key(chat_id)}:join:{user_id}:{_stamp(date)}"


def _joins(message: Message, community: str, ctx: TranslateContext) -> list[Event]:
    return [
        MemberJoined(
            key=_join_key(message.chat.id, user.id, message.date),
            community=community,
            chat=chat_key(message.chat.id),
            at=message.date,
            member=user_member(user),
        )
        for user in message.new_chat_members
        if not _ignored_user(user, ctx)
    ]


def _is_member(member: ChatMember) -> bool:
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in _MEMBER_STATUSES


def _chat_member(updated: ChatMemberUpdated, ctx: TranslateContext) -> list[Event]:
    community = ctx.community_of(updated.chat)
    user = updated.new_chat_member.user
    joined = not _is_member(updated.old_chat_member) and _is_member(updated.new_chat_member)
    if community is None or not joined or _ignored_user(user, ctx):
        return []
    return [
        MemberJoined(
            key=_join_key(updated.chat.id, user.id, updated.date),
            community=community,
            chat=chat_key(updated.chat.id),
            at=updated.date,
            member=user_member(user),
        )
    ]


def _edited(message: Message, ctx: TranslateContext) -> list[Event]:
    community = ctx.community_of(message.chat)
    if community is None or message.chat.type == Chat.PRIVATE:
        return []
    sender = _sender(message, ctx)
    if sender is None:
        return []
    at = message.edit_date or message.date
    return [
        MessageEdited(
            key=f"{chat_key(message.chat.id)}:{message.message_id}:edit:{_stamp(at)}",
            community=community,
            chat=chat_key(message.chat.id),
            at=at,
            message_id=str(message.message_id),
            author=sender[0],
            text=well_formed(message.text or message.caption or ""),
        )
    ]


def reaction_emoji(reaction: ReactionType) -> str | None:
    """The emoji of a reaction; custom emoji as ``custom:<id>``; None for paid stars."""
    if isinstance(reaction, ReactionTypeEmoji):
        return well_formed(reaction.emoji)
    if isinstance(reaction, ReactionTypeCustomEmoji):
        return f"custom:{well_formed(reaction.custom_emoji_id)}"
    return None


def _emojis(reactions: tuple[ReactionType, ...]) -> list[str]:
    return [e for e in (reaction_emoji(r) for r in reactions) if e is not None]


def _reaction(updated: MessageReactionUpdated, ctx: TranslateContext) -> list[Event]:
    community = ctx.community_of(updated.chat)
    if community is None:
        return []
    if updated.user is not None:
        if _ignored_user(updated.user, ctx):
            return []
        who = user_member(updated.user)
        user_id = str(updated.user.id)
    elif updated.actor_chat is not None:
        who = chat_member(updated.actor_chat)
        user_id = f"chat{updated.actor_chat.id}"
    else:
        return []
    old, new = _emojis(updated.old_reaction), _emojis(updated.new_reaction)
    base = f"{chat_key(updated.chat.id)}:{updated.message_id}:reaction:{user_id}"
    stamp = _stamp(updated.date)
    chat, message_id = chat_key(updated.chat.id), str(updated.message_id)
    events: list[Event] = []
    # Taken back first, then added, each with its own stable key.
    changes = ((ReactionRemoved, "-", old, new), (ReactionAdded, "+", new, old))
    for kind, sign, these, others in changes:
        for emoji in these:
            if emoji not in others:
                events.append(
                    kind(
                        key=f"{base}:{emoji}:{sign}:{stamp}",
                        community=community,
                        chat=chat,
                        at=updated.date,
                        message_id=message_id,
                        user=who,
                        emoji=emoji,
                    )
                )
    return events


def _callback(query: CallbackQuery, ctx: TranslateContext, now: datetime) -> list[Event]:
    message = query.message
    if message is None or query.data is None or _ignored_user(query.from_user, ctx):
        return []
    community = ctx.community_of(message.chat)
    if community is None:
        return []
    return [
        ButtonPressed(
            key=f"{chat_key(message.chat.id)}:callback:{query.id}",
            community=community,
            chat=chat_key(message.chat.id),
            at=now,
            custom_id=well_formed(query.data),
            user=user_member(query.from_user),
            message_id=str(message.message_id),
        )
    ]


def translate(update: Update, ctx: TranslateContext, *, now: datetime) -> list[Event]:
    """The core events of one update; ``now`` dates callback queries, which carry no date.

    Events from a group no community lists get the community ``UNMAPPED``.
    """
    if update.message is not None:
        return _message(update.message, ctx)
    if update.edited_message is not None:
        return _edited(update.edited_message, ctx)
    if update.message_reaction is not None:
        return _reaction(update.message_reaction, ctx)
    if update.callback_query is not None:
        return _callback(update.callback_query, ctx, now)
    if update.chat_member is not None:
        return _chat_member(update.chat_member, ctx)
    # Channel posts, my_chat_member and everything else carry no community dialogue.
    return []
