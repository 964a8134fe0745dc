"""Telegram Desktop exports: keys as live, text without quotes, time order, breaks, re-runs.

The memory of a large import is measured by the benchmark::

    .venv/bin/python -m bot.bench --only import_telegram --import-messages 500000
"""

from __future__ import annotations

import json
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlmodel import col

from adapters.imports import detect as notes
from adapters.imports import telegram_export as tg
from adapters.imports.detect import ExportError, Format, Item, merge_by_time
from adapters.imports.jsonl import LineEvent
from adapters.imports.telegram_export import (
    ExportChat,
    Peer,
    TelegramExportReader,
    bot_api_chat_id,
    chosen,
    peer_of,
)
from bot.app import App
from bot.bench.synth import (
    SynthConfig,
    TelegramExportConfig,
    TelegramExportStats,
    write_telegram_export,
)
from bot.cli import main
from bot.events import Event, MemberJoined, MessagePosted, ReactionAdded
from bot.replay import ReplayStats, replay_items
from storage import models
from tests.conftest import MakeApp

FIXTURES = Path(__file__).parent / "fixtures"
CHAT = FIXTURES / "telegram_chat.json"
ACCOUNT = FIXTURES / "telegram_account.json"
GROUP = "telegram:-1001234567890"
SCHRAUBER = "telegram:-555666777"
# 2026-11-16 10:00 in Berlin (UTC+1), the time of the fixture's first message.
T0 = 1_794_819_600
LANGUAGES = [pytest.param("de", id="de"), pytest.param("en", id="en")]


def reader(**options: Any) -> TelegramExportReader:
    return TelegramExportReader(lambda key: "demo", **options)


def events(items: Iterable[Item]) -> list[Event]:
    return [item.event for item in items if isinstance(item, LineEvent)]


def export_errors(items: Iterable[Item]) -> list[ExportError]:
    return [item for item in items if isinstance(item, ExportError)]


def posts(items: Iterable[Item]) -> dict[str, MessagePosted]:
    return {e.message_id: e for e in events(items) if isinstance(e, MessagePosted)}


async def import_files(
    app: App, *paths: Path, chats: tuple[str, ...] = ()
) -> tuple[ReplayStats, Counter[str]]:
    """Replay exports through the app as ``leumund replay`` does (merged by time)."""
    readers = [
        TelegramExportReader(lambda key: "demo", chats=chats, local_tz=ZoneInfo("Europe/Berlin"))
        for _ in paths
    ]
    streams = [r.read(p) for r, p in zip(readers, paths, strict=True)]
    stats = await replay_items(app, streams[0] if len(streams) == 1 else merge_by_time(streams))
    counts: Counter[str] = Counter()
    for r in readers:
        counts.update(r.counts)
    return stats, counts


async def karma_rows(app: App) -> list[tuple[str | None, str, float, str, str | None, str | None]]:
    async with app.db.session() as session:
        rows = await session.execute(
            select(
                col(models.KarmaEntry.giver),
                col(models.KarmaEntry.receiver),
                col(models.KarmaEntry.points),
                col(models.KarmaEntry.reason),
                col(models.KarmaEntry.chat),
                col(models.KarmaEntry.message_id),
            ).order_by(col(models.KarmaEntry.id))
        )
        return [(g, r, round(p, 4), why, c, m) for g, r, p, why, c, m in rows.all()]


async def ledger(app: App) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _, receiver, points, *_ in await karma_rows(app):
        totals[receiver] = totals.get(receiver, 0.0) + points
    return {member: round(points, 4) for member, points in totals.items()}


async def flags(app: App) -> list[tuple[str, str, str]]:
    async with app.db.session() as session:
        rows = await session.execute(
            select(
                col(models.Flag.member), col(models.Flag.chat), col(models.Flag.message_id)
            ).order_by(col(models.Flag.id))
        )
        return [(member, chat, message) for member, chat, message in rows.all()]


