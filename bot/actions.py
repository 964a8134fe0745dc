"""Actions that go out to a platform adapter, frozen and platform-neutral.

Features return actions; adapters execute what they can and report what they cannot.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base of all outgoing actions."""

    chat: str

    @property
    def kind(self) -> str:
        """A short name for logs and the outbox."""
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Action):
    """Post a text message, optionally as a reply to a message."""

    text: str
    reply_to: str | None = None
    thread: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class React(Action):
    """Add the bot's own reaction to a message."""

    message_id: str
    emoji: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete(Action):
    """Delete a message."""

    message_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Restrict(Action):
    """Mute a member until a moment (Telegram restrict, Discord timeout)."""

    member: str
    until: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """A button under a review message; ``custom_id`` comes back in ButtonPressed."""

    label: str
    custom_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequest(Action):
    """Put a case before the moderators, with buttons where the platform has them."""

    case_id: int
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PostSummary(Action):
    """Post a summary text with an optional chart image."""

    text: str
    image: bytes | None = None
    image_name: str = "summary.png"


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectMessage(Action):
    """Send a member a private message, optionally with a file.

    ``chat`` is the chat the request came from: the adapter falls back to it when the
    platform does not allow a private message.
    """

    member: str
    text: str
    attachment: bytes | None = None
    filename: str = "data.json"


def describe(action: Action) -> str:
    """A one-line human description, for logs, the console and the demo."""
    match action:
        case Reply(text=text, reply_to=reply_to):
            target = f" (reply to #{reply_to})" if reply_to else ""
            return f"reply{target}: {text}"
        case React(message_id=mid, emoji=emoji):
            return f"react {emoji} on #{mid}"
        case Delete(message_id=mid, reason=reason):
            return f"delete #{mid}" + (f" ({reason})" if reason else "")
        case Restrict(member=member, until=until):
            return f"restrict {member} until {until:%Y-%m-%d %H:%M}"
        case ReviewRequest(case_id=case_id, text=text, buttons=buttons):
            labels = " ".join(f"[{b.label}]" for b in buttons)
            return f"review case #{case_id}: {text} {labels}".rstrip()
        case PostSummary(text=text, image=image):
            extra = f" (+ chart, {len(image)} bytes)" if image else ""
            return f"summary: {text}{extra}"
        case DirectMessage(member=member, text=text):
            return f"private message to {member}: {text}"
        case SetRole(member=member, role=role, add=add):
            return f"{'give' if add else 'take'} role {role} {'to' if add else 'from'} {member}"
    return action.kind


@dataclass(frozen=True, slots=True, kw_only=True)
class SetRole(Action):
    """Give or take a platform role (Discord level roles); ``chat`` names the guild's chat."""

    member: str
    role: str
    add: bool = True


ACTION_TYPES: dict[str, type[Action]] = {
    cls.__name__: cls
    for cls in (Reply, React, Delete, Restrict, ReviewRequest, PostSummary, DirectMessage, SetRole)
}


def to_payload(action: Action) -> dict[str, Any]:
    """The action's fields as JSON values, for the outbox (bytes as base64, times as ISO)."""
    payload: dict[str, Any] = {}
    for f in fields(action):
        value = getattr(action, f.name)
        if isinstance(value, bytes):
            value = {"base64": base64.b64encode(value).decode("ascii")}
        elif isinstance(value, datetime):
            value = {"time": value.isoformat()}
        elif isinstance(value, tuple):
            value = [{"label": b.label, "custom_id": b.custom_id} for b in value]
        payload[f.name] = value
    return payload


def from_payload(kind: str, payload: dict[str, Any]) -> Action:
    """The action ``to_payload`` stored; raises ValueError for an unknown kind or bad fields."""
    cls = ACTION_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown action kind {kind!r}")
    values: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, dict) and "base64" in value:
            value = base64.b64decode(value["base64"])
        elif isinstance(value, dict) and "time" in value:
            value = datetime.fromisoformat(value["time"])
        elif isinstance(value, list):
            value = tuple(Button(**b) for b in value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"{kind}: {exc}") from exc
