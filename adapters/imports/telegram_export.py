"""Reader for Telegram Desktop exports ("Export chat history" / "Export Telegram data", JSON).

The file is streamed with ijson: one message object is built at a time, so a 1 GB export
never sits in memory. Two layouts exist: one chat (``{name, type, id, messages: [...]}``)
and a whole account (``{about, ..., chats: {list: [{name, type, id, messages}]},
left_chats: {...}}``).

Keys are the live adapter's (``adapters/telegram/translate.py``), so an import and the live
bot never count the same thing twice:

* The export gives a chat's bare id. The Bot API id, used in every key, is
  ``-100<id>`` (``-(10**12 + id)``) for supergroups and channels, ``-<id>`` for basic
  groups (``private_group``) and the id itself for personal chats. The chat key is
  ``telegram:<Bot API id>``.
* ``from_id`` ``user123`` is the member ``telegram:123``; ``channel123`` (a channel or an
  anonymous admin posting as the group) is ``telegram:chat-100123``; ``chat123`` is
  ``telegram:chat-123``.
* A message is ``telegram:<chat>:<message id>``; a join ``telegram:<chat>:join:<user>:<unix
  time>``; a reaction ``telegram:<chat>:<message>:reaction:<user>:<emoji>:+:<unix time>``
  with custom emoji as ``custom:<document id>``.

What the export says and how it is read:

* ``text`` / ``text_entities``: plain strings and entity objects are joined. ``blockquote``
  parts are left out (quoted words are not the author's own), ``pre`` and ``code`` become
  Markdown code so text analysis skips them, ``mention`` gives ``@name`` (resolved by the
  engine) and ``mention_name`` the member key of its ``user_id``.
* ``forwarded_from`` marks the message forwarded (karma and complaints skip those).
* ``edited``: the export only has the final text; it is imported, no edit event is made.
* Reactions with ``recent`` entries are attributable and become ``ReactionAdded`` events,
  at their own time (they wait until the stream reaches that time). Reactions beyond the
  recent ones, and all of older exports, cannot be attributed and are only counted.
  ``recent[].date`` is local time without a zone; the message's ``date`` and
  ``date_unixtime`` give that zone's offset.
* Service messages ``join_group_by_link`` and ``join_group_by_request`` are joins of their
  actor; ``invite_members`` and ``create_group`` name members only by display name: the
  actor adding themself, or a name already seen with an id, is a join, the rest is counted.
* Text and names pass through ``well_formed``: a "\\u0000" escape would make PostgreSQL
  refuse the event.
* Messages whose text is a bot command are not replayed (they were addressed to some bot
  back then); a sender who posted inline buttons is a bot from then on.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
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
    Format,
    FormatError,
    Item,
    broken_file,
    detect,
    merge_by_time,
    parse_events,
)
from adapters.imports.jsonl import TIME_RANGE, LineEvent, plausible
from bot.commands import parse_command
from bot.events import Event, Member, MemberJoined, MessagePosted, ReactionAdded
from bot.text import first_mentions, well_formed

PLATFORM = "telegram"
GROUP_TYPES = frozenset({"private_group", "private_supergroup", "public_supergroup"})
# Chat types whose Bot API id is -100<id>.
_CHANNEL_LIKE = frozenset(
    {"private_supergroup", "public_supergroup", "private_channel", "public_channel"}
)
_JOIN_ACTIONS = frozenset({"join_group_by_link", "join_group_by_request"})
_ADD_ACTIONS = frozenset({"invite_members", "create_group"})
_SECTIONS = ("chats", "left_chats")
_CHAT_PREFIXES = {f"{section}.list.item": section for section in _SECTIONS}
_ITEM_PREFIXES = {"messages.item": ""} | {
    f"{section}.list.item.messages.item": section for section in _SECTIONS
}
_HEADER_KEYS = ("name", "type", "id")
_HEADER_PREFIXES = {key: ("", key) for key in _HEADER_KEYS} | {
    f"{section}.list.item.{key}": (section, key) for section in _SECTIONS for key in _HEADER_KEYS
}
MAX_NAME = 256
MAX_KNOWN_NAMES = 100_000
MAX_ID_DIGITS = 20
# Longer than any emoji (sequences included); a longer one would overflow the stored keys.
MAX_EMOJI = 32

# Counted in ``TelegramExportReader.counts`` besides the notes shared with Discord.
PAID = "paid reactions (ignored)"
JOINS_BY_NAME = "joins named without an id (counted only)"
SERVICE = "service messages other than joins"
UNSUPPORTED = "unsupported messages"
QUOTES = "quoted blocks left out"


def bot_api_chat_id(export_id: int, chat_type: str) -> int:
    """The Bot API chat id of an exported chat (see the module docs)."""
    if export_id < 0:
        return export_id  # already in Bot API form
    if chat_type in _CHANNEL_LIKE:
        return -(1_000_000_000_000 + export_id)
    if chat_type == "private_group":
        return -export_id
    return export_id


@dataclass(frozen=True, slots=True)
class Peer:
    """Who sent or reacted: the member key and the id part of reaction keys."""

    key: str
    part: str
    # The Bot API id when a chat (channel, group) speaks as itself.
    chat_id: int | None = None


def peer_of(from_id: object) -> Peer | None:
    """The peer of an export's ``from_id`` (``user1``, ``channel2``, ``chat3``, or a number)."""
    if isinstance(from_id, int) and not isinstance(from_id, bool) and from_id > 0:
        return Peer(f"{PLATFORM}:{from_id}", str(from_id))
    if not isinstance(from_id, str):
        return None
    kind = from_id.rstrip("0123456789")
    digits = from_id[len(kind) :]
    if not digits or len(digits) > MAX_ID_DIGITS:
        return None  # int() refuses more than 4300 digits; no real id has over 20
    number = int(digits)
    if kind == "user":
        return Peer(f"{PLATFORM}:{number}", str(number))
    if kind in ("channel", "chat"):
        chat_id = -(1_000_000_000_000 + number) if kind == "channel" else -number
        return Peer(f"{PLATFORM}:chat{chat_id}", f"chat{chat_id}", chat_id)
    return None


