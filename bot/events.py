"""Events that come in from a platform adapter, frozen and platform-neutral.

Keys are strings qualified by platform so that ids from different platforms never
collide: a member is ``"telegram:123"``, a chat ``"discord:456"``. Every event has a
``key`` that is unique per platform event; the engine records it once, which makes
redelivery (after a crash, a reconnect or a second import) harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A person (or bot) on a platform, as seen in one event."""

    key: str
    name: str
    is_bot: bool = False
    username: str | None = None

    @property
    def platform(self) -> str:
        """The platform part of the key."""
        return self.key.partition(":")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all incoming events."""

    key: str
    community: str
    chat: str
    at: datetime

    @property
    def kind(self) -> str:
        """A short name for logs and storage."""
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePosted(Event):
    """A member posted a message in a chat."""

    message_id: str
    author: Member
    text: str
    reply_to: str | None = None
    # Member keys ("telegram:42") or unresolved names ("@bob") that the engine resolves.
    mentions: tuple[str, ...] = ()
    thread: str | None = None
    forwarded: bool = False
    # What the platform says about the author's rights; None when it did not say.
    author_is_moderator: bool | None = None
    # The member key of the replied-to message's author, as stored: the engine fills it in
    # (None: no reply, or a message it never stored).
    reply_author: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited(Event):
    """A message's text was changed."""

    message_id: str
    author: Member
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted(Event):
    """A message was deleted."""

    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionAdded(Event):
    """A member reacted to a message with an emoji."""

    message_id: str
    user: Member
    emoji: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionRemoved(Event):
    """A member took a reaction back."""

    message_id: str
    user: Member
    emoji: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(Event):
    """A member joined a chat."""

    member: Member


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandIssued(Event):
    """A member called a bot command (``/karma why @bob``)."""

    name: str
    args: tuple[str, ...]
    author: Member
    message_id: str | None = None
    reply_to: str | None = None
    # The author of the message the command replies to, when the platform told us.
    reply_to_author: Member | None = None
    author_is_moderator: bool | None = None
    private: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonPressed(Event):
    """A member pressed a button the bot posted (``case:12:confirm``)."""

    custom_id: str
    user: Member
    message_id: str | None = None
    user_is_moderator: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Event):
    """Time passed; scheduled work (summaries, escalations, purges) may run."""

    communities: tuple[str, ...] = field(default=())
