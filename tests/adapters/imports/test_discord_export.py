"""DiscordChatExporter files: keys as live, threads, forwards, reactions, several files."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlmodel import col

from adapters.imports import detect as notes
from adapters.imports import discord_export as dc
from adapters.imports.detect import ExportError, merge_by_time
from adapters.imports.discord_export import DiscordExportReader
from bot.app import App
from bot.cli import main
from bot.events import MemberJoined, MessagePosted, ReactionAdded
from bot.replay import ReplayStats, replay_items
from storage import models
from tests.adapters.imports.test_telegram_export import (
    complaints,
    count,
    events,
    export_errors,
    flags,
    karma_rows,
    ledger,
)
from tests.conftest import MakeApp

FIXTURES = Path(__file__).parent / "fixtures"
CHANNEL = FIXTURES / "discord_channel.json"
THREAD = FIXTURES / "discord_thread.json"
HELP = "discord:234567890123456789"
THREAD_ID = "345678901234567890"
GUILD = "123456789012345678"
ALICE, BOB, CAROL, DAVE, EVE = (f"discord:{digit * 18}" for digit in "12345")
LANGUAGES = [pytest.param("de", id="de"), pytest.param("en", id="en")]


def mid(number: int) -> str:
    return f"1000000000000000{number:03d}"


def reader(**options: Any) -> DiscordExportReader:
    return DiscordExportReader(lambda key: "demo", **options)


def read_both(source: DiscordExportReader | None = None) -> list[Any]:
    source = source or reader()
    return list(merge_by_time([source.read(CHANNEL), source.read(THREAD)]))


async def import_files(
    app: App, *paths: Path, community_of: Any = None
) -> tuple[ReplayStats, Counter[str]]:
    source = DiscordExportReader(community_of or (lambda key: "demo"))
    streams = [source.read(path) for path in paths]
    stats = await replay_items(app, streams[0] if len(streams) == 1 else merge_by_time(streams))
    return stats, source.counts


# --- pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("emoji", "expected"),
    [
        ({"id": "", "name": "👍", "code": "thumbsup"}, "👍"),
        ({"id": None, "name": "❤️"}, "❤️"),
        (
            {"id": "812345678901234567", "name": "wheel", "isAnimated": False},
            "<:wheel:812345678901234567>",
        ),
        ({"id": "99", "name": "party", "isAnimated": True}, "<a:party:99>"),
        ({"id": "", "name": ""}, None),
        ("👍", None),
    ],
)
def test_reaction_emoji_are_written_as_the_live_bot_writes_them(
    emoji: Any, expected: str | None
) -> None:
    assert dc._emoji(emoji) == expected


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            {"id": "2" * 18, "name": "bob", "nickname": "Bob", "isBot": False},
            (BOB, "Bob", "bob", False),
        ),
        (
            {"id": "9" * 18, "name": "helperbot", "isBot": True},
            ("discord:" + "9" * 18, "helperbot", "helperbot", True),
        ),
        ({"id": 77, "name": "old"}, ("discord:77", "old", "old", False)),
        (
            {"id": "7", "name": "x" * 300, "nickname": "y" * 300},
            ("discord:7", "y" * 256, "x" * 128, False),
        ),
    ],
)
def test_users_become_members(user: dict[str, Any], expected: tuple[Any, ...]) -> None:
    member = dc._member(user)
    assert member is not None
    assert (member.key, member.name, member.username, member.is_bot) == expected


@pytest.mark.parametrize("user", [None, {}, {"name": "no id"}, {"id": "abc"}, "bob"])
def test_users_without_an_id_are_no_members(user: Any) -> None:
    assert dc._member(user) is None


# --- the fixtures, read -----------------------------------------------------------------


def reaction_key(who: str) -> str:
    return f"discord:234567890123456789:{mid(3)}:reaction:{who}:+:import"


EXPECTED_STREAM = [
    ("MemberJoined", f"discord:{GUILD}:join:{'4' * 18}:2026-11-16T09:00:00+00:00"),
    ("MessagePosted", f"{HELP}:{mid(2)}"),
    ("MessagePosted", f"{HELP}:{mid(3)}"),
    ("ReactionAdded", reaction_key(f"{'1' * 18}:👍")),
    ("ReactionAdded", reaction_key(f"{'4' * 18}:👍")),
    ("ReactionAdded", reaction_key(f"{'3' * 18}:<:wheel:812345678901234567>")),
    ("MessagePosted", f"{HELP}:{mid(4)}"),
    ("MessagePosted", f"{HELP}:{mid(5)}"),
    ("MessagePosted", f"{HELP}:{mid(6)}"),
    ("MessagePosted", f"{HELP}:{mid(7)}"),
    ("MessagePosted", f"{HELP}:{mid(10)}"),
    ("MessagePosted", f"{HELP}:{mid(12)}"),
    # The thread, merged in by time (its messages are keyed by the thread's own id).
    ("MessagePosted", f"discord:{THREAD_ID}:{mid(101)}"),
    ("MessagePosted", f"discord:{THREAD_ID}:{mid(102)}"),
    ("MessagePosted", f"discord:{THREAD_ID}:{mid(103)}"),
    ("MessagePosted", f"{HELP}:{mid(13)}"),
    ("MessagePosted", f"{HELP}:{mid(14)}"),
    ("MessagePosted", f"{HELP}:{mid(15)}"),
]
EXPECTED_COUNTS = {
    notes.UNATTRIBUTED: 6,  # one 👍 of three, five ❤️ of an export without users
    notes.FORWARDED: 2,
    notes.EDITED: 1,
    notes.BOTS: 1,
    notes.COMMANDS: 1,
    dc.SYSTEM: 1,
}


def test_two_files_become_these_events_in_time_order() -> None:
    source = reader()
    items = read_both(source)
    assert [(e.kind, e.key) for e in events(items)] == EXPECTED_STREAM
    assert export_errors(items) == []
    assert dict(source.counts) == EXPECTED_COUNTS


def test_the_messages_carry_what_the_export_says() -> None:
    items = read_both()
    posts = {e.message_id: e for e in events(items) if isinstance(e, MessagePosted)}
    assert {e.community for e in events(items)} == {"demo"}
    question = posts[mid(2)]
    assert question.at == datetime(2026, 11, 16, 9, 1, tzinfo=UTC)  # written as 10:01+01:00
    assert question.at.tzinfo is UTC
    answer = posts[mid(3)]
    assert (answer.author.key, answer.author.name, answer.author.username) == (BOB, "Bob", "bob")
    assert (answer.reply_to, answer.chat, answer.thread) == (mid(2), HELP, None)
    assert answer.at == datetime(2026, 11, 16, 9, 2, 0, 123456, tzinfo=UTC)
    assert posts[mid(5)].text == "> Thanks, that worked!\nNot for me, sadly."
    forwarded = posts[mid(6)]
    assert (forwarded.forwarded, forwarded.reply_to, forwarded.text) == (
        True,
        None,
        "Thanks @bob, you're the best!",
    )
    # contentRaw is what the live bot sees; mentions come from mentions[].
    assert posts[mid(10)].text == "Thanks <@222222222222222222>, that fixed it!"
    assert posts[mid(10)].mentions == (BOB,)
    assert posts[mid(7)].text.startswith("🔥 HUGE DISCOUNT")
    in_thread = posts[mid(102)]
    assert (in_thread.chat, in_thread.thread, in_thread.reply_to) == (HELP, THREAD_ID, mid(101))
    reactions = [e for e in events(items) if isinstance(e, ReactionAdded)]
    assert [(r.user.key, r.emoji, r.at) for r in reactions] == [
        (ALICE, "👍", answer.at),
        (DAVE, "👍", answer.at),
        (CAROL, "<:wheel:812345678901234567>", answer.at),
    ]
    (join,) = [e for e in events(items) if isinstance(e, MemberJoined)]
    assert (join.chat, join.member.key, join.member.name) == (
        f"discord-guild:{GUILD}",
        DAVE,
        "Dave",
    )


@pytest.mark.parametrize(("ignore_bots", "imported"), [(True, False), (False, True)])
def test_bots_are_skipped_like_the_live_bot_skips_them(ignore_bots: bool, imported: bool) -> None:
    items = read_both(reader(ignore_bots=ignore_bots))
    posts = {e.message_id: e for e in events(items) if isinstance(e, MessagePosted)}
    assert (mid(8) in posts) is imported
    if imported:
        assert posts[mid(8)].author.is_bot


# --- replayed with every feature --------------------------------------------------------

EXPECTED_KARMA = [
    (ALICE, BOB, 0.5, "reaction", HELP, mid(3)),
    (DAVE, BOB, 0.5, "reaction", HELP, mid(3)),
    (CAROL, BOB, 1.0, "thanks", HELP, mid(10)),
    (DAVE, BOB, 1.0, "thanks", HELP, mid(103)),
    (ALICE, BOB, 1.0, "thanks", HELP, mid(15)),
]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_replaying_both_files_gives_exact_karma_flags_and_complaints(
    make_app: MakeApp, language: str
) -> None:
    app = await make_app(language=language)
    stats, _ = await import_files(app, CHANNEL, THREAD)
    # Alice's 👍 (at the answer's time) puts her thanks two minutes later in the cooldown;
    # Dave thanks in the thread, Alice again an hour later by mention.
    # Not counted: Carol's quoted thanks (5) and forwarded thanks (6).
    assert await karma_rows(app) == EXPECTED_KARMA
    assert await ledger(app) == {BOB: 4.0}
    assert dict(stats.blocks) == {"cooldown": 1}
    assert await flags(app) == [(EVE, HELP, mid(7))]
    # Carol's complaint counts; Dave forwarding the same words does not.
    assert await complaints(app) == [(CAROL, HELP, mid(13))]
    assert (stats.messages, stats.reactions, stats.joins, stats.errors) == (14, 3, 1, [])
    assert await count(app, models.Message) == 14


async def test_the_guild_maps_to_its_community(make_app: MakeApp) -> None:
    app = await make_app(
        f"""
