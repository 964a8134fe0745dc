"""Which chat-history format a file holds, and the pieces the streaming export readers share.

Detection looks at the start of a file only:

* **JSONL** (the generic format): the first line is a whole JSON object with a ``type``.
* **Telegram, one chat** (``result.json`` of "Export chat history"): an object whose first
  keys are ``name``, ``type``, ``id`` and then ``messages``.
* **Telegram, whole account** ("Export Telegram data"): an object with ``about``,
  ``personal_information``, ``chats`` or ``left_chats``.
* **DiscordChatExporter**: an object with ``guild`` and ``channel`` before ``messages``.

The readers yield the same items as the JSONL reader (``LineEvent | LineError``). Their
errors are ``ExportError``: a ``LineError`` that also says which file, near which byte and
after which message it happened. ``merge_by_time`` interleaves several readers so that a
replay of several chats (one file per Discord channel, several groups of one Telegram
account) sees the events in the order they happened; time-based rules (cooldowns, daily
caps, promo windows) depend on that.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import ijson

from adapters.imports.jsonl import LineError, LineEvent

HEAD_BYTES = 64 * 1024
# Top-level keys looked at before detection gives up on a JSON object.
MAX_DETECT_EVENTS = 200_000
_ACCOUNT_KEYS = frozenset({"about", "personal_information", "chats", "left_chats"})
_DISCORD_KEYS = frozenset({"guild", "channel"})
# The parse event that ends a value starting with the key's event.
CLOSERS = {"start_map": "end_map", "start_array": "end_array"}
_ENDS = frozenset(CLOSERS.values())
# Deeper than any export nests (a Telegram or DiscordChatExporter message is ~10 levels).
MAX_DEPTH = 64
# ijson's C parser turns a whole buffer into events before the first one is seen, and
# builds every event's prefix from the full path: a buffer of "[[[[…" costs time quadratic
# in its size (64 KiB took seconds, 8 KiB takes milliseconds). Small buffers bound that
# work until parse_events sees the depth and stops.
PARSE_BUFFER = 8 * 1024
_BLANKS = bytes.maketrans(b"\n\r\t", b"   ")

Item = LineEvent | LineError

# Notes the export readers count (``reader.counts``), shown by ``leumund replay``.
UNATTRIBUTED = "reactions without a known giver (counted only)"
BOTS = "messages of bots (ignored)"
COMMANDS = "bot commands (not replayed)"
FORWARDED = "forwarded messages (not the author's words)"
EDITED = "edited messages (final text imported)"


class Format(StrEnum):
    """A chat-history file format."""

    JSONL = "jsonl"
    TELEGRAM = "telegram"
    TELEGRAM_ACCOUNT = "telegram-account"
    DISCORD = "discord"


class FormatError(Exception):
    """The file is in no format the importers know."""


@dataclass(frozen=True, slots=True)
class ExportError(LineError):
    """An export that could not be read further or a message that was skipped.

    ``line`` is the number of the message in the file (1 for the first), ``offset`` the
    byte where reading broke (None for a single bad message), ``after`` the id of the last
    message read whole before it.
    """

    source: str = ""
    offset: int | None = None
    after: str | None = None

    def __str__(self) -> str:
        where = [self.source] if self.source else []
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        where.append(f"message #{self.line}")
        if self.after is not None:
            where.append(f"after message id {self.after}")
        return f"{', '.join(where)}: {self.message}"


def detect(path: Path) -> Format:
    """The format of a file, from its first bytes; raises FormatError for anything else."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        start = _content_start(head)
        if start is None:
            raise FormatError(f"{path.name}: the file is empty")
        if head[start : start + 1] != b"{":
            raise FormatError(
                f"{path.name}: not a chat history (JSON or JSONL expected, "
                f"found {head[start : start + 20]!r})"
            )
        first = _first_line_object(head[start:])
        if first is not None:
            keys = set(first)
            if "messages" not in keys and not keys & _ACCOUNT_KEYS:
                if "type" in keys:
                    return Format.JSONL
                raise FormatError(
                    f"{path.name}: one JSON object per line, but without a 'type' "
                    "(the generic format has type 'message' or 'reaction')"
                )
        handle.seek(0)
        return _top_level_format(handle, path.name)


