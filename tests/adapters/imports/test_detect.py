"""Format detection, the shared export error, byte counting and the merge by time."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ijson
import pytest

from adapters.imports.detect import (
    CountingReader,
    ExportError,
    Format,
    FormatError,
    Item,
    detect,
    merge_by_time,
)
from adapters.imports.jsonl import LineError, LineEvent
from bot.events import Member, MessagePosted

FIXTURES = Path(__file__).parent / "fixtures"
JSONL_LINE = (
    '{"type":"message","id":"m1","chat":"c1","author":{"id":"u1","name":"alice"},'
    '"ts":"2026-11-16T09:00:00Z","text":"Danke!"}\n'
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(JSONL_LINE * 2, Format.JSONL, id="jsonl"),
        pytest.param("\ufeff\n  " + JSONL_LINE, Format.JSONL, id="jsonl-bom"),
        pytest.param(
            '{"name": "Radler", "type": "private_group", "id": 1, "messages": []}',
            Format.TELEGRAM,
            id="telegram-one-line",
        ),
        pytest.param(
            '{\n "name": "Radler",\n "type": "private_group",\n "id": 1,\n "messages": [\n ]\n}',
            Format.TELEGRAM,
            id="telegram-pretty",
        ),
        pytest.param(
            '{\n "about": "Here is the data you requested.",\n "chats": {"list": []}\n}',
            Format.TELEGRAM_ACCOUNT,
            id="telegram-account",
        ),
        pytest.param(
            '{\n  "guild": {"id": "1"},\n  "channel": {"id": "2"},\n  "messages": []\n}',
            Format.DISCORD,
            id="discord",
        ),
        pytest.param(
            '{"guild": {"id": "1"}, "channel": {"id": "2"}, "messages": []}',
            Format.DISCORD,
            id="discord-one-line",
        ),
    ],
)
def test_formats_are_told_apart_by_their_start(
    tmp_path: Path, content: str, expected: Format
) -> None:
    path = tmp_path / "history"
    path.write_text(content, encoding="utf-8")
    assert detect(path) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("telegram_chat.json", Format.TELEGRAM),
        ("telegram_account.json", Format.TELEGRAM_ACCOUNT),
        ("discord_channel.json", Format.DISCORD),
        ("discord_thread.json", Format.DISCORD),
    ],
)
def test_the_fixtures_are_detected(name: str, expected: Format) -> None:
    assert detect(FIXTURES / name) is expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "the file is empty", id="empty"),
        pytest.param(" \n\t", "the file is empty", id="blank"),
        pytest.param("Hallo Welt", "not a chat history (JSON or JSONL expected", id="text"),
        pytest.param("[1, 2]", "not a chat history (JSON or JSONL expected", id="array"),
        pytest.param(
            '{"foo": 1}\n{"bar": 2}\n', "one JSON object per line, but without a 'type'", id="jsonl"
        ),
        pytest.param(
            '{\n "settings": {"theme": "dark"},\n "version": 3\n}',
            "a JSON object, but no chat history (top-level keys: settings, version)",
            id="other-json",
        ),
        pytest.param('{\n "name": "x",\n "id": 1,,\n}', "not valid JSON (parse error", id="broken"),
    ],
)
def test_other_files_are_refused_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FormatError) as caught:
        detect(path)
    assert str(caught.value).startswith(f"notes.txt: {message}")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ExportError(12, "invalid JSON", source="result.json", offset=5825, after="11"),
            "result.json, byte 5825, message #12, after message id 11: invalid JSON",
        ),
        (
            ExportError(3, "a message must be a JSON object", source="r.json", after="1"),
            "r.json, message #3, after message id 1: a message must be a JSON object",
        ),
        (ExportError(1, "kaputt"), "message #1: kaputt"),
    ],
)
def test_export_errors_say_where(error: ExportError, text: str) -> None:
    assert str(error) == text
    assert isinstance(error, LineError)


def test_counting_reader_counts_and_reports_progress() -> None:
    seen: list[int] = []
    counting = CountingReader(io.BytesIO(b"x" * 100), seen.append)
    assert counting.read(64) == b"x" * 64 and counting.read(64) == b"x" * 36
    assert counting.read(64) == b""
    assert (counting.position, seen) == (100, [64, 36])


@pytest.mark.parametrize(
    ("data", "bad"),
    [
        pytest.param(b'{"aaaaaaaaaaaa": 1,,"b": 2}', 19, id="object"),
        pytest.param(b"[\n  11111111111111111,\n  2 3\n]", 27, id="lines"),
    ],
)
def test_parse_errors_are_placed_on_their_byte(data: bytes, bad: int) -> None:
    counting = CountingReader(io.BytesIO(data))
    with pytest.raises(ijson.JSONError) as caught:
        list(ijson.parse(counting))
    assert counting.error_offset(caught.value) == bad


def test_an_unplaceable_error_is_placed_at_the_end_of_what_was_read() -> None:
    counting = CountingReader(io.BytesIO(b"[1, 2"))
    with pytest.raises(ijson.JSONError) as caught:
        list(ijson.parse(counting))
    assert counting.error_offset(caught.value) == 5


def item(minute: int, key: str) -> LineEvent:
    event = MessagePosted(
        key=key,
        community="demo",
        chat="chat:c",
        at=datetime(2026, 11, 16, 9, tzinfo=UTC) + timedelta(minutes=minute),
        message_id=key,
        author=Member(key="chat:u", name="u"),
        text="",
    )
    return LineEvent(minute, event)


def test_merge_by_time_interleaves_and_keeps_errors_in_place() -> None:
    first: list[Item] = [item(0, "a0"), item(5, "a5"), LineError(3, "bad"), item(9, "a9")]
    second: list[Item] = [item(1, "b1"), item(6, "b6")]
    third: list[Item] = []
    merged = list(merge_by_time([iter(first), iter(second), iter(third)]))
    assert [x.event.key if isinstance(x, LineEvent) else str(x) for x in merged] == [
        "a0",
        "b1",
        "a5",
        "line 3: bad",
        "b6",
        "a9",
    ]


def test_merge_by_time_holds_one_item_per_stream() -> None:
    pulled: list[str] = []

    def tracked(prefix: str) -> Iterator[Item]:
        for minute in range(0, 10, 2):
            pulled.append(f"{prefix}{minute}")
            yield item(minute, f"{prefix}{minute}")

    merged = merge_by_time([tracked("a"), tracked("b")])
    first = next(merged)
    assert isinstance(first, LineEvent) and first.event.key == "a0"
    assert pulled == ["a0", "b0"]
    next(merged)
    assert pulled == ["a0", "b0", "a2"]
