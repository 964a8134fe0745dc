"""Every import reader on random and hostile files: only the documented errors, sane events.

The documented failures: ``detect`` and ``TelegramExportReader.plan`` raise ``FormatError``
for a file in no known format; everything else a reader meets becomes an item
(``LineError`` / ``ExportError``) and reading goes on or stops cleanly. Any other exception
fails these tests. The inputs are random bytes and JSON, and exports that look right but are
wrong: fields of the wrong type, missing keys, nested garbage, numbers beyond 64 bits, dates
at the edge of the calendar, lone surrogate escapes, truncated at a random byte, invalid
UTF-8 spliced in.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from adapters.imports.detect import MAX_DEPTH, ExportError, Format, FormatError, detect
from adapters.imports.discord_export import DiscordExportReader
from adapters.imports.jsonl import JsonlReader, LineError, LineEvent
from adapters.imports.telegram_export import TelegramExportReader
from bot.events import Event, Member, MessagePosted
from bot.text import MAX_MENTIONS
from storage import models
from tests.conftest import MakeApp

# Files are written once per example: no database, a few hundred examples in all.
FAST = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- what a good item looks like ----------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Member):
        yield from (value.key, value.name, value.username or "")
    elif isinstance(value, tuple):
        for item in value:
            yield from _strings(item)


def _length(column: Any) -> int:
    return int(column.type.length)


# Where the fields of an event are stored: PostgreSQL refuses longer values (and with one
# value the whole replay batch).
LIMITS = {
    "key": _length(models.ProcessedEvent.__table__.c.key),
    "chat": _length(models.Message.__table__.c.chat),
    "message_id": _length(models.Message.__table__.c.message_id),
    "reply_to": _length(models.Message.__table__.c.reply_to),
    "thread": _length(models.Message.__table__.c.thread),
    "emoji": _length(models.KarmaEntry.__table__.c.emoji),
}
MEMBER_KEY = _length(models.Member.__table__.c.key)
MEMBER_NAME = _length(models.Member.__table__.c.name)
USERNAME = _length(models.Member.__table__.c.username)


def assert_storable(event: Event) -> None:
    """What the engine needs to store an event: text it can encode, values that fit."""
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        for text in _strings(value):
            # A lone surrogate (UTF-8) or a NUL (PostgreSQL) would make the database
            # refuse the whole event.
            text.encode("utf-8")
            assert "\x00" not in text
        if field.name in LIMITS and isinstance(value, str):
            assert len(value) <= LIMITS[field.name], (field.name, value)
        if isinstance(value, Member):
            assert len(value.key) <= MEMBER_KEY and len(value.name) <= MEMBER_NAME
            assert len(value.username or "") <= USERNAME
    # In UTC, as one shared zone object: the features compare times all the time.
    assert event.at.tzinfo is UTC and 1970 <= event.at.year < 2200
    assert event.key and event.community == "demo"
    if isinstance(event, MessagePosted):
        assert len(event.mentions) <= MAX_MENTIONS
        assert all(len(m) <= MEMBER_KEY for m in event.mentions if not m.startswith("@"))


def check_items(items: Iterable[object]) -> list[object]:
    """Every item is an event or a reported error; events are storable."""
    seen = list(items)
    for item in seen:
        assert isinstance(item, LineEvent | LineError), item
        if isinstance(item, LineEvent):
            assert_storable(item.event)
        else:
            assert str(item)  # an error says something, and never as a bytes repr
            assert "invalid JSON: b'" not in item.message
    return seen


# --- JSON, plausible and hostile -----------------------------------------------------------

# Values that break naive readers: wrong types, ids that are no ids, numbers beyond 64
# bits, dates at the edge of the calendar, "digits" int() refuses, surrogates, nesting.
TRICKY: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63 - 1,
    2**64,
    10**30,
    1.5,
    1e300,
    "",
    " ",
    "²",
    "١٢٣",
    "9" * 30,
    "user" + "9" * 30,
    "user²",
    "channel",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "2026-13-45T99:99:99",
    "99999999999999999999",
    "-5",
    "\ud800",
    "\udfff x",
    "\x00",
    "a\x00b",
    "\u202egnp.exe",
    "\u200b" * 50,
    "/karma@bot why",
    "@everyone",
    "'; DROP TABLE message; --",
    [],
    {},
    [[[[[]]]]],
    {"a": {"b": {"c": []}}},
]

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates too
    st.sampled_from(TRICKY),
)
json_values = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_DROP = object()


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A value shaped like ``value``: some keys missing, some replaced, some added."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            roll = draw(st.integers(0, 11))
            if roll == 0:
                continue  # a missing key
            out[key] = draw(json_values) if roll == 1 else draw(mutated(inner))
        if draw(st.integers(0, 5)) == 0:
            out[draw(st.text(max_size=8))] = draw(json_values)
        return out
    if isinstance(value, list):
        if not value:
            return draw(st.lists(json_values, max_size=2))
        count = draw(st.integers(0, 3))
        return [draw(mutated(value[i % len(value)])) for i in range(count)]
    roll = draw(st.integers(0, 5))
    if roll == 0:
        return draw(st.sampled_from(TRICKY))
    return value


@st.composite
def corrupted(draw: st.DrawFn, data: bytes) -> bytes:
    """The bytes as they are, truncated at a random byte, or with invalid UTF-8 inside."""
    roll = draw(st.integers(0, 3))
    if roll == 0 or not data:
        return data
    at = draw(st.integers(0, len(data)))
    if roll == 1:
        return data[:at]
    bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80"]))
    return data[:at] + bad + data[at:]


def encoded(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


TELEGRAM_MESSAGE: dict[str, Any] = {
    "id": 7,
    "type": "message",
    "date": "2026-11-16T10:00:00",
    "date_unixtime": "1794819600",
    "edited": "2026-11-16T10:05:00",
    "from": "Anna",
    "from_id": "user1002",
    "forwarded_from": "Kanal",
    "reply_to_message_id": 6,
    "text": ["danke ", {"type": "mention", "text": "@bob"}, "!"],
    "text_entities": [
        {"type": "plain", "text": "danke "},
        {"type": "mention_name", "text": "Bob", "user_id": 1003},
        {"type": "blockquote", "text": "zitat"},
        {"type": "pre", "text": "code"},
    ],
    "reactions": [
        {
            "type": "emoji",
            "count": 2,
            "emoji": "👍",
            "recent": [{"from": "Bob", "from_id": "user1003", "date": "2026-11-16T10:01:00"}],
        },
        {"type": "custom_emoji", "count": 1, "document_id": "5"},
        {"type": "paid", "count": 3},
    ],
    "inline_bot_buttons": [[{"text": "x"}]],
}
TELEGRAM_SERVICE: dict[str, Any] = {
    "id": 8,
    "type": "service",
    "date": "2026-11-16T10:00:00",
    "date_unixtime": "1794819600",
    "actor": "Carla",
    "actor_id": "user1004",
    "action": "invite_members",
    "members": ["Carla", "Anna", None],
}
TELEGRAM_CHAT: dict[str, Any] = {
    "name": "Radler",
    "type": "private_supergroup",
    "id": 1234567890,
    "messages": [TELEGRAM_MESSAGE, TELEGRAM_SERVICE],
}
TELEGRAM_ACCOUNT: dict[str, Any] = {
    "about": "Here is the data you requested.",
    "personal_information": {"user_id": 1},
    "chats": {"about": "", "list": [TELEGRAM_CHAT]},
    "left_chats": {"about": "", "list": [TELEGRAM_CHAT]},
}
DISCORD_USER: dict[str, Any] = {"id": "500000000000000002", "name": "bob", "nickname": "Bob"}
DISCORD_EXPORT: dict[str, Any] = {
    "guild": {"id": "600000000000000001", "name": "Radler"},
    "channel": {
        "id": "600000000000000010",
        "type": "GuildPublicThread",
        "categoryId": "600000000000000011",
        "name": "hilfe",
    },
    "messages": [
        {
            "id": "1000000000000000001",
            "type": "Reply",
            "timestamp": "2026-11-16T09:00:00+00:00",
            "timestampEdited": "2026-11-16T09:01:00+00:00",
            "content": "danke <@500000000000000002>",
            "contentRaw": "danke <@500000000000000002>",
            "author": {"id": "500000000000000001", "name": "alice", "isBot": False},
            "reference": {"messageId": "999", "channelId": "600000000000000010", "type": "Forward"},
            "forwardedMessage": {"content": "weitergeleitet"},
            "mentions": [DISCORD_USER],
            "reactions": [
                {
                    "emoji": {"id": "812345678901234567", "name": "rad", "isAnimated": True},
                    "count": 2,
                    "users": [DISCORD_USER],
                }
            ],
        },
        {
            "id": "1000000000000000002",
            "type": "GuildMemberJoin",
            "timestamp": "2026-11-16T09:02:00+00:00",
            "author": DISCORD_USER,
        },
    ],
}
JSONL_MESSAGE: dict[str, Any] = {
    "type": "message",
    "id": "m1",
    "chat": "c1",
    "author": {"id": "u1", "name": "alice", "is_bot": False},
    "ts": "2026-11-20T10:00:00Z",
    "text": "danke @bob",
    "reply_to": "m0",
    "mentions": ["u2"],
    "community": "demo",
    "thread": "t1",
    "forwarded": False,
}
JSONL_REACTION: dict[str, Any] = {
    "type": "reaction",
    "id": "r1",
    "chat": "c1",
    "message_id": "m1",
    "user": {"id": 7, "name": "bob"},
    "emoji": "👍",
    "ts": "2026-11-20T10:01:00+01:00",
    "removed": True,
}


def telegram_files() -> st.SearchStrategy[bytes]:
    shaped = st.one_of(mutated(TELEGRAM_CHAT), mutated(TELEGRAM_ACCOUNT))
    return st.builds(encoded, shaped, st.booleans()).flatmap(corrupted)


def discord_files() -> st.SearchStrategy[bytes]:
    return st.builds(encoded, mutated(DISCORD_EXPORT), st.booleans()).flatmap(corrupted)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def read_telegram(path: Path) -> list[object]:
    """All items of a Telegram export, every chat chosen; [] for a file in no format."""
    reader = TelegramExportReader(lambda key: "demo", chats=("Radler", "1234567890"))
    try:
        return check_items(reader.read(path))
    except FormatError:
        return []


def read_discord(path: Path) -> list[object]:
    return check_items(DiscordExportReader(lambda key: "demo").read(path))


def jsonl_reader() -> JsonlReader:
    return JsonlReader(lambda name: "demo" if name in (None, "demo") else None)


# --- properties -------------------------------------------------------------------------


@FAST
@given(data=telegram_files())
def test_telegram_reader_on_wrong_exports(workdir: Path, data: bytes) -> None:
    path = workdir / "result.json"
    path.write_bytes(data)
    read_telegram(path)


@FAST
@given(data=discord_files())
def test_discord_reader_on_wrong_exports(workdir: Path, data: bytes) -> None:
    path = workdir / "channel.json"
    path.write_bytes(data)
    read_discord(path)


@FAST
@given(data=st.one_of(st.binary(max_size=300), st.builds(encoded, json_values, st.booleans())))
def test_every_reader_on_random_bytes(workdir: Path, data: bytes) -> None:
    path = workdir / "random.json"
    path.write_bytes(data)
    try:
        kind = detect(path)
    except FormatError:
        kind = None
    assert kind is None or isinstance(kind, Format)
    read_telegram(path)
    read_discord(path)
    check_items(jsonl_reader().read(data.splitlines()))


@FAST
@given(
    lines=st.lists(
        st.one_of(
            st.builds(encoded, mutated(JSONL_MESSAGE), st.booleans()).flatmap(corrupted),
            st.builds(encoded, mutated(JSONL_REACTION), st.booleans()).flatmap(corrupted),
            st.binary(max_size=40),
        ),
        max_size=4,
    )
)
def test_jsonl_reader_on_wrong_lines(lines: list[bytes]) -> None:
    items = check_items(jsonl_reader().read(lines))
    # One item per line that is not blank, numbered as in the file.
    wanted = [n for n, line in enumerate(lines, 1) if line.decode("utf-8", "replace").strip()]
    assert [item.line for item in items if isinstance(item, LineEvent | LineError)] == wanted


# --- regressions found by the properties ----------------------------------------------------


def telegram_file(workdir: Path, messages: list[Any], **header: Any) -> Path:
    path = workdir / "case.json"
    chat = {"name": "Radler", "type": "private_supergroup", "id": 42, **header}
    path.write_text(json.dumps({**chat, "messages": messages}), encoding="utf-8")
    return path


def discord_file(workdir: Path, messages: list[Any]) -> Path:
    path = workdir / "case.json"
    head = {"guild": {"id": "1"}, "channel": {"id": "2", "type": "GuildTextChat"}}
    path.write_text(json.dumps({**head, "messages": messages}), encoding="utf-8")
    return path


MESSAGE: dict[str, Any] = {
    "id": 7,
    "type": "message",
    "date": "2026-11-16T10:00:00",
    "date_unixtime": "1794819600",
    "from": "Anna",
    "from_id": "user1002",
    "text": "danke",
}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"date_unixtime": "9" * 19}, "date_unixtime: out of range: 9999999999999999999"),
        ({"date_unixtime": 10**18}, "date_unixtime: out of range: 1000000000000000000"),
        (
            {"date_unixtime": None, "date": "0001-01-01T00:00:00+01:00"},
            "date: missing or not an ISO date",
        ),
        (
            {"date_unixtime": None, "date": "1969-12-31T23:00:00"},
            "date: must be between 1970 and 2199: 1969-12-31T23:00:00+00:00",
        ),
        (
            {"date_unixtime": "7258118400"},
            "date: must be between 1970 and 2199: 2200-01-01T00:00:00+00:00",
        ),
        ({"from_id": "user" + "9" * 5000}, None),
        ({"from_id": "user²"}, "from_id: not a user, channel or chat id: 'user²'"),
    ],
)
def test_bad_dates_and_ids_skip_only_their_message(
    workdir: Path, changes: dict[str, Any], error: str | None
) -> None:
    path = telegram_file(workdir, [{**MESSAGE, **changes}, {**MESSAGE, "id": 8}])
    items = read_telegram(path)
    [event] = [i.event for i in items if isinstance(i, LineEvent)]
    assert event.key == "telegram:-1000000000042:8"
    [skipped] = [i for i in items if isinstance(i, ExportError)]
    assert skipped.line == 1
    if error is not None:
        assert skipped.message == error


def test_odd_mentions_and_reaction_dates_keep_the_message(workdir: Path) -> None:
    entities = [
        {"type": "mention_name", "text": "a", "user_id": "²"},
        {"type": "mention_name", "text": "b", "user_id": "1" * 5000},
        {"type": "mention_name", "text": "c", "user_id": 1003},
        *({"type": "mention", "text": f"@user{n}"} for n in range(MAX_MENTIONS + 50)),
    ]
    early = {"from_id": "user1003", "date": "0001-01-01T00:00:00"}
    reactions = [{"type": "emoji", "emoji": "👍", "count": 1, "recent": [early]}]
    path = telegram_file(workdir, [{**MESSAGE, "text_entities": entities, "reactions": reactions}])
    events = [i.event for i in read_telegram(path) if isinstance(i, LineEvent)]
    post, reaction = events
    assert isinstance(post, MessagePosted)
    assert post.mentions[0] == "telegram:1003" and len(post.mentions) == MAX_MENTIONS
    assert reaction.at == post.at  # a reaction time out of range: the message's time


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"mentions": 5}, None),
        ({"mentions": True}, None),
        ({"reference": "x", "reactions": {"emoji": 1}}, None),
        ({"id": "²"}, "id: a message id must be a snowflake, not '²'"),
        ({"id": "1" * 30}, f"id: a message id must be a snowflake, not '{'1' * 30}'"),
        ({"author": {"id": "١"}}, "author: missing or without an id"),
        ({"type": []}, None),
        (
            {"timestamp": "0001-01-01T00:30:00+01:00"},
            "timestamp: must be between 1970 and 2199: '0001-01-01T00:30:00+01:00'",
        ),
        (
            {"timestamp": "9999-12-31T23:59:59"},
            "timestamp: must be between 1970 and 2199: '9999-12-31T23:59:59'",
        ),
    ],
)
def test_discord_wrong_fields(workdir: Path, changes: dict[str, Any], error: str | None) -> None:
    good = {
        "id": "10",
        "timestamp": "2026-11-16T09:00:00+00:00",
        "author": {"id": "5"},
        "content": "hallo",
    }
    items = read_discord(discord_file(workdir, [{**good, **changes}, {**good, "id": "11"}]))
    errors = [i.message for i in items if isinstance(i, ExportError)]
    assert errors == ([] if error is None else [error])
    assert [i.event.key for i in items if isinstance(i, LineEvent)][-1] == "discord:2:11"


def test_many_discord_mentions_are_capped(workdir: Path) -> None:
    users = [{"id": str(n)} for n in range(1, MAX_MENTIONS + 100)]
    message = {"id": "10", "timestamp": "2026-11-16T09:00:00Z", "author": {"id": "5"}}
    [item] = read_discord(discord_file(workdir, [{**message, "mentions": users}]))
    assert isinstance(item, LineEvent) and isinstance(item.event, MessagePosted)
    assert item.event.mentions == tuple(f"discord:{n}" for n in range(1, MAX_MENTIONS + 1))


@pytest.mark.parametrize("reader", ["telegram", "discord"])
def test_deep_nesting_stops_quickly(workdir: Path, reader: str) -> None:
    depth = 200_000
    path = workdir / "deep.json"
    head = (
        b'{"name": "Radler", "type": "private_supergroup", "id": 42, "messages": ['
        if reader == "telegram"
        else b'{"guild": {"id": "1"}, "channel": {"id": "2"}, "messages": ['
    )
    path.write_bytes(head + b"[" * depth + b"]" * depth + b"]}")
    started = time.perf_counter()
    items = read_telegram(path) if reader == "telegram" else read_discord(path)
    # Generous: a guard against the parser's quadratic prefixes (minutes before), not a
    # benchmark.
    assert time.perf_counter() - started < 2.0
    [error] = items
    assert isinstance(error, ExportError)
    assert f"nested deeper than {MAX_DEPTH} levels" in error.message


def test_nesting_as_deep_as_allowed_is_read(workdir: Path) -> None:
    nested: Any = "tief"
    for _ in range(MAX_DEPTH - 3):  # the file, "messages" and the message are 3 levels
        nested = [nested]
    path = telegram_file(workdir, [{**MESSAGE, "extra": nested}])
    [item] = read_telegram(path)
    assert isinstance(item, LineEvent)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'"\\udc00"', "invalid JSON: lexical error: a string that is not UTF-8"),
        (b'"\xff"', "invalid JSON: lexical error: invalid bytes in UTF8 string."),
    ],
)
def test_undecodable_text_is_reported_as_text(workdir: Path, raw: bytes, error: str) -> None:
    path = workdir / "text.json"
    first = json.dumps({**MESSAGE, "id": 1}).encode()
    head = b'{"name": "Radler", "type": "private_supergroup", "id": 42, "messages": ['
    path.write_bytes(head + first + b', {"id": 2, "text": ' + raw + b"}]}")
    items = read_telegram(path)
    assert isinstance(items[0], LineEvent)
    [broken] = items[1:]
    assert isinstance(broken, ExportError) and broken.after == "1"
    assert broken.message.startswith(error), broken.message


def test_integers_beyond_4300_digits_do_not_crash_the_process(tmp_path: Path) -> None:
    # ijson's C backend crashed the interpreter (SIGSEGV) on such an integer while
    # detecting the format; run it in a child so a regression cannot take pytest down.
    huge = b"1" * 5000
    files = {
        "telegram.json": b'{"name": "R", "type": "private_group", "id": 1, "messages": [{"id": '
        + huge
        + b"}]}",
        "discord.json": b'{"guild": {"id": "1"}, "channel": {"id": "2"}, "messages": ['
        + huge
        + b"]}",
        "other.json": b'{"x": ' + huge + b"}",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    script = """