async def complaints(app: App) -> list[tuple[str, str, str]]:
    async with app.db.session() as session:
        rows = await session.execute(
            select(
                col(models.Complaint.member),
                col(models.Complaint.chat),
                col(models.Complaint.message_id),
            ).order_by(col(models.Complaint.id))
        )
        return [(member, chat, message) for member, chat, message in rows.all()]


async def count(app: App, model: Any) -> int:
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def write_export(path: Path, messages: list[Any], **header: Any) -> Path:
    data = {"name": "Testgruppe", "type": "private_supergroup", "id": 42, **header}
    data["messages"] = messages
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def local_date(stamp: int) -> str:
    """The ``date`` field as Telegram Desktop writes it in Berlin in November (UTC+1)."""
    return datetime.fromtimestamp(stamp + 3600, UTC).replace(tzinfo=None).isoformat()


def message(number: int, text: Any, **fields: Any) -> dict[str, Any]:
    out = {
        "id": number,
        "type": "message",
        "date": local_date(T0 + number * 60),
        "date_unixtime": str(T0 + number * 60),
        "from": "Anna",
        "from_id": "user1001",
        "text": text,
    }
    out.update(fields)
    return out


# --- ids, peers, choice -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("export_id", "chat_type", "expected"),
    [
        (1234567890, "private_supergroup", -1001234567890),
        (1234567890, "public_supergroup", -1001234567890),
        (1111111111, "public_channel", -1001111111111),
        (1111111111, "private_channel", -1001111111111),
        (555666777, "private_group", -555666777),
        (1002, "personal_chat", 1002),
        (1099, "bot_chat", 1099),
        (-1001234567890, "private_supergroup", -1001234567890),
    ],
)
def test_export_ids_become_bot_api_ids(export_id: int, chat_type: str, expected: int) -> None:
    assert bot_api_chat_id(export_id, chat_type) == expected


@pytest.mark.parametrize(
    ("from_id", "expected"),
    [
        ("user1002", Peer("telegram:1002", "1002")),
        (1002, Peer("telegram:1002", "1002")),
        (
            "channel1234567890",
            Peer("telegram:chat-1001234567890", "chat-1001234567890", -1001234567890),
        ),
        ("chat555666777", Peer("telegram:chat-555666777", "chat-555666777", -555666777)),
        ("user", None),
        ("userabc", None),
        ("bot12", None),
        (None, None),
        (True, None),
        (-5, None),
    ],
)
def test_from_ids_become_member_keys_as_the_adapter_makes_them(
    from_id: object, expected: Peer | None
) -> None:
    assert peer_of(from_id) == expected


def chat(name: str, kind: str, export_id: int, section: str = "chats") -> ExportChat:
    return ExportChat(section=section, index=0, name=name, type=kind, id=export_id)


@pytest.mark.parametrize(
    ("item", "choices", "expected"),
    [
        (chat("Radler Treff", "private_supergroup", 1234567890), (), True),
        (chat("Schrauber", "private_group", 555666777), (), True),
        (chat("Open Riders", "public_supergroup", 777), (), True),
        (chat("Ben", "personal_chat", 1002), (), False),
        (chat("Radkanal", "public_channel", 1111111111), (), False),
        (chat("Alte Gruppe", "public_supergroup", 999, "left_chats"), (), False),
        (chat("Radler Treff", "private_supergroup", 1234567890), ("radler treff",), True),
        (chat("Radler Treff", "private_supergroup", 1234567890), ("1234567890",), True),
        (chat("Radler Treff", "private_supergroup", 1234567890), ("-1001234567890",), True),
        (chat("Radler Treff", "private_supergroup", 1234567890), ("Schrauber",), False),
        (chat("Ben", "personal_chat", 1002), ("Ben",), True),
        (chat("Alte Gruppe", "public_supergroup", 999, "left_chats"), ("999",), True),
    ],
)
def test_which_chats_are_imported(
    item: ExportChat, choices: tuple[str, ...], expected: bool
) -> None:
    assert chosen(item, choices) is expected


# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "mentions"),
    [
        pytest.param("Danke dir!", "Danke dir!", (), id="de-string"),
        pytest.param("Thanks a lot!", "Thanks a lot!", (), id="en-string"),
        pytest.param(
            ["Nimm ", {"type": "bold", "text": "Kettenöl"}, {"type": "spoiler", "text": "!"}],
            "Nimm Kettenöl!",
            (),
            id="de-entities",
        ),
        pytest.param(
            [
                "See ",
                {"type": "text_link", "text": "here", "href": "https://x.org"},
                " or ",
                {"type": "link", "text": "https://y.org"},
            ],
            "See here or https://y.org",
            (),
            id="en-links",
        ),
        pytest.param(
            [{"type": "blockquote", "text": "Danke, klappt!"}, "\nBei mir nicht."],
            "Bei mir nicht.",
            (),
            id="de-quote-left-out",
        ),
        pytest.param(
            ["Du schriebst ", {"type": "blockquote", "text": "thanks"}, " und ich antworte"],
            "Du schriebst \n und ich antworte",
            (),
            id="de-quote-inside",
        ),
        pytest.param(
            [{"type": "blockquote", "text": "Thanks, that worked"}, "\nNot for me."],
            "Not for me.",
            (),
            id="en-quote-left-out",
        ),
        pytest.param(
            [{"type": "pre", "text": "print('danke')", "language": "python"}, "\nSo?"],
            "```\nprint('danke')\n```\nSo?",
            (),
            id="de-pre",
        ),
        pytest.param(
            ["Run ", {"type": "code", "text": "thanks --all"}, " first"],
            "Run `thanks --all` first",
            (),
            id="en-code",
        ),
        pytest.param(
            ["Danke ", {"type": "mention", "text": "@ben"}, "!"],
            "Danke @ben!",
            ("@ben",),
            id="de-mention",
        ),
        pytest.param(
            ["Thanks ", {"type": "mention_name", "text": "Ben", "user_id": 1002}],
            "Thanks Ben",
            ("telegram:1002",),
            id="en-mention-name",
        ),
        pytest.param(
            [
                "Hey ",
                {"type": "mention", "text": "@LeumundBot"},
                " und ",
                {"type": "mention", "text": "@carla"},
            ],
            "Hey @LeumundBot und @carla",
            ("@carla",),
            id="de-own-bot-is-no-mention",
        ),
        pytest.param(
            ["Super ", {"type": "custom_emoji", "text": "🙏", "document_id": "5368"}],
            "Super 🙏",
            (),
            id="en-custom-emoji",
        ),
        pytest.param(
            ["Neu: ", {"type": "future_entity", "text": "etwas"}, 17, None, {"type": "bold"}],
            "Neu: etwas",
            (),
            id="de-unknown-parts",
        ),
    ],
)
def test_text_is_the_authors_own_words(
    tmp_path: Path, text: Any, expected: str, mentions: tuple[str, ...]
) -> None:
    path = write_export(tmp_path / "result.json", [message(1, text)])
    (post,) = posts(reader(bot_username="LeumundBot").read(path)).values()
    assert (post.text, post.mentions) == (expected, mentions)


def test_text_entities_are_read_when_text_is_missing(tmp_path: Path) -> None:
    raw = message(1, None)
    raw["text_entities"] = [
        {"type": "plain", "text": "Danke "},
        {"type": "mention_name", "text": "Ben", "user_id": 1002},
    ]
    del raw["text"]
    (post,) = posts(reader().read(write_export(tmp_path / "r.json", [raw]))).values()
    assert (post.text, post.mentions) == ("Danke Ben", ("telegram:1002",))


# --- the fixture, read ------------------------------------------------------------------


def reaction_key(message_id: int, who: str, emoji: str, minute: int) -> str:
    return f"{GROUP}:{message_id}:reaction:{who}:{emoji}:+:{T0 + minute * 60}"


