"""Reader for the generic chat JSONL format: one message or reaction per line.

```
{"type":"message","id":"m1","chat":"c1","author":{"id":"u1","name":"alice","is_bot":false},
 "ts":"2026-11-20T10:00:00Z","text":"…","reply_to":"m0","mentions":["u2"]}
{"type":"reaction","id":"r1","chat":"c1","message_id":"m1","user":{"id":"u2","name":"bob"},
 "emoji":"👍","ts":"…","removed":false}
```
A malformed line is reported with its line number and skipped; the rest is read. Values
must fit what the database stores: message and reaction ids up to 64 characters, chat and
member ids up to a key of 128 (``<platform>:<id>``), times between 1970 and 2199.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from bot.commands import parse_command
from bot.events import CommandIssued, Event, Member, MessagePosted, ReactionAdded, ReactionRemoved
from bot.text import first_mentions, well_formed

MAX_LINE_BYTES = 1_000_000
# Times a chat history can have. At the edges of the calendar the features' date arithmetic
# overflows, and the database refuses year 1 with a time zone: the whole replay would stop.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
TIME_RANGE = "between 1970 and 2199"


def plausible(at: datetime) -> bool:
    """Whether an aware time lies in the range a chat history can have."""
    return EARLIEST <= at < LATEST


def _id(value: Any) -> Any:
    # Platform ids are often numbers in exports; keys are strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# Lengths of the storage columns (storage/models.py) these fields end up in: PostgreSQL
# refuses a longer value, and with it the whole replay batch.
MAX_KEY = 128  # member and chat keys, "<platform>:<id>"
MAX_MESSAGE_ID = 64
MAX_USERNAME = 128

# Lone surrogates fail validation; a "\u0000" escape becomes U+FFFD (PostgreSQL text
# cannot hold it, and would refuse the whole event).
Text = Annotated[str, AfterValidator(well_formed)]
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_KEY),
    BeforeValidator(_id),
    AfterValidator(well_formed),
]
MessageId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_MESSAGE_ID),
    BeforeValidator(_id),
    AfterValidator(well_formed),
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class JsonlUser(_Record):
    """An author or reacting member."""

    id: Id
    name: Text = Field("", max_length=256)
    is_bot: bool = False


class JsonlMessage(_Record):
    """A message line."""

    type: Literal["message"]
    id: MessageId
    chat: Id
    author: JsonlUser
    ts: datetime
    text: Text = Field("", max_length=100_000)
    reply_to: MessageId | None = None
    mentions: list[Id] = Field([], max_length=1000)
    community: str | None = None
    thread: MessageId | None = None
    forwarded: bool = False


class JsonlReaction(_Record):
    """A reaction line."""

    type: Literal["reaction"]
    id: MessageId
    chat: Id
    message_id: MessageId
    user: JsonlUser
    emoji: Text = Field(min_length=1, max_length=64)
    ts: datetime
    removed: bool = False
    community: str | None = None


_LINE: TypeAdapter[JsonlMessage | JsonlReaction] = TypeAdapter(
    Annotated[JsonlMessage | JsonlReaction, Field(discriminator="type")]
)


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that could not be read, with its number and the reason."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class LineEvent:
    """An event read from a line, with the line number."""

    line: int
    event: Event


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-",)))
        loc = loc.removeprefix("message.").removeprefix("reaction.")
        parts.append(f"{loc or 'line'}: {err['msg']}")
    return "; ".join(parts)


class JsonlReader:
    """Turns JSONL lines into events; ``community_of`` maps a record's community (or None)."""

    def __init__(
        self,
        community_of: Callable[[str | None], str | None],
        *,
        platform: str = "chat",
        bot_username: str | None = None,
    ) -> None:
        self.community_of = community_of
        self.platform = platform
        self.bot_username = bot_username

    def member(self, user: JsonlUser) -> Member:
        """The core member of a JSONL user."""
        return Member(
            key=f"{self.platform}:{user.id}",
            name=user.name or user.id,
            username=(user.name or user.id)[:MAX_USERNAME],
            is_bot=user.is_bot,
        )

    def read(self, lines: Iterable[str | bytes]) -> Iterator[LineEvent | LineError]:
        """Yield an event or an error for every non-blank line."""
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield LineError(number, f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield LineError(number, f"not UTF-8 at byte {exc.start}")
                    continue
            if not raw.strip():
                continue
            yield self.parse(number, raw)

    def parse(self, number: int, raw: str) -> LineEvent | LineError:
        """Parse one line."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            # ValueError besides JSONDecodeError: an integer of more than 4300 digits.
            if isinstance(exc, json.JSONDecodeError):
                detail = exc.msg
            elif isinstance(exc, RecursionError):
                detail = "nested too deeply"
            else:
                detail = "a number too long to read"
            return LineError(number, f"invalid JSON: {detail}")
        if not isinstance(data, dict):
            return LineError(number, "expected a JSON object")
        if data.get("type") not in ("message", "reaction"):
            return LineError(
                number, f"type must be 'message' or 'reaction', not {data.get('type')!r}"
            )
        try:
            record = _LINE.validate_python(data)
        except ValidationError as exc:
            return LineError(number, _explain(exc))
        if record.ts.tzinfo is None:
            return LineError(number, "ts: needs a time zone, e.g. 2026-11-20T10:00:00Z")
        if not plausible(record.ts):
            return LineError(number, f"ts: must be {TIME_RANGE}")
        # One shared time zone: pydantic gives every parsed time a zone object of its own,
        # and times in different zone objects compare and subtract several times slower.
        at = record.ts.astimezone(UTC)
        too_long = self._long_key(record)
        if too_long is not None:
            return LineError(number, too_long)
        community = self.community_of(record.community)
        if community is None:
            return LineError(number, f"community: unknown community {record.community!r}")
        return LineEvent(number, self._event(record, community, at))

    def _long_key(self, record: JsonlMessage | JsonlReaction) -> str | None:
        """The field whose key ("<platform>:<id>") storage cannot hold, or None."""
        room = MAX_KEY - len(self.platform) - 1
        if isinstance(record, JsonlReaction):
            ids = [("chat", record.chat), ("user.id", record.user.id)]
        else:
            ids = [("chat", record.chat), ("author.id", record.author.id)]
            ids += [(f"mentions.{i}", m) for i, m in enumerate(record.mentions)]
        for field, value in ids:
            if len(value) > room:
                return f"{field}: at most {room} characters (keys are {self.platform}:<id>)"
        return None

    def _event(self, record: JsonlMessage | JsonlReaction, community: str, at: datetime) -> Event:
        chat = f"{self.platform}:{record.chat}"
        if isinstance(record, JsonlReaction):
            cls = ReactionRemoved if record.removed else ReactionAdded
            return cls(
                key=f"{chat}:reaction:{record.id}",
                community=community,
                chat=chat,
                at=at,
                message_id=record.message_id,
                user=self.member(record.user),
                emoji=record.emoji,
            )
        author = self.member(record.author)
        key = f"{chat}:{record.id}"
        command = parse_command(record.text, self.bot_username)
        if command is not None:
            return CommandIssued(
                key=key,
                community=community,
                chat=chat,
                at=at,
                name=command.name,
                args=command.args,
                author=author,
                message_id=record.id,
                reply_to=record.reply_to,
            )
        return MessagePosted(
            key=key,
            community=community,
            chat=chat,
            at=at,
            message_id=record.id,
            author=author,
            text=record.text,
            reply_to=record.reply_to,
            mentions=first_mentions(f"{self.platform}:{m}" for m in record.mentions),
            thread=record.thread,
            forwarded=record.forwarded,
        )
