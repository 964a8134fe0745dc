"""A local terminal chat: speak as several members, reply, react, and see what the bot does.

``ConsoleChat`` is also the in-process chat the tests and the benchmark drive:
``await chat.say("alice", "danke @bob!")`` and then read ``chat.sent``.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bot.actions import Action, Reply, describe
from bot.commands import parse_command
from bot.engine import Engine, Result
from bot.events import (
    CommandIssued,
    Event,
    MemberJoined,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    Tick,
)
from bot.events import Member as EventMember
from bot.features.base import Decision

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{2,32})")
PLATFORM = "console"


class TestClock:
    """A clock that moves only when told, or by ``step`` on every reading."""

    __test__ = False  # not a pytest test class

    def __init__(self, start: datetime, step: timedelta = timedelta(0)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.now += delta


def real_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Line:
    """A numbered message in the console transcript."""

    number: int
    chat: str
    author: str
    text: str


@dataclass
class ConsoleChat:
    """An in-process chat with numbered messages, driving the engine directly."""

    engine: Engine
    community: str
    clock: Callable[[], datetime] = real_clock
    chat: str = "general"
    moderators: frozenset[str] = frozenset()
    lines: list[Line] = field(default_factory=list)
    sent: list[Action] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    _reaction_seq: int = 0

    def member(self, name: str) -> EventMember:
        """The console member of that name."""
        return EventMember(key=f"{PLATFORM}:{name}", name=name, username=name, is_bot=name == "bot")

    def _chat_key(self, chat: str | None) -> str:
        return f"{PLATFORM}:{chat or self.chat}"

    def _base(self, key: str, chat: str | None) -> dict[str, Any]:
        return {
            "key": key,
            "community": self.community,
            "chat": self._chat_key(chat),
            "at": self.clock(),
        }

    async def send(self, event: Event) -> Result:
        """Hand an event to the engine and keep what comes back."""
        result = await self.engine.process(event)
        self.decisions.extend(result.decisions)
        for action in result.actions:
            self.sent.append(action)
            if isinstance(action, Reply) and action.chat.startswith(f"{PLATFORM}:"):
                number = len(self.lines) + 1
                chat = action.chat.partition(":")[2]
                self.lines.append(Line(number, chat, "bot", action.text))
        return result

    async def say(
        self, who: str, text: str, *, reply_to: int | None = None, chat: str | None = None
    ) -> int:
        """Post a message (or a /command) as ``who``; returns its number."""
        number = len(self.lines) + 1
        chat_name = chat or self.chat
        self.lines.append(Line(number, chat_name, who, text))
        author = self.member(who)
        base = self._base(f"{PLATFORM}:{chat_name}:{number}", chat_name)
        parsed = parse_command(text)
        if parsed is not None:
            reply_author = None
            if reply_to is not None and 0 < reply_to <= len(self.lines):
                reply_author = self.member(self.lines[reply_to - 1].author)
            await self.send(
                CommandIssued(
                    **base,
                    name=parsed.name,
                    args=parsed.args,
                    author=author,
                    message_id=str(number),
                    reply_to=None if reply_to is None else str(reply_to),
                    reply_to_author=reply_author,
                    author_is_moderator=True if who in self.moderators else None,
                )
            )
            return number
        mentions = tuple(f"@{m}" for m in _MENTION.findall(text))
        await self.send(
            MessagePosted(
                **base,
                message_id=str(number),
                author=author,
                text=text,
                reply_to=None if reply_to is None else str(reply_to),
                mentions=mentions,
            )
        )
        return number

    async def react(self, who: str, number: int, emoji: str, *, remove: bool = False) -> None:
        """Add (or take back) a reaction to message ``number``."""
        if not 0 < number <= len(self.lines):
            raise IndexError(f"no message #{number}")
        self._reaction_seq += 1
        chat = self.lines[number - 1].chat
        base = self._base(f"{PLATFORM}:{chat}:{number}:reaction:{self._reaction_seq}", chat)
        cls = ReactionRemoved if remove else ReactionAdded
        await self.send(cls(**base, message_id=str(number), user=self.member(who), emoji=emoji))

    async def edit(self, who: str, number: int, text: str) -> None:
        """Change the text of message ``number``."""
        if not 0 < number <= len(self.lines):
            raise IndexError(f"no message #{number}")
        line = self.lines[number - 1]
        line.text = text
        base = self._base(f"{PLATFORM}:{line.chat}:{number}:edit:{len(self.lines)}", line.chat)
        await self.send(
            MessageEdited(**base, message_id=str(number), author=self.member(who), text=text)
        )

    async def delete(self, number: int) -> None:
        """Delete message ``number``."""
        if not 0 < number <= len(self.lines):
            raise IndexError(f"no message #{number}")
        line = self.lines[number - 1]
        base = self._base(f"{PLATFORM}:{line.chat}:{number}:deleted", line.chat)
        await self.send(MessageDeleted(**base, message_id=str(number)))

    async def join(self, who: str, chat: str | None = None) -> None:
        """``who`` joins the chat."""
        base = self._base(f"{PLATFORM}:{chat or self.chat}:join:{who}", chat)
        await self.send(MemberJoined(**base, member=self.member(who)))

    async def tick(self) -> None:
        """Let scheduled work run at the current time."""
        at = self.clock()
        await self.send(
            Tick(key=f"tick:{at.isoformat()}", community=self.community, chat="", at=at)
        )


HELP = """\
Console chat. Type a message to post it as the current member.
  /as NAME        speak as NAME (moderators: see [[communities]].moderators, e.g. "mod")
  /in CHAT        switch to chat CHAT
  >N TEXT         reply to message N
  +N EMOJI        react to message N      -N EMOJI  take the reaction back
  /edit N TEXT    edit message N          /del N    delete message N
  /wait 30m       let time pass (m, h, d)  /quit     leave
