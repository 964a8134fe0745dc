"""The command parser on any text, and the platform forms that feed it.

``parse_command`` documents no exception at all ("no input raises"): it answers a
``ParsedCommand`` or None. The same holds for the Discord text forms (``/x``, ``!x``,
``@Bot x``), Discord slash command options, Telegram's ``/x@Bot`` through the translate
function, and the console. Hostile text: surrogates, quotes that never close, megabytes of
arguments, bidi and zero-width characters.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from adapters.discord import translate as dtr
from adapters.telegram.translate import TranslateContext, translate
from bot.commands import MAX_ARGS, MAX_ARGS_CHARS, ParsedCommand, parse_command
from bot.events import CommandIssued, MessagePosted
from tests.adapters.discord.test_translate import BOT, SCOPE, Recorded, load
from tests.fakes.telegram_api import group, message_update, user

PURE = settings(max_examples=300, deadline=None)
# Structured examples cost more to generate than to check.
STRUCTURED = settings(max_examples=100, deadline=None)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

hostile_text = st.text(
    st.one_of(
        st.characters(exclude_categories=()),  # surrogates included
        st.sampled_from([*"/@!\"' \t\n\\<>`*_~|#", "\u202e", "\u200b", "\u3164", "\ufffd"]),
    ),
    max_size=80,
)
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,31}", fullmatch=True)
bot_names = st.from_regex(r"[A-Za-z0-9_]{3,64}", fullmatch=True)
words = st.text(
    st.characters(exclude_categories=("Cs", "Z", "Cc"), exclude_characters="\"'\\#\x85"),
    min_size=1,
    max_size=12,
)


def assert_well_formed(parsed: ParsedCommand | None) -> None:
    if parsed is None:
        return
    assert _NAME.fullmatch(parsed.name), parsed.name
    assert len(parsed.args) <= MAX_ARGS
    assert all(isinstance(arg, str) and len(arg) <= MAX_ARGS_CHARS for arg in parsed.args)


# --- the parser ---------------------------------------------------------------------------


@PURE
@given(text=hostile_text, prefix=st.sampled_from(["", "/", "/karma ", "/top@leumund_bot "]))
def test_any_text_parses_or_is_no_command(text: str, prefix: str) -> None:
    whole = prefix + text
    for bot_username in (None, "leumund_bot", "@Leumund_Bot", ""):
        parsed = parse_command(whole, bot_username)
        assert_well_formed(parsed)
        if not whole.strip().startswith("/"):
            assert parsed is None


@STRUCTURED
@given(name=names, args=st.lists(words, max_size=40), bot=bot_names)
def test_name_and_plain_arguments_come_back(name: str, args: list[str], bot: str) -> None:
    expected = ParsedCommand(name.lower(), tuple(args[:MAX_ARGS]))
    tail = "".join(f" {arg}" for arg in args)
    assert parse_command(f"/{name}{tail}") == expected
    assert parse_command(f"  /{name}@{bot}{tail}\n", bot) == expected
    assert parse_command(f"/{name}@{bot}{tail}", f"@{bot.upper()}") == expected
    assert parse_command(f"/{name}@{bot}x{tail}", bot) is None  # addressed to another bot


@STRUCTURED
@given(name=names, groups=st.lists(st.lists(words, min_size=1, max_size=3), max_size=5))
def test_double_quotes_group_words(name: str, groups: list[list[str]]) -> None:
    text = f"/{name} " + " ".join('"' + " ".join(group) + '"' for group in groups)
    assert parse_command(text) == ParsedCommand(name.lower(), tuple(" ".join(g) for g in groups))


@pytest.mark.parametrize(
    "rest",
    [
        "д" * 1_000_000,
        '"' + "a " * 500_000,
        "\\" * 1_000_000,
        "a " * 500_000,
        "'" * 1_000_000,
    ],
    ids=["one-word", "open-quote", "backslashes", "many-words", "quotes"],
)
def test_megabytes_of_arguments_are_cut_quickly(rest: str) -> None:
    started = time.perf_counter()
    parsed = parse_command("/karma " + rest)
    # Generous: a guard against shlex's per-character work on hostile input, not a benchmark.
    assert time.perf_counter() - started < 0.5
    assert parsed is not None and parsed.name == "karma"
    assert sum(map(len, parsed.args)) <= MAX_ARGS_CHARS
    assert_well_formed(parsed)


# --- Discord text commands and slash options ------------------------------------------------


ANY = dataclasses.replace(SCOPE, commands=None)


@PURE
@given(text=hostile_text)
def test_discord_text_forms_never_raise(text: str) -> None:
    for form in (text, f"!{text}", f"<@{BOT}> {text}", f"<@!{BOT}>{text}", f"/{text}"):
        assert_well_formed(dtr.text_command(form, ANY))


@STRUCTURED
@given(name=names, args=st.lists(words, max_size=5))
def test_discord_text_forms_agree(name: str, args: list[str]) -> None:
    tail = "".join(f" {arg}" for arg in args)
    expected = parse_command(f"/{name}{tail}")
    forms = [
        f"/{name}{tail}",
        f"!{name}{tail}",
        f"<@{BOT}> {name}{tail}",
        f"<@!{BOT}> /{name}{tail}",
    ]
    assert [dtr.text_command(form, ANY) for form in forms] == [expected] * 4
    assert dtr.text_command(f"<@{BOT + 1}> {name}{tail}", ANY) is None  # someone else


_interaction_ids = itertools.count(1)


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    return Recorded()


@settings(max_examples=100, deadline=None)
@given(
    value=hostile_text,
    member=st.one_of(st.just("500000000000000002"), st.from_regex(r"[0-9]{1,20}", fullmatch=True)),
)
def test_discord_slash_options_never_raise(recorded: Recorded, value: str, member: str) -> None:
    payload = copy.deepcopy(load("slash_command")["d"])
    payload["id"] = str(1571814836797440000 + next(_interaction_ids))
    payload["data"]["options"] = [
        {"name": "args", "type": 3, "value": value},
        {"name": "member", "type": 6, "value": member},
        {"name": "note", "type": 3, "value": value},
    ]
    start = len(recorded.dispatched)
    recorded.state.parsers["INTERACTION_CREATE"](payload)
    [interaction] = [args[0] for name, args in recorded.dispatched[start:] if name == "interaction"]
    event = dtr.slash_event(interaction, SCOPE)
    assert isinstance(event, CommandIssued) and event.name == "karma"
    for arg in event.args:
        arg.encode("utf-8")  # storable: no lone surrogate
    assert event.args[-2] in ("@bob", f"<@{member}>")


# --- Telegram /command@Bot through the translate function -----------------------------------

TG_CONTEXT = TranslateContext(
    bot_id=999, bot_username="leumund_bot", communities={-1001: "demo"}, private_community="demo"
)
TG_CHAT = group(-1001, "Radler")
TG_ANN = user(1, "Ann \ud800", username="ann")


@pytest.fixture(scope="module")
def tg_bot() -> Bot:
    return Bot("123:ABC")  # never initialised: no request leaves the process


@STRUCTURED
@given(
    text=hostile_text, suffix=st.sampled_from(["", "@leumund_bot", "@LEUMUND_BOT", "@other_bot"])
)
def test_telegram_commands_never_raise(tg_bot: Bot, text: str, suffix: str) -> None:
    whole = f"/karma{suffix} {text}"
    update = Update.de_json(
        {"update_id": 1, **message_update(TG_CHAT, TG_ANN, whole, entities=[])}, tg_bot
    )
    events = translate(update, TG_CONTEXT, now=datetime.now(UTC))
    if suffix == "@other_bot":
        assert events == []
        return
    [event] = events
    assert isinstance(event, CommandIssued | MessagePosted)
    if isinstance(event, CommandIssued):
        assert event.name == "karma"
        assert_well_formed(ParsedCommand(event.name, event.args))
        for arg in event.args:
            arg.encode("utf-8")
    assert event.author.name == "Ann \ufffd"  # the lone surrogate cannot reach the database


def test_telegram_command_arguments_match_the_parser(tg_bot: Bot) -> None:
    whole = '/warn@leumund_bot @bob "zu viel Werbung" \ud800'
    update = Update.de_json(
        {"update_id": 1, **message_update(TG_CHAT, TG_ANN, whole, entities=[])}, tg_bot
    )
    [event] = translate(update, TG_CONTEXT, now=datetime.now(UTC))
    assert isinstance(event, CommandIssued)
    assert (event.name, event.args) == ("warn", ("@bob", "zu viel Werbung", "\ufffd"))