import sys
from pathlib import Path
from adapters.imports.detect import FormatError, detect
from adapters.imports.discord_export import DiscordExportReader
from adapters.imports.telegram_export import TelegramExportReader
for name in ("telegram.json", "discord.json", "other.json"):
    path = Path(sys.argv[1]) / name
    try:
        print(name, detect(path), end=" ")
    except FormatError as exc:
        print(name, "FormatError", end=" ")
    items = list(DiscordExportReader(lambda key: "demo").read(path))
    try:
        items += list(TelegramExportReader(lambda key: "demo").read(path))
    except FormatError:
        pass
    print(len(items))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "telegram.json telegram 2",
        "discord.json discord 1",
        "other.json FormatError 1",
    ]


def test_jsonl_integer_beyond_4300_digits_is_a_line_error() -> None:
    line = '{"type": "message", "id": ' + "1" * 5000 + "}"
    [item] = jsonl_reader().read([line])
    assert item == LineError(1, "invalid JSON: a number too long to read")


@pytest.mark.parametrize(
    "ts", ["0001-01-01T00:30:00+01:00", "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]
)
def test_jsonl_times_beyond_a_chat_history_are_line_errors(ts: str) -> None:
    [item] = jsonl_reader().read([json.dumps({**JSONL_MESSAGE, "ts": ts})])
    assert item == LineError(1, "ts: must be between 1970 and 2199")


def test_telegram_service_action_of_the_wrong_type(workdir: Path) -> None:
    service = {**TELEGRAM_SERVICE, "action": ["invite_members"]}
    items = read_telegram(telegram_file(workdir, [service, {**MESSAGE, "id": 9}]))
    # The service message is only counted (a list is no action), the post after it is read.
    assert [(type(i).__name__, i.line) for i in items] == [("LineEvent", 2)]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"id": "m" * 65}, "id: String should have at most 64 characters"),
        ({"thread": "t" * 65}, "thread: String should have at most 64 characters"),
        ({"chat": "c" * 124}, "chat: at most 123 characters (keys are chat:<id>)"),
        ({"author": {"id": "u" * 124}}, "author.id: at most 123 characters (keys are chat:<id>)"),
        ({"mentions": ["u", "u" * 124]}, "mentions.1: at most 123 characters (keys are chat:<id>)"),
    ],
)
def test_jsonl_values_longer_than_storage_are_line_errors(
    changes: dict[str, Any], error: str
) -> None:
    # PostgreSQL refuses them (varchar columns), which stopped the whole replay batch.
    [item] = jsonl_reader().read([json.dumps({**JSONL_MESSAGE, **changes})])
    assert item == LineError(1, error)