EXPECTED_STREAM = [
    ("MemberJoined", f"{GROUP}:join:1005:{T0}"),
    ("MessagePosted", f"{GROUP}:2"),
    ("MessagePosted", f"{GROUP}:3"),
    ("MessagePosted", f"{GROUP}:4"),
    # Reactions come at their own time: after message 4 (10:04), before message 5 (10:08).
    ("ReactionAdded", reaction_key(3, "1001", "👍", 5)),
    ("ReactionAdded", reaction_key(3, "1005", "👍", 6)),
    ("ReactionAdded", reaction_key(3, "1003", "custom:5368324170671202286", 7)),
    ("MessagePosted", f"{GROUP}:5"),
    ("MessagePosted", f"{GROUP}:6"),
    ("MessagePosted", f"{GROUP}:7"),
    ("MessagePosted", f"{GROUP}:8"),
    ("MessagePosted", f"{GROUP}:11"),
    ("MemberJoined", f"{GROUP}:join:1006:{T0 + 30 * 60}"),
    ("MessagePosted", f"{GROUP}:14"),
    ("MessagePosted", f"{GROUP}:15"),
    ("MessagePosted", f"{GROUP}:18"),
    ("MessagePosted", f"{GROUP}:19"),
    ("MessagePosted", f"{GROUP}:20"),
    ("MessagePosted", f"{GROUP}:21"),
    ("MessagePosted", f"{GROUP}:22"),
]
EXPECTED_COUNTS = {
    notes.UNATTRIBUTED: 5,  # one 👍 of three and four ❤️ without recent givers
    tg.PAID: 2,
    notes.FORWARDED: 2,
    tg.QUOTES: 1,
    notes.EDITED: 1,
    notes.BOTS: 1,
    notes.COMMANDS: 1,
    tg.JOINS_BY_NAME: 1,
    tg.SERVICE: 1,
    tg.UNSUPPORTED: 1,
}


def test_the_fixture_becomes_these_events_in_time_order() -> None:
    source = reader()
    items = list(source.read(CHAT))
    assert [(e.kind, e.key) for e in events(items)] == EXPECTED_STREAM
    assert export_errors(items) == []
    assert dict(source.counts) == EXPECTED_COUNTS


def test_the_fixtures_messages_carry_what_the_export_says() -> None:
    items = list(reader().read(CHAT))
    by_id = posts(items)
    assert {e.community for e in events(items)} == {"demo"}
    assert {e.chat for e in events(items)} == {GROUP}
    answer = by_id["3"]
    assert (answer.author.key, answer.author.name, answer.reply_to) == ("telegram:1002", "Ben", "2")
    assert answer.text == "Am besten mit Kettenöl, siehe hier und https://example.org/pflege"
    assert answer.at == datetime(2026, 11, 16, 9, 2, tzinfo=UTC)
    assert by_id["5"].text == "Bei mir leider nicht."
    assert (by_id["7"].forwarded, by_id["7"].mentions) == (True, ("telegram:1002",))
    assert by_id["8"].text.startswith("🔥 MEGA RABATT") and not by_id["8"].forwarded
    admin = by_id["11"]
    assert (admin.author.key, admin.author.name, admin.author_is_moderator) == (
        "telegram:chat-1001234567890",
        "Radler Treff",
        True,
    )
    assert by_id["14"].mentions == ("@Ben",)
    assert by_id["21"].text == "🙏"
    assert by_id["22"].reply_to is None  # a reply to a message in another chat
    reactions = [e for e in events(items) if isinstance(e, ReactionAdded)]
    assert [(r.user.key, r.user.name, r.emoji, r.at.minute) for r in reactions] == [
        ("telegram:1001", "Anna", "👍", 5),
        ("telegram:1005", "Dora", "👍", 6),
        ("telegram:1003", "Carla", "custom:5368324170671202286", 7),
    ]
    joins = [e for e in events(items) if isinstance(e, MemberJoined)]
    assert [(j.member.key, j.member.name) for j in joins] == [
        ("telegram:1005", "Dora"),
        ("telegram:1006", "Fritz"),
    ]


# --- the fixture, replayed with every feature ------------------------------------------

