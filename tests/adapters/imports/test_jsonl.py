"""The generic JSONL reader: events from good lines, numbered errors for bad ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.imports.jsonl import JsonlReader, LineError, LineEvent
from bot.events import CommandIssued, MessagePosted, ReactionAdded, ReactionRemoved


def reader() -> JsonlReader:
    return JsonlReader(lambda name: "demo" if name in (None, "demo") else None)


MESSAGE = {
    "type": "message",
    "id": "m2",
    "chat": "c1",
    "author": {"id": "u1", "name": "alice", "is_bot": False},
    "ts": "2026-11-20T10:00:00Z",
    "text": "danke @bob",
    "reply_to": "m1",
    "mentions": ["u2", "u2"],
}
REACTION = {
    "type": "reaction",
    "id": "r1",
    "chat": "c1",
    "message_id": "m1",
    "user": {"id": 7, "name": "bob"},
    "emoji": "👍",
    "ts": "2026-11-20T10:01:00+01:00",
}


def test_message_line_becomes_message_posted() -> None:
    (item,) = reader().read([json.dumps(MESSAGE)])
    assert isinstance(item, LineEvent) and isinstance(item.event, MessagePosted)
    event = item.event
    assert (event.key, event.chat, event.message_id, event.reply_to) == (
        "chat:c1:m2",
        "chat:c1",
        "m2",
        "m1",
    )
    assert event.author.key == "chat:u1" and event.mentions == ("chat:u2",)
    assert event.community == "demo" and event.at.isoformat() == "2026-11-20T10:00:00+00:00"


def test_reaction_lines_become_reaction_events() -> None:
    removed = dict(REACTION, id="r2", removed=True)
    added, taken = reader().read([json.dumps(REACTION), json.dumps(removed)])
    assert isinstance(added, LineEvent) and isinstance(added.event, ReactionAdded)
    assert added.event.user.key == "chat:7" and added.event.emoji == "👍"
    assert isinstance(taken, LineEvent) and isinstance(taken.event, ReactionRemoved)
    assert added.event.key != taken.event.key
    # Written as 10:01+01:00: the same moment, in UTC.
    assert added.event.at == datetime(2026, 11, 20, 9, 1, tzinfo=UTC)
    assert added.event.at.tzinfo is UTC


def test_command_text_becomes_command() -> None:
    (item,) = reader().read([json.dumps(dict(MESSAGE, text="/karma why @bob"))])
    assert isinstance(item, LineEvent) and isinstance(item.event, CommandIssued)
    assert (item.event.name, item.event.args) == ("karma", ("why", "@bob"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON: Expecting property name enclosed in double quotes"),
        ("[1, 2]", "expected a JSON object"),
        ('{"type": "edit"}', "type must be 'message' or 'reaction', not 'edit'"),
        (
            json.dumps({**MESSAGE, "author": None}),
            "author: Input should be a valid dictionary or instance of JsonlUser",
        ),
        (json.dumps({k: v for k, v in MESSAGE.items() if k != "ts"}), "ts: Field required"),
        (
            json.dumps({**MESSAGE, "ts": "yesterday"}),
            "ts: Input should be a valid datetime or date, input is too short",
        ),
        (
            json.dumps({**MESSAGE, "ts": "2026-11-20T10:00:00"}),
            "ts: needs a time zone, e.g. 2026-11-20T10:00:00Z",
        ),
        (
            json.dumps({**MESSAGE, "community": "elsewhere"}),
            "community: unknown community 'elsewhere'",
        ),
        (json.dumps({**REACTION, "emoji": ""}), "emoji: String should have at least 1 character"),
        (json.dumps({**MESSAGE, "id": ""}), "id: String should have at least 1 character"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_bad_lines_are_reported_with_number_and_reason(line: str, message: str) -> None:
    items = list(reader().read([json.dumps(MESSAGE), line, json.dumps(REACTION)]))
    assert [type(i) for i in items] == [LineEvent, LineError, LineEvent]
    error = items[1]
    assert isinstance(error, LineError)
    assert (error.line, error.message) == (2, message)


def test_invalid_utf8_and_blank_lines() -> None:
    items = list(reader().read([b"\xff\xfe{}\n", b"\n", json.dumps(MESSAGE).encode()]))
    assert isinstance(items[0], LineError) and items[0].message == "not UTF-8 at byte 0"
    assert len(items) == 2 and isinstance(items[1], LineEvent) and items[1].line == 3


@given(st.text(max_size=300))
def test_reader_never_raises_on_any_text(line: str) -> None:
    for item in reader().read([line]):
        assert isinstance(item, LineEvent | LineError)


@given(
    st.dictionaries(
        st.sampled_from([*MESSAGE, "community"]),
        st.none()
        | st.integers()
        | st.text(max_size=20)
        | st.lists(st.text(max_size=5), max_size=3),
    )
)
def test_reader_never_raises_on_any_object(data: dict[str, object]) -> None:
    for item in reader().read([json.dumps({**MESSAGE, **data})]):
        assert isinstance(item, LineEvent | LineError)