@dataclass(frozen=True, slots=True)
class ExportChat:
    """One chat of an export: where it is in the file and what it is."""

    section: str  # "" in a one-chat export, else "chats" or "left_chats"
    index: int
    name: str
    type: str
    id: int | None

    @property
    def chat_id(self) -> int | None:
        """The Bot API id."""
        return None if self.id is None else bot_api_chat_id(self.id, self.type)

    @property
    def label(self) -> str:
        """How the chat is named in messages."""
        return f"{self.name or '(no name)'} ({self.type or 'unknown type'}, id {self.id})"


@dataclass
class Plan:
    """What reading a file will import: the chosen chats and how often the file is read."""

    format: Format
    chats: list[ExportChat] = field(default_factory=list)
    skipped: list[ExportChat] = field(default_factory=list)

    @property
    def passes(self) -> int:
        """How often the whole file is read (for the progress bar).

        An account export is scanned once for its chats, then read once per chosen chat:
        several chats are read side by side to merge them by time.
        """
        if self.format is Format.TELEGRAM:
            return 1
        return 1 + len(self.chats)


def chosen(chat: ExportChat, choices: Sequence[str]) -> bool:
    """Whether a chat is imported.

    With ``--chat`` choices: the chats they name (name, export id or Bot API id). Without:
    the groups of the account; personal chats, channels and left chats only on request.
    """
    if not choices:
        return chat.section != "left_chats" and chat.type in GROUP_TYPES
    for choice in choices:
        spec = choice.strip()
        if _is_number(spec.lstrip("-")):
            if int(spec) in (chat.id, chat.chat_id):
                return True
        elif spec.casefold() == chat.name.casefold():
            return True
    return False


class _BadMessage(Exception):
    pass


