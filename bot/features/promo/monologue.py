"""Per-member sliding windows: dialogue versus broadcasting, near-duplicates, new members, bursts.

The state lives in memory, bounded: at most ``max_members`` members (least recently active
ones are dropped first), each with a deque of at most ``window_messages`` message
summaries and the times they were answered. Nothing is read or written for ordinary
messages. The first time a member sends a watched message (a link to everyone, or
promotional content), their ``first_seen`` is read once; if the window was started after
that moment (a restart, or the member was dropped from memory), it is rebuilt from the
messages table (one query for their recent messages and one for the replies and mentions
they received), so a promoter who was active before a restart is still recognised, while
a replay from an empty database never needs the rebuild. On PostgreSQL, which several
processes may share, no process sees every message, so the window is rebuilt like this
for every watched message.

Near-duplicates: a 64-bit SimHash over one-token shingles (the words outside links) plus
the link hosts, weighted three. Two texts are copies when their SimHashes differ in at
most ``duplicate_distance`` bits (12 by default), so small edits do not evade: on the seed
corpus 94% of one-word edits and 80% of two-word edits stay within 12 bits, while 0.01%
of pairs of unrelated texts come that close.
"""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MASK64 = (1 << 64) - 1
MAX_FEATURES = 255  # per-bit counters are one byte wide


def _spread_table() -> tuple[int, ...]:
    """For each byte, an int with bit i of the byte moved to bit 8*i (one byte per bit)."""
    return tuple(sum(1 << (8 * i) for i in range(8) if byte >> i & 1) for byte in range(256))


_SPREAD = _spread_table()


def _hash64(feature: str) -> int:
    """A stable 64-bit hash (Python's ``hash`` changes per process)."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


def shingles(tokens: Sequence[str], hosts: Sequence[str] = ()) -> list[str]:
    """SimHash features: every word (a one-token shingle) and each link host three times.

    On chat-length texts, single words keep one-word edits within a few bits where word
    pairs would change twice as many features; the host weighs more because an ad
    keeps its address while the wording around it changes.
    """
    found = list(tokens)
    for host in hosts:
        found.extend((host, host, host))
    return found


def simhash(features: Sequence[str]) -> int:
    """The 64-bit SimHash of features (0 for none).

    Instead of 64 counters per feature, each feature hash is spread so that every bit gets
    its own byte; adding the spread ints adds all 64 counters at once.
    """
    feats = features[:MAX_FEATURES]
    if not feats:
        return 0
    total = 0
    spread = _SPREAD
    for feat in feats:
        h = _hash64(feat)
        total += (
            spread[h & 0xFF]
            | spread[h >> 8 & 0xFF] << 64
            | spread[h >> 16 & 0xFF] << 128
            | spread[h >> 24 & 0xFF] << 192
            | spread[h >> 32 & 0xFF] << 256
            | spread[h >> 40 & 0xFF] << 320
            | spread[h >> 48 & 0xFF] << 384
            | spread[h >> 56 & 0xFF] << 448
        )
    n = len(feats)
    fingerprint = 0
    for bit, count in enumerate(total.to_bytes(64, "little")):
        if 2 * count > n:
            fingerprint |= 1 << bit
    return fingerprint


def hamming(a: int, b: int) -> int:
    """The number of bits in which two fingerprints differ."""
    return ((a ^ b) & MASK64).bit_count()


def stored_fingerprint(fingerprint: int) -> int:
    """The value kept in ``messages.fingerprint`` (BIGINT): all 64 bits as a signed int."""
    value = fingerprint & MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(slots=True)
class Entry:
    """What the window keeps of one message: no text, just what the checks need."""

    chat: str
    message_id: str
    at: datetime
    reply_other: bool = False
    mentions_other: bool = False
    promo: bool = False
    has_link: bool = False
    fingerprint: int | None = None

    def __post_init__(self) -> None:
        # Thousands of entries per chat: one shared string, not one copy per message.
        self.chat = sys.intern(self.chat)

    @property
    def dialogue(self) -> bool:
        """A reply to or mention of someone else that is not itself promotional."""
        return not self.promo and (self.reply_other or self.mentions_other)


@dataclass(slots=True)
class MemberState:
    """One member's window and cached facts (first seen, dismissal bonus, karma)."""

    entries: deque[Entry]
    received: deque[datetime]
    created: datetime
    loaded: bool = False
    first_seen: datetime | None = None
    first_seen_known: bool = False
    bonus: float | None = None
    karma: float | None = None
    karma_at: datetime | None = None

    def prune(self, since: datetime) -> None:
        """Forget messages and answers older than the window."""
        entries, received = self.entries, self.received
        while entries and entries[0].at < since:
            entries.popleft()
        while received and received[0] < since:
            received.popleft()

    def find(self, chat: str, message_id: str) -> Entry | None:
        """The entry of a message, if it is still in the window."""
        for entry in reversed(self.entries):
            if entry.message_id == message_id and entry.chat == chat:
                return entry
        return None

    def remove(self, entry: Entry) -> None:
        """Take an entry out (before it is re-scored after an edit)."""
        self.entries.remove(entry)