EXPECTED_KARMA = [
    ("telegram:1001", "telegram:1002", 1.0, "thanks", GROUP, "4"),
    ("telegram:1005", "telegram:1002", 0.5, "reaction", GROUP, "3"),
    ("telegram:1006", "telegram:1002", 1.0, "thanks", GROUP, "14"),
    ("telegram:1005", "telegram:1002", 1.0, "thanks", GROUP, "20"),
    ("telegram:1001", "telegram:1002", 1.0, "thanks", GROUP, "21"),
]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_replaying_the_fixture_gives_exact_karma_flags_and_complaints(
    make_app: MakeApp, language: str
) -> None:
    app = await make_app(language=language)
    stats, _ = await import_files(app, CHAT)
    # Anna thanks Ben (4) and then reacts 👍 (cooldown); Dora reacts and later thanks by
    # mention_name; Fritz thanks "@Ben"; Anna's custom 🙏 an hour later counts again.
    # Not counted: the quoted thanks (5), the thanks in code (6), the forwarded thanks (7).
    assert await karma_rows(app) == EXPECTED_KARMA
    assert await ledger(app) == {"telegram:1002": 4.5}
    assert dict(stats.blocks) == {"cooldown": 1}
    # The edited ad is flagged with its final text; the forwarded complaint (19) is not one.
    assert await flags(app) == [("telegram:1004", GROUP, "8")]
    assert await complaints(app) == [("telegram:1003", GROUP, "18")]
    assert (stats.messages, stats.reactions, stats.joins, stats.errors) == (15, 3, 2, [])
    assert await count(app, models.Member) == 7
    assert await count(app, models.Message) == 15


async def test_importing_twice_counts_nothing_twice(make_app: MakeApp) -> None:
    app = await make_app()
    await import_files(app, CHAT)
    again, _ = await import_files(app, CHAT)
    assert again.duplicates == len(EXPECTED_STREAM) and not again.decisions
    assert await karma_rows(app) == EXPECTED_KARMA
    assert await count(app, models.Message) == 15


async def test_an_overlapping_newer_export_adds_only_what_is_new(
    make_app: MakeApp, tmp_path: Path
) -> None:
    data = json.loads(CHAT.read_text(encoding="utf-8"))
    older = write_export(tmp_path / "older.json", data["messages"][:14], id=1234567890)
    app = await make_app()
    first, _ = await import_files(app, older)
    assert first.messages == 9 and await ledger(app) == {"telegram:1002": 2.5}
    newer, _ = await import_files(app, CHAT)
    assert newer.duplicates == first.events
    assert await karma_rows(app) == EXPECTED_KARMA
    assert await flags(app) == [("telegram:1004", GROUP, "8")]


# --- broken files -----------------------------------------------------------------------


def truncated(tmp_path: Path, before: bytes) -> Path:
    data = CHAT.read_bytes()
    path = tmp_path / "truncated.json"
    path.write_bytes(data[: data.index(before)])
    return path


def test_a_truncated_file_says_where_it_broke(tmp_path: Path) -> None:
    path = truncated(tmp_path, b'"id": 9,')
    items = list(reader().read(path))
    (error,) = export_errors(items)
    assert (error.offset, error.after, error.line) == (path.stat().st_size, "8", 9)
    assert str(error).startswith(
        f"truncated.json, byte {path.stat().st_size}, message #9, after message id 8: "
        "the file ends early (truncated?)"
    )
    assert items[-1] is error
    assert [e.key for e in events(items)] == [key for _, key in EXPECTED_STREAM[:11]]