class TelegramExportReader:
    """Turns a Telegram Desktop JSON export into events, streaming.

    ``community_of`` maps a chat key (``telegram:-100…``) to a community name.
    """

    def __init__(
        self,
        community_of: Callable[[str], str],
        *,
        chats: Sequence[str] = (),
        bot_username: str | None = None,
        ignore_bots: bool = True,
        local_tz: tzinfo = UTC,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.community_of = community_of
        self.choices = tuple(chats)
        self.bot_username = bot_username
        self.ignore_bots = ignore_bots
        self.local_tz = local_tz
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self.bots: set[str] = set()

    # --- planning ----------------------------------------------------------------------

    def plan(self, path: Path) -> Plan:
        """Which chats of the file will be imported (scans an account export once)."""
        kind = detect(path)
        if kind not in (Format.TELEGRAM, Format.TELEGRAM_ACCOUNT):
            raise FormatError(f"{path.name}: not a Telegram Desktop export ({kind})")
        plan = Plan(kind)
        for chat in self._headers(path, kind):
            (plan.chats if chosen(chat, self.choices) else plan.skipped).append(chat)
        return plan

    def _headers(self, path: Path, kind: Format) -> list[ExportChat]:
        """The chats of the file, from their name, type and id (which precede messages)."""
        found: dict[tuple[str, int], dict[str, Any]] = {}
        index = {section: -1 for section in _SECTIONS}
        current: tuple[str, int] = ("", 0)
        if kind is Format.TELEGRAM:
            found[current] = {}
        with path.open("rb") as raw:
            # Only the scan of an account export is a pass of its own on the progress bar.
            progress = self.progress if kind is Format.TELEGRAM_ACCOUNT else None
            counting = CountingReader(raw, progress)
            try:
                for prefix, event, value in parse_events(counting):
                    if kind is Format.TELEGRAM and prefix == "messages":
                        break  # the header of a one-chat export precedes its messages
                    if event == "start_map" and prefix in _CHAT_PREFIXES:
                        section = _CHAT_PREFIXES[prefix]
                        index[section] += 1
                        current = (section, index[section])
                        found[current] = {}
                    elif prefix in _HEADER_PREFIXES and event in ("string", "number"):
                        section, key = _HEADER_PREFIXES[prefix]
                        if section == current[0] and current in found:
                            found[current][key] = value
            except ijson.JSONError:
                pass  # reading the chats reports the break with its position
        chats = []
        for (section, number), header in found.items():
            raw_id = header.get("id")
            chats.append(
                ExportChat(
                    section=section,
                    index=number,
                    name=str(header.get("name") or ""),
                    type=str(header.get("type") or ""),
                    id=int(raw_id) if isinstance(raw_id, int | float) else None,
                )
            )
        return chats

    # --- reading -----------------------------------------------------------------------

    def read(self, path: Path, plan: Plan | None = None) -> Iterator[Item]:
        """Yield the events of the chosen chats in time order, and errors.

        A broken file yields one ExportError with the byte offset and the last message
        read whole, after everything before the break.
        """
        plan = plan or self.plan(path)
        for chat in plan.chats:
            if chat.id is None:
                yield ExportError(0, f"chat {chat.name!r} has no id", source=path.name)
                return
        if len(plan.chats) <= 1:
            yield from self._stream(path, plan.chats)
            return
        # Chats of one file are read side by side (one pass each) so the replay sees all
        # of them in time order; daily caps and cooldowns depend on it.
        yield from merge_by_time(self._stream(path, [chat]) for chat in plan.chats)

    def _stream(self, path: Path, chats: list[ExportChat]) -> Iterator[Item]:
        if not chats:
            return
        targets = {(chat.section, chat.index): chat for chat in chats}
        index = {section: -1 for section in _SECTIONS}
        current: tuple[str, int] = ("", 0)
        reading: _ChatReader | None = None
        builder: Any = None
        item_prefix, closing = "", ""
        remaining = len(targets)
        with path.open("rb") as raw:
            counting = CountingReader(raw, self.progress)
            try:
                for prefix, event, value in parse_events(counting):
                    if builder is not None:
                        builder.event(event, value)
                        if event == closing and prefix == item_prefix:
                            assert reading is not None
                            yield from reading.message(builder.value)
                            builder = None
                        continue
                    if prefix in _ITEM_PREFIXES:
                        # The start of a message (of any JSON type; only objects are good).
                        if current not in targets:
                            continue
                        if reading is None:
                            reading = _ChatReader(self, targets[current], path.name)
                        if event in CLOSERS:
                            builder = ijson.ObjectBuilder()
                            builder.event(event, value)
                            item_prefix, closing = prefix, CLOSERS[event]
                        else:
                            yield from reading.message(value)
                    elif event == "start_map" and prefix in _CHAT_PREFIXES:
                        section = _CHAT_PREFIXES[prefix]
                        index[section] += 1
                        current = (section, index[section])
                    elif (
                        event == "end_map"
                        and reading is not None
                        and (prefix in _CHAT_PREFIXES or prefix == "")
                    ):
                        yield from reading.flush()
                        reading = None
                        remaining -= 1
                        if remaining == 0:
                            return  # the rest of the file holds no chosen chat
            except ijson.JSONError as exc:
                # Reactions still waiting for their time are left for the re-run, which
                # then replays them in the same order as an import of the whole file.
                count, after = (reading.count, reading.last_id) if reading else (0, None)
                yield broken_file(exc, counting, count, after, path.name)


class _ChatReader:
    """The events of one chat, message by message.

    Attributable reactions wait in a heap until the stream reaches their time.
    """

    def __init__(self, reader: TelegramExportReader, chat: ExportChat, source: str) -> None:
        assert chat.chat_id is not None
        self.reader = reader
        self.chat = chat
        self.source = source
        self.key = f"{PLATFORM}:{chat.chat_id}"
        self.community = reader.community_of(self.key)
        self.count = 0
        self.last_id: str | None = None
        self.pending: list[tuple[datetime, int, LineEvent]] = []
        # The reactions of the message being read; pending only once the message is out.
        self.fresh: list[tuple[datetime, int, LineEvent]] = []
        self.sequence = 0
        self.topics: set[str] = set()
        self.names: dict[str, Peer] = {}

    def message(self, raw: Any) -> Iterator[Item]:
        """The events of one exported message (and the reactions now due)."""
        self.count += 1
        try:
            if not isinstance(raw, dict):
                raise _BadMessage("a message must be a JSON object")
            if raw.get("type") == "unsupported":
                # Telegram Desktop writes only the id of messages it cannot show.
                self.reader.counts[UNSUPPORTED] += 1
                return
            at, offset = self._when(raw)
            message_id = _message_id(raw)
            events = self._events(raw, message_id, at, offset)
        except _BadMessage as exc:
            self.fresh.clear()
            yield ExportError(self.count, str(exc), source=self.source, after=self.last_id)
            return
        yield from self._due(at)
        for event in events:
            yield LineEvent(self.count, event)
        # Only now: a reaction dated before its message (a time zone change between them
        # shifts the exporter's offset) is moved to the message's time, and must not be
        # replayed before the message it reacts to.
        for entry in self.fresh:
            heapq.heappush(self.pending, entry)
        self.fresh.clear()
        self.last_id = message_id

    def flush(self) -> Iterator[Item]:
        """The reactions still waiting, in time order."""
        while self.pending:
            yield heapq.heappop(self.pending)[2]

    def _due(self, until: datetime) -> Iterator[Item]:
        while self.pending and self.pending[0][0] <= until:
            yield heapq.heappop(self.pending)[2]

    # --- parts of a message ------------------------------------------------------------

    def _when(self, raw: dict[str, Any]) -> tuple[datetime, timedelta | None]:
        """The message time (UTC) and the exporter's UTC offset, when both dates say it."""
        at, offset = self._time(raw)
        if not plausible(at):
            raise _BadMessage(f"date: must be {TIME_RANGE}: {at.isoformat()}")
        return at, offset

    def _time(self, raw: dict[str, Any]) -> tuple[datetime, timedelta | None]:
        local = _naive(raw.get("date"))
        stamp = raw.get("date_unixtime")
        if isinstance(stamp, str) and _is_number(stamp):
            stamp = int(stamp)
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            try:
                at = datetime.fromtimestamp(stamp, UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise _BadMessage(f"date_unixtime: out of range: {stamp}") from exc
            offset = local - at.replace(tzinfo=None) if local is not None else None
            return at, offset
        if local is None:
            raise _BadMessage("date: missing or not an ISO date")
        try:
            return local.replace(tzinfo=self.reader.local_tz).astimezone(UTC), None
        except OverflowError as exc:  # 0001-01-01 or 9999-12-31 shifted out of range
            raise _BadMessage(f"date: out of range: {raw.get('date')!r}") from exc

    def _events(
        self, raw: dict[str, Any], message_id: str, at: datetime, offset: timedelta | None
    ) -> list[Event]:
        kind = raw.get("type", "message")
        if kind == "service":
            return self._service(raw, message_id, at)
        if kind != "message":
            self.reader.counts[UNSUPPORTED] += 1
            return []
        peer = peer_of(raw.get("from_id"))
        if peer is None:
            raise _BadMessage(f"from_id: not a user, channel or chat id: {raw.get('from_id')!r}")
        name = _name(raw.get("from"), peer)
        reader = self.reader
        if "inline_bot_buttons" in raw:
            reader.bots.add(peer.key)  # only bots can post inline keyboards
        is_bot = peer.key in reader.bots
        if is_bot and reader.ignore_bots:
            reader.counts[BOTS] += 1
            return []
        if peer.chat_id is None and len(self.names) < MAX_KNOWN_NAMES:
            self.names.setdefault(name, peer)
        text, mentions = self._text(raw)
        if text.startswith("/") and parse_command(text) is not None:
            reader.counts[COMMANDS] += 1
            return []
        if "edited" in raw or "edited_unixtime" in raw:
            reader.counts[EDITED] += 1
        forwarded = "forwarded_from" in raw
        if forwarded:
            reader.counts[FORWARDED] += 1
        reply_to, thread = self._reply(raw)
        author = Member(key=peer.key, name=name, is_bot=is_bot)
        events: list[Event] = [
            MessagePosted(
                key=f"{self.key}:{message_id}",
                community=self.community,
                chat=self.key,
                at=at,
                message_id=message_id,
                author=author,
                text=text,
                reply_to=reply_to,
                mentions=first_mentions(mentions),
                thread=thread,
                forwarded=forwarded,
                # A group's anonymous admins post as the group itself; only admins can.
                author_is_moderator=True if peer.chat_id == self.chat.chat_id else None,
            )
        ]
        self._reactions(raw.get("reactions"), message_id, at, offset)
        return events

    def _text(self, raw: dict[str, Any]) -> tuple[str, list[str]]:
        """The message's own words and its mentions (member keys or ``@names``)."""
        parts = raw.get("text_entities")
        if not isinstance(parts, list):
            parts = raw.get("text", "")
        if isinstance(parts, str):
            return well_formed(parts), []
        if not isinstance(parts, list):
            return "", []
        out: list[str] = []
        mentions: list[str] = []
        own = f"@{self.reader.bot_username}".lower() if self.reader.bot_username else None
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            text = text if isinstance(text, str) else ""
            kind = part.get("type")
            if kind == "blockquote":
                self.reader.counts[QUOTES] += 1
                out.append("\n")  # keeps the words around it apart
                continue
            if kind == "pre":
                out.append(f"```\n{text}\n```")
                continue
            if kind == "code":
                out.append(f"`{text}`")
                continue
            if kind == "mention" and text and text.lower() != own:
                mentions.append(text if text.startswith("@") else f"@{text}")
            elif kind == "mention_name":
                user = part.get("user_id")
                if isinstance(user, int | str) and _is_number(str(user)):
                    mentions.append(f"{PLATFORM}:{int(user)}")
            out.append(text)
        text = "".join(out).strip("\n") if out else ""
        return well_formed(text), [well_formed(mention) for mention in mentions]

    def _reply(self, raw: dict[str, Any]) -> tuple[str | None, str | None]:
        """The replied-to message, or the forum topic for a topic's first-level message."""
        target = raw.get("reply_to_message_id")
        if not isinstance(target, int) or "reply_to_peer_id" in raw:
            return None, None  # no reply, or a reply to a message in another chat
        reply = str(target)
        if reply in self.topics:
            # In a forum every message of a topic "replies" to the topic's first message.
            return None, reply
        return reply, None

    def _reactions(
        self, reactions: Any, message_id: str, at: datetime, offset: timedelta | None
    ) -> None:
        if not isinstance(reactions, list):
            return
        reader = self.reader
        for reaction in reactions:
            if not isinstance(reaction, dict):
                continue
            emoji = _reaction_emoji(reaction)
            count = reaction.get("count")
            count = int(count) if isinstance(count, int | float) else 0
            if emoji is None:
                reader.counts[PAID] += count
                continue
            recent = reaction.get("recent")
            recent = recent if isinstance(recent, list) else []
            attributed = 0
            for entry in recent:
                if not isinstance(entry, dict):
                    continue
                peer = peer_of(entry.get("from_id"))
                if peer is None:
                    continue
                attributed += 1
                if peer.key in reader.bots and reader.ignore_bots:
                    continue
                when = self._reaction_time(entry.get("date"), offset) or at
                when = max(when, at)
                event = ReactionAdded(
                    key=(
                        f"{self.key}:{message_id}:reaction:{peer.part}:{emoji}:+:"
                        f"{int(when.timestamp())}"
                    ),
                    community=self.community,
                    chat=self.key,
                    at=when,
                    message_id=message_id,
                    user=Member(
                        key=peer.key,
                        name=_name(entry.get("from"), peer),
                        is_bot=peer.key in reader.bots,
                    ),
                    emoji=emoji,
                )
                self.sequence += 1
                self.fresh.append((when, self.sequence, LineEvent(self.count, event)))
            reader.counts[UNATTRIBUTED] += max(0, count - attributed)

    def _reaction_time(self, value: Any, offset: timedelta | None) -> datetime | None:
        local = _naive(value)
        if local is None:
            return None
        try:
            if offset is not None:
                at = (local - offset).replace(tzinfo=UTC)
            else:
                at = local.replace(tzinfo=self.reader.local_tz).astimezone(UTC)
        except OverflowError:  # a date at the edge of the calendar: the message's time
            return None
        return at if plausible(at) else None

    def _service(self, raw: dict[str, Any], message_id: str, at: datetime) -> list[Event]:
        action = raw.get("action")
        action = action if isinstance(action, str) else None  # a list is unhashable
        if action == "topic_created":
            self.topics.add(message_id)
        actor = peer_of(raw.get("actor_id"))
        joined: dict[Peer, object] = {}
        if action in _JOIN_ACTIONS and actor is not None:
            joined[actor] = raw.get("actor")
        elif action in _ADD_ACTIONS:
            names = raw.get("members")
            for name in names if isinstance(names, list) else []:
                if not isinstance(name, str):
                    self.reader.counts[JOINS_BY_NAME] += 1
                elif actor is not None and name == raw.get("actor"):
                    joined[actor] = name  # a member who added themself: a plain join
                elif name in self.names:
                    joined[self.names[name]] = name
                else:
                    self.reader.counts[JOINS_BY_NAME] += 1
        else:
            self.reader.counts[SERVICE] += 1
            return []
        return [
            MemberJoined(
                key=f"{self.key}:join:{peer.part}:{int(at.timestamp())}",
                community=self.community,
                chat=self.key,
                at=at,
                member=Member(key=peer.key, name=_name(name, peer)),
            )
            for peer, name in joined.items()
            if peer.chat_id is None  # chats do not join
        ]


def _is_number(text: str) -> bool:
    """ASCII digits of an id or a time stamp ("²" is a digit to str.isdigit, not to int)."""
    return 0 < len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit()


def _message_id(raw: dict[str, Any]) -> str:
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadMessage(f"id: a message id must be a number, not {value!r}")
    return str(value)


def _naive(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    except (ValueError, OverflowError):  # OverflowError: "0001-01-01T00:00:00+01:00"
        return None


def _name(value: Any, peer: Peer) -> str:
    """A display name; deleted accounts have none in the export."""
    if isinstance(value, str) and value.strip():
        return well_formed(value[:MAX_NAME])
    return peer.key.partition(":")[2]


def _reaction_emoji(reaction: dict[str, Any]) -> str | None:
    """The emoji as the live adapter writes it; None for paid (star) reactions and forgeries."""
    kind = reaction.get("type", "emoji")
    emoji = reaction.get("emoji")
    if kind == "emoji" and isinstance(emoji, str) and 0 < len(emoji) <= MAX_EMOJI:
        return well_formed(emoji)
    document = reaction.get("document_id")
    if kind == "custom_emoji" and isinstance(document, str | int) and str(document).isdigit():
        return f"custom:{document}"
    return None