[[communities]]
name = "gravel"
language = "en"
discord_guilds = [{GUILD}]
"""
    )

    def community_of(key: str) -> str:
        found = app.config.community_for_chat(key)
        return found.name if found else "demo"

    await import_files(app, THREAD, community_of=community_of)
    async with app.db.session() as session:
        rows = await session.execute(select(col(models.KarmaEntry.community)))
        assert [r for (r,) in rows.all()] == ["gravel"]


async def test_importing_twice_counts_nothing_twice(make_app: MakeApp) -> None:
    app = await make_app(language="en")
    await import_files(app, CHANNEL, THREAD)
    again, _ = await import_files(app, CHANNEL, THREAD)
    assert again.duplicates == len(EXPECTED_STREAM) and not again.decisions
    assert await karma_rows(app) == EXPECTED_KARMA


async def test_a_truncated_file_keeps_what_came_before_and_a_rerun_completes_it(
    make_app: MakeApp, tmp_path: Path
) -> None:
    data = CHANNEL.read_bytes()
    cut = tmp_path / "help.json"
    cut.write_bytes(data[: data.index(f'"id": "{mid(10)}"'.encode())])
    items = list(reader().read(cut))
    (error,) = export_errors(items)
    assert (error.offset, error.after, error.line) == (cut.stat().st_size, mid(9), 10)
    assert "the file ends early (truncated?)" in error.message
    app = await make_app(language="en")
    partial, _ = await import_files(app, cut)
    assert await ledger(app) == {BOB: 1.0}
    assert await flags(app) == [(EVE, HELP, mid(7))]
    rerun, _ = await import_files(app, CHANNEL, THREAD)
    assert rerun.duplicates == partial.events
    assert await karma_rows(app) == EXPECTED_KARMA


def write(path: Path, messages: list[Any], **top: Any) -> Path:
    data = json.loads(THREAD.read_text(encoding="utf-8"))
    data.update(top)
    data["messages"] = messages
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_bad_messages_are_skipped_with_their_number(tmp_path: Path) -> None:
    good = json.loads(THREAD.read_text(encoding="utf-8"))["messages"]
    messages = [
        good[0],
        "no object",
        {**good[1], "author": None, "authorId": "2"},
        {**good[1], "timestamp": "yesterday"},
        {**good[1], "id": "x"},
        good[2],
    ]
    items = list(reader().read(write(tmp_path / "t.json", messages)))
    assert [e.key for e in events(items)] == [
        f"discord:{THREAD_ID}:{mid(101)}",
        f"discord:{THREAD_ID}:{mid(103)}",
    ]
    assert [(e.line, e.after, e.message) for e in export_errors(items)] == [
        (2, mid(101), "a message must be a JSON object"),
        (3, mid(101), "author: missing or without an id"),
        (4, mid(101), "timestamp: not an ISO time: 'yesterday'"),
        (5, mid(101), "id: a message id must be a snowflake, not 'x'"),
    ]


def test_a_file_without_guild_or_channel_stops_at_the_first_message(tmp_path: Path) -> None:
    path = write(tmp_path / "dm.json", json.loads(THREAD.read_text())["messages"], guild={})
    (error,) = list(reader().read(path))
    assert isinstance(error, ExportError)
    assert error.message.startswith("guild.id and channel.id must come before the messages")


def test_older_exports_without_reaction_users_count_totals(tmp_path: Path) -> None:
    raw = json.loads(THREAD.read_text(encoding="utf-8"))["messages"][1]
    raw["reactions"] = [{"emoji": {"id": "", "name": "👍"}, "count": 4}]
    source = reader()
    items = list(source.read(write(tmp_path / "old.json", [raw])))
    assert [e.kind for e in events(items)] == ["MessagePosted"]
    assert source.counts[notes.UNATTRIBUTED] == 4


# --- the command ------------------------------------------------------------------------


def test_the_command_replays_several_files_together(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}"
    report = tmp_path / "report.md"
    result = CliRunner().invoke(
        main, ["replay", str(CHANNEL), str(THREAD), "--db", url, "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "14 / 3 / 0 / 1" in result.stderr
    assert "4 (+4)" in result.stderr  # karma
    text = report.read_text(encoding="utf-8")
    assert "# Replay of discord_channel.json, discord_thread.json" in text
    assert "| total karma | 4 (+4) |" in text
    assert f"| {notes.UNATTRIBUTED} | 6 |" in text