async def test_a_rerun_completes_a_truncated_import_exactly(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = await make_app()
    partial, _ = await import_files(app, truncated(tmp_path, b'"id": 9,'))
    assert len(partial.errors) == 1 and partial.events == 11
    # Kept: everything before the break (Anna's thanks, Dora's 👍, Otto's flag).
    assert await ledger(app) == {"telegram:1002": 1.5}
    assert await flags(app) == [("telegram:1004", GROUP, "8")]
    rerun, _ = await import_files(app, CHAT)
    assert rerun.duplicates == 11 and rerun.errors == []
    assert await karma_rows(app) == EXPECTED_KARMA
    assert await flags(app) == [("telegram:1004", GROUP, "8")]
    assert await complaints(app) == [("telegram:1003", GROUP, "18")]


def test_invalid_json_is_reported_at_its_byte(tmp_path: Path) -> None:
    data = CHAT.read_bytes()
    at = data.index(b'"id": 12,') + len(b'"id": 12,')
    path = tmp_path / "broken.json"
    path.write_bytes(data[:at] + b"," + data[at:])
    items = list(reader().read(path))
    (error,) = export_errors(items)
    assert (error.offset, error.after, error.line) == (at, "11", 12)
    assert "invalid JSON: parse error: invalid object key" in error.message
    assert len(events(items)) == 12


def test_a_bad_message_is_skipped_with_its_number(tmp_path: Path) -> None:
    messages = [
        message(1, "Hallo"),
        "kein Objekt",
        message(3, "ohne Absender", from_id="irgendwer"),
        {**message(4, "ohne Datum"), "date": "gestern", "date_unixtime": "bald"},
        {**message(5, "ohne Nummer"), "id": "fünf"},
        message(6, "Tschüss"),
    ]
    items = list(reader().read(write_export(tmp_path / "r.json", messages)))
    assert sorted(posts(items)) == ["1", "6"]
    assert [(e.line, e.after, e.message) for e in export_errors(items)] == [
        (2, "1", "a message must be a JSON object"),
        (3, "1", "from_id: not a user, channel or chat id: 'irgendwer'"),
        (4, "1", "date: missing or not an ISO date"),
        (5, "1", "id: a message id must be a number, not 'fünf'"),
    ]


# --- older exports, forums, bots --------------------------------------------------------


def test_older_exports_use_the_local_time_zone(tmp_path: Path) -> None:
    old = {
        "id": 7,
        "type": "message",
        "date": "2026-07-01T12:00:00",  # summer time in Berlin: UTC+2
        "from": "Anna",
        "from_id": 1001,
        "text": "Hallo",
        "reactions": [
            {
                "emoji": "👍",
                "count": 1,
                "recent": [{"from_id": "user1002", "date": "2026-07-01T12:30:00"}],
            }
        ],
    }
    items = list(
        reader(local_tz=ZoneInfo("Europe/Berlin")).read(write_export(tmp_path / "r.json", [old]))
    )
    post, reaction = events(items)
    assert isinstance(post, MessagePosted) and post.author.key == "telegram:1001"
    assert post.at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert reaction.at == datetime(2026, 7, 1, 10, 30, tzinfo=UTC)


def test_reaction_times_use_the_exporters_offset(tmp_path: Path) -> None:
    # date 13:00 local and date_unixtime 10:00 UTC: the exporter was at UTC+3.
    raw = message(1, "Hallo", date="2026-11-16T13:00:00", date_unixtime=str(T0 + 3600))
    raw["reactions"] = [
        {
            "type": "emoji",
            "count": 1,
            "emoji": "🎉",
            "recent": [{"from_id": "user1002", "date": "2026-11-16T13:20:00"}],
        }
    ]
    _, reaction = events(reader().read(write_export(tmp_path / "r.json", [raw])))
    assert reaction.at == datetime(2026, 11, 16, 10, 20, tzinfo=UTC)
    assert reaction.key.endswith(f":🎉:+:{T0 + 3600 + 20 * 60}")


def test_forum_topics_become_threads(tmp_path: Path) -> None:
    messages = [
        {
            **message(2, ""),
            "type": "service",
            "action": "topic_created",
            "title": "Reifen",
            "actor_id": "user1001",
        },
        message(3, "Welche Reifen?", reply_to_message_id=2),
        message(4, "40 mm", reply_to_message_id=3, from_id="user1002", **{"from": "Ben"}),
    ]
    by_id = posts(reader().read(write_export(tmp_path / "r.json", messages)))
    assert (by_id["3"].reply_to, by_id["3"].thread) == (None, "2")
    assert (by_id["4"].reply_to, by_id["4"].thread) == ("3", None)


@pytest.mark.parametrize(("ignore_bots", "imported"), [(True, ["2"]), (False, ["1", "2"])])
def test_senders_with_inline_buttons_are_bots(
    tmp_path: Path, ignore_bots: bool, imported: list[str]
) -> None:
    bot = {"from": "Regelbot", "from_id": "user1099"}
    messages = [
        message(1, "Regeln: ...", inline_bot_buttons=[[{"type": "callback", "text": "OK"}]], **bot),
        message(2, "Gelesen, danke!", reply_to_message_id=1),
    ]
    by_id = posts(reader(ignore_bots=ignore_bots).read(write_export(tmp_path / "r.json", messages)))
    assert sorted(by_id) == imported
    if not ignore_bots:
        assert by_id["1"].author.is_bot


# --- whole-account exports --------------------------------------------------------------


def test_an_account_export_imports_its_groups_by_default() -> None:
    source = reader()
    plan = source.plan(ACCOUNT)
    assert plan.format is Format.TELEGRAM_ACCOUNT
    assert [c.name for c in plan.chats] == ["Radler Treff", "Schrauber"]
    assert [c.name for c in plan.skipped] == ["Ben", "Radkanal", "Alte Gruppe"]
    assert plan.passes == 3
    items = list(source.read(ACCOUNT, plan))
    # The two groups are read side by side and merged by time.
    assert [e.key for e in events(items)] == [
        f"{SCHRAUBER}:10",
        f"{SCHRAUBER}:11",
        f"{GROUP}:100",
        f"{GROUP}:101",
        f"{SCHRAUBER}:12",
    ]


async def test_account_groups_are_replayed_in_time_order(make_app: MakeApp) -> None:
    app = await make_app()
    stats, _ = await import_files(app, ACCOUNT)
    # Anna thanked Ben at 10:00 in "Schrauber" and at 10:20 in "Radler Treff": the later
    # thanks falls in the pair cooldown, although its chat comes first in the file.
    assert await karma_rows(app) == [
        ("telegram:1001", "telegram:1002", 1.0, "thanks", SCHRAUBER, "11")
    ]
    assert dict(stats.blocks) == {"cooldown": 1}


@pytest.mark.parametrize(
    ("choice", "keys"),
    [
        ("Schrauber", [f"{SCHRAUBER}:10", f"{SCHRAUBER}:11", f"{SCHRAUBER}:12"]),
        ("1234567890", [f"{GROUP}:100", f"{GROUP}:101"]),
        ("-555666777", [f"{SCHRAUBER}:10", f"{SCHRAUBER}:11", f"{SCHRAUBER}:12"]),
        ("ben", ["telegram:1002:5001", "telegram:1002:5002"]),
        ("Alte Gruppe", ["telegram:-1000999888777:1", "telegram:-1000999888777:2"]),
        ("Radkanal", ["telegram:-1001111111111:7"]),
        ("Niemand", []),
    ],
)
def test_chat_chooses_chats_by_name_or_id(choice: str, keys: list[str]) -> None:
    source = reader(chats=[choice])
    assert [e.key for e in events(source.read(ACCOUNT))] == keys


# --- streaming --------------------------------------------------------------------------


def synthetic_export(
    path: Path, messages: int, *, members: int = 2000, seed: int = 7
) -> TelegramExportStats:
    """The benchmark's export of its synthetic community: joins, questions, answers,
    thanks, entity texts, forwards and reactions, written as they are generated."""
    community = SynthConfig(members=members, seed=seed)
    return write_telegram_export(path, TelegramExportConfig(messages=messages, community=community))


def peak_memory_of_reading(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """The peak of memory allocated while reading a file, the kinds of events read and the
    reader's counts."""
    source = reader()
    tracemalloc.start()
    try:
        read = Counter(item.event.kind for item in source.read(path) if isinstance(item, LineEvent))
        return tracemalloc.get_traced_memory()[1], read, source.counts
    finally:
        tracemalloc.stop()


def test_reading_streams_without_holding_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    synthetic_export(small, 1000)
    written = synthetic_export(large, 5000)
    small_peak, _, _ = peak_memory_of_reading(small)
    large_peak, read, counts = peak_memory_of_reading(large)
    assert written.messages == 5000
    assert (read["MessagePosted"], read["MemberJoined"]) == (written.posts, written.joins)
    # Every entry of the file is accounted for: imported, or counted as not replayed.
    assert (
        read["MessagePosted"] + read["MemberJoined"] + counts[notes.COMMANDS] + counts[notes.BOTS]
        == 5000
    )
    assert read["ReactionAdded"] == written.reactions > 500
    # A parser buffer, one message and a few waiting reactions: five times the messages
    # need about the same memory, well below the size of the file.
    assert written.bytes == large.stat().st_size > 1_000_000
    assert large_peak < 2 * small_peak
    assert large_peak < 3_000_000


async def test_a_synthetic_export_replays_with_every_feature(
    make_app: MakeApp, tmp_path: Path
) -> None:
    path = tmp_path / "result.json"
    written = synthetic_export(path, 1000, members=100)
    app = await make_app()
    stats, counts = await import_files(app, path)
    assert (stats.messages, stats.joins) == (written.posts, written.joins)
    assert stats.messages + stats.joins + counts[notes.COMMANDS] + counts[notes.BOTS] == 1000
    assert stats.errors == []
    assert stats.reactions == written.reactions > 100
    assert counts[notes.UNATTRIBUTED] == written.unattributed > 0
    assert counts[notes.FORWARDED] == written.forwarded > 0
    assert await count(app, models.Message) == stats.messages
    assert stats.decisions["karma"] > 20


# --- the command ------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["replay", *args])


def test_the_command_detects_the_export_and_prints_the_totals(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}"
    result = run(str(CHAT), "--db", url)
    assert result.exit_code == 0, result.output
    lines = result.stderr
    assert "15 / 3 / 0 / 2" in lines
    for total in ("total members ", "total messages ", "total karma ", "total flags "):
        assert total in lines
    assert "4.5 (+4.5)" in lines and "15 (+15)" in lines
    again = run(str(CHAT), "--db", url)
    assert again.exit_code == 0 and "4.5 (+0)" in again.stderr


def test_dry_run_leaves_the_database_alone(tmp_path: Path) -> None:
    db = tmp_path / "leumund.db"
    url = f"sqlite+aiosqlite:///{db}"
    assert run(str(ACCOUNT), "--db", url, "--chat", "Radkanal").exit_code == 0
    before = db.read_bytes()
    for _ in range(2):
        result = run(str(CHAT), "--db", url, "--dry-run")
        assert result.exit_code == 0, result.output
        assert f"dry run: replayed into a temporary copy of {db}" in result.stderr
        # The copy holds the channel's post already: 1 + 15 messages.
        assert "16 (+15)" in result.stderr and "4.5 (+4.5)" in result.stderr
    assert db.read_bytes() == before
    assert run(str(CHAT), "--db", url).exit_code == 0
    assert db.read_bytes() != before


def test_the_command_names_skipped_chats_and_broken_files(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}"
    result = run(str(ACCOUNT), "--db", url)
    assert result.exit_code == 0, result.output
    assert "skipped chat Ben (personal_chat, id 1002); choose it with --chat" in result.stderr
    broken = truncated(tmp_path, b'"id": 9,')
    result = run(str(broken), "--db", url)
    assert result.exit_code == 1
    assert "the file ends early (truncated?)" in result.stderr
    nothing = tmp_path / "notes.txt"
    nothing.write_text("hello", encoding="utf-8")
    result = run(str(nothing), "--db", url)
    assert result.exit_code == 2 and "not a chat history" in result.stderr