def _content_start(head: bytes) -> int | None:
    """Where the content starts after a byte order mark and white space; None if empty."""
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while start < len(head) and head[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
        start += 1
    return start if start < len(head) else None


def _first_line_object(head: bytes) -> dict[str, Any] | None:
    """The first line as a JSON object if it is one whole object, else None."""
    line, newline, _ = head.partition(b"\n")
    if not newline and len(head) >= HEAD_BYTES:
        return None  # a first line longer than the head: not the generic format
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _top_level_format(handle: IO[bytes], name: str) -> Format:
    seen: set[str] = set()
    try:
        for count, (prefix, event, value) in enumerate(parse_events(handle)):
            if count > MAX_DETECT_EVENTS:
                break
            if prefix or event != "map_key":
                continue
            if value in _ACCOUNT_KEYS:
                return Format.TELEGRAM_ACCOUNT
            if value in _DISCORD_KEYS:
                return Format.DISCORD
            if value == "messages":
                return Format.TELEGRAM
            seen.add(value)
    except ijson.JSONError as exc:
        raise FormatError(f"{name}: not valid JSON ({parse_error_text(exc)})") from exc
    found = ", ".join(sorted(seen)[:8]) or "none"
    raise FormatError(
        f"{name}: a JSON object, but no chat history (top-level keys: {found}); expected a "
        "Telegram Desktop export (result.json) or a DiscordChatExporter JSON file"
    )


def parse_events(source: Any) -> Iterator[tuple[str, str, Any]]:
    """``ijson.parse`` for untrusted files: bounded nesting, and every failure a JSONError.

    ``use_float``: without it the C backend crashes the whole process (a segmentation
    fault) on an integer of more than 4300 digits; with it an integer beyond 64 bits is a
    parse error like any other. A lone surrogate escape ("\\udc00") makes the backend raise
    UnicodeDecodeError, which becomes a JSONError too.
    """
    depth = 0
    try:
        for item in ijson.parse(source, use_float=True, buf_size=PARSE_BUFFER):
            event = item[1]
            if event in CLOSERS:
                depth += 1
                if depth > MAX_DEPTH:
                    raise ijson.JSONError(f"parse error: nested deeper than {MAX_DEPTH} levels")
            elif event in _ENDS:
                depth -= 1
            yield item
    except UnicodeDecodeError as exc:
        raise ijson.JSONError(f"lexical error: a string that is not UTF-8 ({exc.reason})") from exc


def _error_message(exc: Exception) -> str:
    """An ijson error's text; the C backend gives some (invalid UTF-8) as bytes."""
    detail = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(detail, bytes):
        return detail.decode("utf-8", "replace")
    return str(exc)


def parse_error_text(exc: Exception) -> str:
    """The first line of an ijson error, without the parser's context drawing."""
    text = _error_message(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class CountingReader:
    """A binary file that counts the bytes read (for error offsets and the progress bar)."""

    def __init__(self, handle: IO[bytes], progress: Callable[[int], None] | None = None) -> None:
        self.handle = handle
        self.progress = progress
        self.position = 0
        self.last_chunk = b""

    def read(self, size: int = -1) -> bytes:
        """Read like the file does."""
        chunk = self.handle.read(size)
        self.last_chunk = chunk
        self.position += len(chunk)
        if self.progress is not None and chunk:
            self.progress(len(chunk))
        return chunk

    def error_offset(self, exc: Exception) -> int:
        """The byte where a parse error happened.

        Exact when the parser's excerpt is found in the last chunk read, otherwise the end
        of that chunk.
        """
        end = self.position
        lines = _error_message(exc).splitlines()
        if len(lines) < 3 or "^" not in lines[2]:
            return end
        excerpt, caret = lines[1], lines[2].index("^")
        core = excerpt.lstrip(" ")
        if len(core) < 8:
            return end
        # The parser shows line breaks and tabs as spaces, one for one.
        chunk = self.last_chunk.translate(_BLANKS)
        found = chunk.rfind(core.encode("utf-8", "replace"))
        if found < 0:
            return end
        # The caret stands just after the offending token.
        caret_at = found + caret - (len(excerpt) - len(core))
        return end - len(self.last_chunk) + max(0, caret_at - 1)


def broken_file(
    exc: Exception, counting: CountingReader, count: int, after: str | None, source: str
) -> ExportError:
    """The error for a file that cannot be parsed further, after ``count`` messages."""
    detail = parse_error_text(exc)
    if "premature EOF" in detail:
        detail = f"the file ends early (truncated?): {detail}"
    else:
        detail = f"invalid JSON: {detail}"
    return ExportError(
        count + 1,
        f"{detail}; everything before was imported, a re-run of the complete file "
        "continues without counting twice",
        source=source,
        offset=counting.error_offset(exc),
        after=after,
    )


def at_of(item: Item) -> datetime | None:
    """When an item's event happened (None for errors)."""
    return item.event.at if isinstance(item, LineEvent) else None


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def merge_by_time(streams: Iterable[Iterator[Item]]) -> Iterator[Item]:
    """Interleave readers by event time; each stream must be in time order itself.

    An error keeps its place in its stream: it comes right after the event before it.
    Only one item per stream is held at a time.
    """
    heap: list[tuple[datetime, int, int, Item]] = []
    iterators = list(streams)
    last: list[datetime] = [_EARLIEST] * len(iterators)
    counter = 0

    def push(index: int) -> None:
        nonlocal counter
        item = next(iterators[index], None)
        if item is None:
            return
        at = at_of(item)
        if at is not None:
            last[index] = at
        counter += 1
        heapq.heappush(heap, (at or last[index], index, counter, item))

    for index in range(len(iterators)):
        push(index)
    while heap:
        _, index, _, item = heapq.heappop(heap)
        yield item
        push(index)