@dataclass(frozen=True, slots=True)
class Monologue:
    """The 9:1 rule over a window: promotional posts versus dialogue."""

    promos: int
    interactions: int
    strength: float


def monologue(state: MemberState, ratio: float, min_posts: int) -> Monologue:
    """Promotional posts versus interactions (dialogue sent plus answers received).

    With ``ratio`` r (0.1 for the 9:1 rule), a member needs ``(1 - r) / r`` interactions
    per promotional post. The strength is ``1 - interactions / (k * promos)`` with
    ``k = (1 - r) / r``, and 0 below ``min_posts`` promotional posts.
    """
    promos = sum(1 for e in state.entries if e.promo)
    interactions = sum(1 for e in state.entries if e.dialogue) + len(state.received)
    if promos < min_posts:
        return Monologue(promos, interactions, 0.0)
    needed = (1.0 - ratio) / ratio * promos
    return Monologue(promos, interactions, max(0.0, 1.0 - interactions / needed))


@dataclass(frozen=True, slots=True)
class Copies:
    """Near-duplicates of a message among a member's earlier messages."""

    entries: tuple[Entry, ...]
    other_chats: tuple[str, ...]
    same_chat: int


def copies(state: MemberState, fingerprint: int, chat: str, distance: int) -> Copies:
    """Earlier messages in the window within ``distance`` bits of ``fingerprint``."""
    found = tuple(
        entry
        for entry in state.entries
        if entry.fingerprint is not None and hamming(entry.fingerprint, fingerprint) <= distance
    )
    others = tuple(dict.fromkeys(entry.chat for entry in found if entry.chat != chat))
    same = sum(1 for entry in found if entry.chat == chat)
    return Copies(found, others, same)


def recent(state: MemberState, since: datetime) -> int:
    """Messages in the window at or after ``since``."""
    count = 0
    for entry in reversed(state.entries):
        if entry.at < since:
            break
        count += 1
    return count


@dataclass
class Windows:
    """Member states by (community, member), least recently used dropped beyond a bound."""

    max_members: int = 10_000
    _states: OrderedDict[tuple[str, str], MemberState] = field(default_factory=OrderedDict)

    def get(self, community: str, member: str, size: int, now: datetime) -> MemberState:
        """The member's state, created empty (not loaded) when unknown."""
        key = (community, member)
        state = self._states.get(key)
        if state is None:
            state = MemberState(deque(maxlen=size), deque(maxlen=size), now)
            self._states[key] = state
            if len(self._states) > self.max_members:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        return state

    def peek(self, community: str, member: str) -> MemberState | None:
        """The member's state without creating one or changing the order."""
        return self._states.get((community, member))

    def forget(self, community: str, member: str) -> None:
        """Drop a member's state (after a moderator decision about them)."""
        self._states.pop((community, member), None)

    def __len__(self) -> int:
        return len(self._states)


def window_start(now: datetime, hours: int) -> datetime:
    """The oldest moment the window keeps."""
    return now - timedelta(hours=hours)
