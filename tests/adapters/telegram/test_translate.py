"""Translation of recorded Telegram updates (fixtures/*.json) into core events."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update

from adapters.telegram.translate import (
    UNMAPPED,
    TranslateContext,
    parse_chat_key,
    translate,
)
from bot.app import default_config
from bot.events import Event, Member

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
CONTEXT = TranslateContext(
    bot_id=999,
    bot_username="leumund_bot",
    communities={-1001: "demo"},
    private_community="demo",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Member):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return "NOW" if value == NOW else value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def as_json(event: Event) -> dict[str, Any]:
    """An event in the fixtures' notation: its type and every field."""
    fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return {"type": event.kind, **fields}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def bot() -> Bot:
    return Bot("123:ABC")  # never initialised: no request leaves the process


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_fixture(name: str, bot: Bot) -> None:
    case = load(name)
    ctx = dataclasses.replace(CONTEXT, **case["context"])
    update = Update.de_json(case["update"], bot)
    events = translate(update, ctx, now=NOW)
    assert [as_json(e) for e in events] == case["expected"], case["description"]


def test_redelivered_update_gives_the_same_keys(bot: Bot) -> None:
    keys = []
    for _ in range(2):
        update = Update.de_json(load("reaction_diff_de")["update"], bot)
        keys.append([e.key for e in translate(update, CONTEXT, now=NOW)])
    assert keys[0] == keys[1]
    assert len(set(keys[0])) == 2


def test_join_twice_by_service_message_and_chat_member_is_one_key(bot: Bot) -> None:
    service = translate(Update.de_json(load("join_de")["update"], bot), CONTEXT, now=NOW)
    member = translate(Update.de_json(load("chat_member_join_en")["update"], bot), CONTEXT, now=NOW)
    assert [e.key for e in service] == [e.key for e in member]


@pytest.mark.parametrize(
    ("communities", "expected"),
    [({-1001: "demo"}, "demo"), ({-1001: "radler", -1003: "demo"}, "radler"), ({}, UNMAPPED)],
)
def test_community_comes_from_the_chat(
    bot: Bot, communities: dict[int, str], expected: str
) -> None:
    ctx = dataclasses.replace(CONTEXT, communities=communities)
    update = Update.de_json(load("text_message_de")["update"], bot)
    [event] = translate(update, ctx, now=NOW)
    assert event.community == expected


def test_private_chats_are_ignored_without_a_private_community(bot: Bot) -> None:
    ctx = dataclasses.replace(CONTEXT, private_community=None)
    update = Update.de_json(load("private_command_en")["update"], bot)
    assert translate(update, ctx, now=NOW) == []


def test_context_from_config_maps_every_community() -> None:
    config = default_config(
        "sqlite+aiosqlite:///unused.db",
        language="en",
        extra='telegram_chats = [-1001, -1005]\n\n[[communities]]\nname = "radler"\n'
        "telegram_chats = [-1003]\n\n[telegram]\nignore_other_bots = false\n",
        features=[],
    )
    ctx = TranslateContext.from_config(config, 999, "leumund_bot")
    assert ctx.communities == {-1001: "demo", -1005: "demo", -1003: "radler"}
    assert ctx.private_community == "demo"
    assert ctx.ignore_other_bots is False


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("telegram:-1001", -1001),
        ("telegram:42", 42),
        ("telegram:chat-1001", None),
        ("discord:42", None),
        ("console:general", None),
    ],
)
def test_parse_chat_key(key: str, expected: int | None) -> None:
    assert parse_chat_key(key) == expected


@pytest.mark.parametrize(
    ("emoji", "sent"),
    [
        ("👍", "👍"),
        ("🙏", "🙏"),
        ("❤️", "❤"),
        ("✨", "🔥"),
        ("⭐", "🏆"),
        ("✅", "👌"),
        ("🦜", "👌"),
    ],
)
def test_reactions_telegram_refuses_get_a_stand_in(emoji: str, sent: str) -> None:
    from adapters.telegram.adapter import telegram_reaction

    assert telegram_reaction(emoji).emoji == sent