Every other /command goes to the bot (try /help).
"""

# Longer waits would soon take the test clock past the year 9999.
_DURATION = re.compile(r"^(\d{1,9})\s*([mhd])$")
MAX_WAIT = timedelta(days=366)
MAX_OFFSET = timedelta(days=100 * 366)


async def run_console(
    chat: ConsoleChat,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    *,
    first_speaker: str = "alice",
) -> None:
    """The interactive loop: read lines, speak as members, print what the bot does."""
    who = first_speaker
    offset = timedelta(0)
    base_clock = chat.clock
    chat.clock = lambda: base_clock() + offset

    def out(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    out(HELP)
    while True:
        out(f"[{chat.chat}] {who}> ")
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return
        text = line.rstrip("\n").strip()
        if not text:
            continue
        before_sent, before_lines = len(chat.sent), len(chat.lines)
        try:
            if text in ("/quit", "/exit"):
                return
            if text.startswith("/as "):
                who = text[4:].strip().lstrip("@") or who
                continue
            if text.startswith("/in "):
                chat.chat = text[4:].strip().lstrip("#") or chat.chat
                continue
            if text.startswith("/wait "):
                match = _DURATION.match(text[6:].strip())
                if not match:
                    out("usage: /wait 30m | 2h | 1d")
                    continue
                unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
                step = timedelta(**{unit: int(match.group(1))})
                if step > MAX_WAIT:
                    out("usage: /wait 30m | 2h | 1d (at most 366 days at a time)")
                    continue
                if offset + step > MAX_OFFSET:
                    out("the clock is already 100 years ahead; /wait stops there")
                    continue
                offset += step
                await chat.tick()
            elif text.startswith("/edit "):
                number, _, new_text = text[6:].partition(" ")
                await chat.edit(who, int(number), new_text)
            elif text.startswith("/del "):
                await chat.delete(int(text[5:]))
            elif re.match(r"^[+-]\d+\s+\S", text):
                number, emoji = text[1:].split(None, 1)
                await chat.react(who, int(number), emoji.strip(), remove=text[0] == "-")
            elif re.match(r"^>\d+\s", text):
                number, reply = text[1:].split(None, 1)
                await chat.say(who, reply, reply_to=int(number))
            else:
                await chat.say(who, text)
        except (ValueError, IndexError):
            out("that message number does not exist (see the numbers on the left)")
            continue
        for item in chat.lines[before_lines:]:
            if item.author != "bot":
                out(f"  #{item.number} {item.author}: {item.text}")
        for action in chat.sent[before_sent:]:
            out(f"  🤖 [{action.chat.partition(':')[2] or action.chat}] {describe(action)}")
