"""Whom a thanks credits: a pure function over the thanks message and its chat context.

Order: (1) the author of the message replied to, (2) the members mentioned, (3) only if
neither names anyone, the context. The context is the chat's messages within the window
before the thanks, newest first, in the same thread, without bots' messages:

- The context is cut into *turns* at the thanker's own messages; the newest turn that
  holds a message by another member decides, older turns are only looked at when newer
  ones hold none (so "how?" - bob: "like this" - alice: "let me try" - alice: "danke!"
  still credits bob).
- In that turn, a message *addresses* the thanker when it replies to or mentions them;
  a message that replies to or mentions only someone else is a side conversation and is
  skipped; any other message *answers* by position.
- Exactly one member addressed the thanker: that member is credited. Two or more
  members addressed the thanker: **ambiguous**. Nobody addressed the thanker: exactly one
  member answering by position is credited, two or more are **ambiguous**.

An ambiguous context credits nobody, and so does a reply to a message the bot never saw
(its author is unknown, and the context would guess). A reply to the thanker's own message
is not a target (people reply to their own question to say it is solved), so it falls
through to (2) and (3).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

REPLY, MENTION, CONTEXT = "reply", "mention", "context"
AMBIGUOUS, UNKNOWN_REPLY, NO_RECEIVER = "ambiguous", "unknown_reply", "no_receiver"


@dataclass(frozen=True, slots=True)
class Said:
    """A message of the context as the credit rule sees it."""

    author: str
    message_id: str
    reply_to: str | None = None
    reply_to_author: str | None = None
    mentions: tuple[str, ...] = ()
    is_bot: bool = False
    thread: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A member to credit and the message that earned it (None when not known)."""

    member: str
    message_id: str | None
    via: str


@dataclass(frozen=True, slots=True)
class Credit:
    """The outcome: whom to credit, whom not for lack of room, or why nobody."""

    targets: tuple[Target, ...] = ()
    dropped: tuple[str, ...] = ()
    # Why nobody is credited: "ambiguous", "unknown_reply" or "no_receiver".
    nobody: str | None = None
    candidates: tuple[str, ...] = field(default=())

    @property
    def via(self) -> str | None:
        """How the receivers were found (reply, mention, context), or None."""
        return self.targets[0].via if self.targets else None


def _addresses(said: Said, members: Collection[str]) -> bool:
    return (said.reply_to_author is not None and said.reply_to_author in members) or any(
        m in members for m in said.mentions
    )


def _addresses_someone(said: Said) -> bool:
    return said.reply_to is not None or bool(said.mentions)


def from_context(
    thanker: Collection[str], context: Sequence[Said], thread: str | None = None
) -> Credit:
    """The member the context points to (see the module docs); ``context`` is newest first."""
    turn: list[Said] = []

    def decide(turn: list[Said]) -> Credit | None:
        addressing: dict[str, str] = {}
        answering: dict[str, str] = {}
        for said in turn:  # newest first: setdefault keeps each member's newest message
            if _addresses(said, thanker):
                addressing.setdefault(said.author, said.message_id)
            elif not _addresses_someone(said):
                answering.setdefault(said.author, said.message_id)
        for group in (addressing, answering):
            if len(group) == 1:
                ((member, message_id),) = group.items()
                return Credit(targets=(Target(member, message_id, CONTEXT),))
            if len(group) > 1:
                return Credit(nobody=AMBIGUOUS, candidates=tuple(sorted(group)))
        return None

    for said in context:
        if said.is_bot or said.thread != thread:
            continue
        if said.author in thanker:
            if turn and (found := decide(turn)) is not None:
                return found
            turn = []
            continue
        turn.append(said)
    if turn and (found := decide(turn)) is not None:
        return found
    return Credit(nobody=NO_RECEIVER)


def whom_to_credit(
    thanker: Collection[str],
    *,
    reply_to: str | None = None,
    reply_to_author: str | None = None,
    mentions: Sequence[str] = (),
    context: Sequence[Said] = (),
    thread: str | None = None,
    max_receivers: int = 3,
) -> Credit:
    """Whom a thanks by ``thanker`` (all their account keys) credits."""
    explicit: list[Target] = []
    if reply_to_author is not None and reply_to_author not in thanker:
        explicit.append(Target(reply_to_author, reply_to, REPLY))
    for member in mentions:
        if all(t.member != member for t in explicit):
            explicit.append(Target(member, None, MENTION))
    if not explicit:
        if reply_to is not None and reply_to_author is None:
            # A reply to a message we never saw: the context cannot say who wrote it.
            return Credit(nobody=UNKNOWN_REPLY)
        return from_context(thanker, context, thread)
    kept = tuple(explicit[:max_receivers])
    return Credit(targets=kept, dropped=tuple(t.member for t in explicit[max_receivers:]))