def test_jsonl_mentions_are_capped() -> None:
    record = {**JSONL_MESSAGE, "mentions": [f"u{n}" for n in range(MAX_MENTIONS + 50)]}
    [item] = jsonl_reader().read([json.dumps(record)])
    assert isinstance(item, LineEvent) and isinstance(item.event, MessagePosted)
    assert len(item.event.mentions) == MAX_MENTIONS


# --- the limits, stored -------------------------------------------------------------------

EDGE_NAME = "N\x00" + "n" * 400
EDGE_TEXT = "danke \x00 \ud800 " + "x" * 2000


def edge_files(workdir: Path) -> list[list[object]]:
    """Items at every limit the readers let through, from each reader."""
    room = MEMBER_KEY - len("chat:")
    jsonl = [
        {
            "type": "message",
            "id": "m" * 64,
            "chat": "c" * room,
            "author": {"id": "u" * room, "name": EDGE_NAME[:256]},
            "ts": "1970-01-01T00:00:00Z",
            "text": EDGE_TEXT.replace("\ud800", "?"),
            "reply_to": "r" * 64,
            "thread": "t" * 64,
            "mentions": [f"{n:0{room}d}" for n in range(MAX_MENTIONS + 5)],
        },
        {
            "type": "reaction",
            "id": "q" * 64,
            "chat": "c" * room,
            "message_id": "m" * 64,
            "user": {"id": 7, "name": "n" * 256},
            "emoji": "👍" * 64,
            "ts": "2199-12-31T23:59:59Z",
        },
    ]
    stamp = "7258118399"  # 2199-12-31T23:59:59Z
    recent = [{"from": EDGE_NAME, "from_id": "user" + "9" * 19, "date": "2199-12-31T23:59:59"}]
    telegram = {
        "name": "Radler",
        "type": "public_supergroup",
        "id": 2**62,
        "messages": [
            {
                "id": 2**63 - 1,
                "type": "message",
                "date_unixtime": stamp,
                "from": EDGE_NAME,
                "from_id": "channel" + "9" * 19,
                "text": EDGE_TEXT,
                "reply_to_message_id": 2**63 - 2,
                "reactions": [
                    {"type": "emoji", "emoji": "x" * 32, "count": 2, "recent": recent},
                    {"type": "custom_emoji", "document_id": "9" * 20, "count": 1, "recent": recent},
                ],
            },
            {
                "id": 1,
                "type": "service",
                "date_unixtime": "0",
                "action": "join_group_by_link",
                "actor": EDGE_NAME,
                "actor_id": "user" + "9" * 19,
            },
        ],
    }
    snowflake = "9" * 20
    user = {"id": snowflake, "name": EDGE_NAME, "nickname": EDGE_NAME, "isBot": False}
    discord = {
        "guild": {"id": snowflake},
        "channel": {"id": snowflake, "type": "GuildPublicThread", "categoryId": "8" * 20},
        "messages": [
            {
                "id": snowflake,
                "type": "Reply",
                "timestamp": "2199-12-31T23:59:59+00:00",
                "contentRaw": EDGE_TEXT,
                "author": user,
                "reference": {"messageId": "7" * 20},
                "mentions": [{**user, "id": f"{n:020d}"} for n in range(1, MAX_MENTIONS + 5)],
                "reactions": [
                    {"emoji": {"id": snowflake, "name": "e" * 32}, "count": 1, "users": [user]},
                    {"emoji": {"name": "e" * 32}, "count": 1, "users": [user]},
                ],
            },
            {
                "id": "1",
                "type": "GuildMemberJoin",
                "timestamp": "1970-01-01T00:00:00Z",
                "author": user,
            },
        ],
    }
    (workdir / "edge.jsonl").write_text("\n".join(json.dumps(r) for r in jsonl), encoding="utf-8")
    (workdir / "edge-telegram.json").write_text(json.dumps(telegram), encoding="utf-8")
    (workdir / "edge-discord.json").write_text(json.dumps(discord), encoding="utf-8")
    lines = (workdir / "edge.jsonl").read_bytes().splitlines()
    return [
        check_items(jsonl_reader().read(lines)),
        check_items(
            TelegramExportReader(lambda key: "demo", chats=("Radler",)).read(
                workdir / "edge-telegram.json"
            )
        ),
        read_discord(workdir / "edge-discord.json"),
    ]


async def test_items_at_every_limit_are_stored(make_app: MakeApp, workdir: Path) -> None:
    app = await make_app()
    kinds = []
    for items in edge_files(workdir):
        assert items and all(isinstance(item, LineEvent) for item in items), items
        for item in items:
            assert isinstance(item, LineEvent)
            await app.engine.process(item.event)  # the database refuses nothing
            kinds.append(type(item.event).__name__)
    assert kinds.count("ReactionAdded") == 5 and kinds.count("MemberJoined") == 2
    key = "discord:" + "9" * 20
    async with app.db.session() as session:
        member = select(models.Member).where(col(models.Member.key) == key)
        stored = (await session.execute(member)).scalar_one()
    assert stored.name == "N\ufffd" + "n" * 254  # cut to the column, the NUL replaced
