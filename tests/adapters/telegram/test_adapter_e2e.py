"""End to end: the real python-telegram-bot, the Runtime and the engine against FakeTelegramAPI."""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import socket
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiohttp
import pytest
from telegram.error import RetryAfter

from adapters.base import Delivery
from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import (
    ALLOWED_UPDATES,
    RetryPolicy,
    command_menus,
    retry_after_seconds,
    split_text,
    utf16_len,
)
from bot.actions import (
    Button,
    Delete,
    DirectMessage,
    PostSummary,
    React,
    Reply,
    Restrict,
    ReviewRequest,
)
from bot.app import App
from bot.events import (
    ButtonPressed,
    CommandIssued,
    Event,
    MemberJoined,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
)
from bot.features.base import CommandSpec, Context, FeatureSettings, Outcome
from bot.locales import Locale, get_locale
from bot.runtime import Runtime
from storage.repositories import Store
from tests.conftest import MakeApp
from tests.fakes.telegram_api import (
    ApiCall,
    FakeTelegramAPI,
    callback_query_update,
    chat_member_update,
    edited_message_update,
    group,
    message_update,
    new_chat_members_update,
    reaction_update,
    user,
)

TOKEN = "123456:TEST-token"
CHAT_ID = -1001
CHAT = group(CHAT_ID, "Radler Treff")
UNKNOWN = group(-1009, "Fremde Gruppe")
ANN = user(1, "Ann", username="ann", last_name="Meyer")
BOB = user(2, "Bob", username="bob")
DORA = user(4, "Dora", username="dora_rad")
BOT_ID = 999
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x02\x00\x00\x00\x01\x00" + b"rest"


class ProbeSettings(FeatureSettings):
    """Settings of the probe feature."""


class Probe:
    """A test feature: echoes messages, mirrors reactions, and offers a few commands."""

    name: ClassVar[str] = "probe"
    settings_model: ClassVar[type[FeatureSettings]] = ProbeSettings
    handles: ClassVar[tuple[type[Event], ...]] = (
        MessagePosted,
        MessageEdited,
        ReactionAdded,
        ButtonPressed,
        MemberJoined,
    )
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("review", "/review", "core.help_help"),
        CommandSpec("mydata", "/mydata", "core.help_help"),
        CommandSpec("purge", "/purge", "core.help_help", moderator_only=True),
    )

    def __init__(self) -> None:
        self.seen: list[Event] = []

    async def handle(self, event: Any, ctx: Context[ProbeSettings]) -> Outcome:
        self.seen.append(event)
        match event:
            case MessagePosted():
                text = f"echo: {event.text}"
                return Outcome([Reply(chat=event.chat, text=text, reply_to=event.message_id)])
            case ReactionAdded():
                return Outcome([React(chat=event.chat, message_id=event.message_id, emoji="👀")])
            case ButtonPressed():
                mod = event.user_is_moderator
                text = f"{event.custom_id} by {event.user.name}, moderator: {mod}"
                return Outcome([Reply(chat=event.chat, text=text)])
            case CommandIssued(name="review"):
                buttons = (
                    Button(label="Bestätigen", custom_id="case:12:confirm"),
                    Button(label="Verwerfen", custom_id="case:12:dismiss"),
                )
                review = ReviewRequest(
                    chat=event.chat, case_id=12, text="Fall #12", buttons=buttons
                )
                return Outcome([review])
            case CommandIssued(name="mydata"):
                dm = DirectMessage(
                    chat=event.chat,
                    member=event.author.key,
                    text="Deine Daten / your data",
                    attachment=b'{"karma": 3}',
                    filename="mydata.json",
                )
                return Outcome([dm])
            case CommandIssued(name="purge"):
                return Outcome([Reply(chat=event.chat, text="purge ok")])
        return Outcome()


def config_text(
    tg: FakeTelegramAPI, language: str = "de", telegram: str = "", chats: str = f"{CHAT_ID}"
) -> str:
    return f"""
[bot]
language = "{language}"

[telegram]
enabled = true
api_base_url = "{tg.base_url.removesuffix("/bot")}"
{telegram}

[[communities]]
name = "demo"
language = "{language}"
telegram_chats = [{chats}]
moderator_chat = "telegram:{CHAT_ID}"
"""


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(token=TOKEN) as fake:
        fake.admins[(CHAT_ID, BOT_ID)] = "administrator"
        yield fake


def make_adapter(app: App, **options: Any) -> TelegramAdapter:
    menus = command_menus(app.engine.command_specs(), app.config.bot.language)
    retry = RetryPolicy(base_delay=0.05, max_delay=0.2)
    return TelegramAdapter(
        app.config, TOKEN, commands=menus, retry=retry, poll_timeout=1.0, **options
    )


@asynccontextmanager
async def running(app: App, adapter: TelegramAdapter) -> AsyncIterator[Runtime]:
    """Run the runtime with the adapter until the block ends; stopping must be quick."""
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    task = asyncio.create_task(runtime.run())
    ready = asyncio.create_task(adapter.ready.wait())
    await asyncio.wait({task, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        runtime.stop()
        await asyncio.wait_for(task, 5)  # raises what went wrong
        raise AssertionError("the adapter did not start")
    try:
        yield runtime
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 5)


async def start(
    make_app: MakeApp, tg: FakeTelegramAPI, language: str = "de", telegram: str = ""
) -> tuple[App, Probe, TelegramAdapter]:
    probe = Probe()
    app = await make_app(
        config_text=config_text(tg, language, telegram), features=[probe], language=language
    )
    return app, probe, make_adapter(app)


def texts(calls: list[ApiCall]) -> list[str]:
    return [str(c.params["text"]) for c in calls]


async def eventually(check: Callable[[], Awaitable[bool]], rounds: int = 250) -> None:
    """Wait until ``check`` holds, polling every 20 ms (5 s in all)."""
    for _ in range(rounds):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


# --- the pipeline ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [("de", "Moin! Kennt jemand einen Fahrradladen in Köln?"), ("en", "Hi! Any bike shop tips?")],
)
async def test_message_is_answered_as_a_reply(
    make_app: MakeApp, tg: FakeTelegramAPI, language: str, text: str
) -> None:
    app, probe, adapter = await start(make_app, tg, language)
    async with running(app, adapter):
        update = message_update(CHAT, ANN, text)
        tg.push_update(update)
        [call] = await tg.wait_for_call("sendMessage")

    assert call.params["chat_id"] == CHAT_ID
    assert call.params["text"] == f"echo: {text}"
    assert call.params["reply_parameters"] == {
        "message_id": update["message"]["message_id"],
        "allow_sending_without_reply": True,
    }
    [event] = probe.seen
    assert isinstance(event, MessagePosted)
    assert event.author.key == "telegram:1" and event.author.name == "Ann Meyer"
    assert tg.calls_to("getUpdates")[-1].params["allowed_updates"] == list(ALLOWED_UPDATES)


async def test_start_up_sets_commands_per_language_and_checks_admin_rights(
    make_app: MakeApp, tg: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    del tg.admins[(CHAT_ID, BOT_ID)]
    app, _, adapter = await start(make_app, tg)
    with caplog.at_level(logging.INFO, logger="adapters.telegram.adapter"):
        async with running(app, adapter):
            pass

    menus = {key[1]: [c["command"] for c in cmds] for key, cmds in tg.commands.items()}
    assert menus == {language: ["help", "review", "mydata"] for language in ("", "de", "en")}
    german = tg.commands[('{"type": "default"}', "de")]
    english = tg.commands[('{"type": "default"}', "en")]
    assert german[0]["description"] == "diese Hilfe"
    assert english[0]["description"] == "this help"
    [check] = tg.calls_to("getChatMember")
    assert check.params == {"chat_id": CHAT_ID, "user_id": BOT_ID}
    messages = [r.getMessage() for r in caplog.records]
    assert any("reactions reach the bot only" in m for m in messages)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "not an administrator of telegram:-1001" in warning.getMessage()


async def test_no_admin_warning_when_the_bot_is_admin(
    make_app: MakeApp, tg: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    app, _, adapter = await start(make_app, tg)
    with caplog.at_level(logging.INFO, logger="adapters.telegram.adapter"):
        async with running(app, adapter):
            pass
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_reaction_reaches_the_engine(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, probe, adapter = await start(make_app, tg)
    async with running(app, adapter):
        tg.push_update(reaction_update(CHAT, BOB, message_id=41, old=["👍"], new=["👍", "🔥"]))
        [call] = await tg.wait_for_call("setMessageReaction")

    [event] = probe.seen
    assert isinstance(event, ReactionAdded)
    assert (event.emoji, event.user.key, event.message_id) == ("🔥", "telegram:2", "41")
    assert call.params["chat_id"] == CHAT_ID and call.params["message_id"] == 41
    assert call.params["reaction"] == [{"type": "emoji", "emoji": "👀"}]


async def test_redelivered_update_is_handled_once(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, probe, adapter = await start(make_app, tg)
    update = message_update(CHAT, ANN, "einmal bitte")
    async with running(app, adapter):
        tg.push_update(update)
        tg.push_update(update | {"update_id": 9000})  # the same message delivered again
        tg.push_update(message_update(CHAT, BOB, "barrier"))
        await tg.wait_for_call("sendMessage", count=2)

    assert texts(tg.calls_to("sendMessage")) == ["echo: einmal bitte", "echo: barrier"]
    assert len(probe.seen) == 2


async def test_edit_and_join_reach_the_engine(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, probe, adapter = await start(make_app, tg)
    async with running(app, adapter):
        tg.push_update(new_chat_members_update(CHAT, [DORA]))
        tg.push_update(edited_message_update(CHAT, ANN, "korrigiert", message_id=40))
        tg.push_update(message_update(CHAT, BOB, "barrier"))
        await tg.wait_for_call("sendMessage")

    kinds = [(type(e).__name__, getattr(e, "text", None)) for e in probe.seen]
    assert kinds == [
        ("MemberJoined", None),
        ("MessageEdited", "korrigiert"),
        ("MessagePosted", "barrier"),
    ]


# --- commands and rights -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "refusal"),
    [
        ("de", "/purge ist Moderatorinnen und Moderatoren vorbehalten."),
        ("en", "/purge is for moderators only."),
    ],
)
async def test_moderator_commands_follow_telegram_admin_status(
    make_app: MakeApp, tg: FakeTelegramAPI, language: str, refusal: str
) -> None:
    tg.admins[(CHAT_ID, ANN["id"])] = "administrator"
    app, _, adapter = await start(make_app, tg, language)
    async with running(app, adapter):
        tg.push_update(message_update(CHAT, ANN, "/purge@leumund_bot"))
        tg.push_update(message_update(CHAT, BOB, "/purge"))
        tg.push_update(message_update(CHAT, ANN, "/purge"))
        await tg.wait_for_call("sendMessage", count=3)

    assert texts(tg.calls_to("sendMessage")) == ["purge ok", refusal, "purge ok"]
    checked = [(c.params["chat_id"], c.params["user_id"]) for c in tg.calls_to("getChatMember")]
    # Ann's status is cached: one check for her, one for Bob, one for the bot at start-up.
    assert sorted(checked) == [(CHAT_ID, 1), (CHAT_ID, 2), (CHAT_ID, BOT_ID)]


async def test_restriction_too_short_is_not_forever(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    now = dtm.datetime.now(dtm.UTC)
    async with running(app, adapter):
        result = await adapter.execute(
            Restrict(chat=f"telegram:{CHAT_ID}", member="telegram:2", until=now)
        )
    [call] = tg.calls_to("restrictChatMember")
    assert result.ok
    # Telegram reads less than 30 s ahead as a permanent restriction.
    assert 35 <= call.params["until_date"] - now.timestamp() <= 45


async def test_bot_promotion_updates_the_rights_cache(
    make_app: MakeApp, tg: FakeTelegramAPI
) -> None:
    del tg.admins[(CHAT_ID, BOT_ID)]
    app, _, adapter = await start(make_app, tg)
    async with running(app, adapter):
        assert await adapter.is_admin(CHAT_ID, BOT_ID) is False
        tg.push_update(
            chat_member_update(
                CHAT, tg.bot_user, "member", "administrator", ANN, update_type="my_chat_member"
            )
        )
        tg.push_update(message_update(CHAT, BOB, "barrier"))
        await tg.wait_for_call("sendMessage")
        assert await adapter.is_admin(CHAT_ID, BOT_ID) is True
    assert len(tg.calls_to("getChatMember")) == 1, "only the start-up check asked Telegram"


async def test_for_app_reads_the_token_and_builds_menus(
    make_app: MakeApp, tg: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    app = await make_app(config_text=config_text(tg, "en"), features=[Probe()])
    adapter = TelegramAdapter.for_app(app, poll_timeout=1.0)
    assert [name for name, _ in adapter.commands[""]] == ["help", "review", "mydata"]
    assert adapter.commands["de"][0] == ("help", "diese Hilfe")
    async with running(app, adapter):
        assert adapter.application.bot.username == "leumund_bot"


async def test_admin_cache_expires(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    now = [1000.0]
    probe = Probe()
    app = await make_app(config_text=config_text(tg), features=[probe])
    adapter = make_adapter(app, clock=lambda: now[0])
    async with running(app, adapter):
        assert await adapter.is_admin(CHAT_ID, 2) is False
        tg.admins[(CHAT_ID, 2)] = "creator"
        now[0] += 299
        assert await adapter.is_admin(CHAT_ID, 2) is False
        now[0] += 2
        assert await adapter.is_admin(CHAT_ID, 2) is True


@pytest.mark.parametrize("language", ["de", "en"])
async def test_unknown_group_gets_a_setup_hint_for_admins_only(
    make_app: MakeApp, tg: FakeTelegramAPI, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    tg.admins[(UNKNOWN["id"], ANN["id"])] = "creator"
    app, probe, adapter = await start(make_app, tg, language)
    with caplog.at_level(logging.WARNING, logger="adapters.telegram.adapter"):
        async with running(app, adapter):
            tg.push_update(message_update(UNKNOWN, BOB, "hallo, jemand da?"))
            tg.push_update(message_update(UNKNOWN, BOB, "/help"))
            tg.push_update(message_update(UNKNOWN, ANN, "/start"))
            [call] = await tg.wait_for_call("sendMessage")
            tg.push_update(message_update(CHAT, BOB, "barrier"))
            await tg.wait_for_call("sendMessage", count=2)

    hint = get_locale(language).t("core.setup_hint")
    assert call.params["chat_id"] == UNKNOWN["id"]
    assert call.params["text"] == f"{hint}\n\ntelegram_chats = [-1009]"
    assert [type(e).__name__ for e in probe.seen] == ["MessagePosted"]  # only the barrier
    warnings_about_chat = [r for r in caplog.records if "telegram:-1009" in r.getMessage()]
    assert len(warnings_about_chat) == 1, "the unknown chat is reported once"


async def test_help_tells_admins_that_the_bot_needs_admin_rights(
    make_app: MakeApp, tg: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    del tg.admins[(CHAT_ID, BOT_ID)]
    tg.admins[(CHAT_ID, ANN["id"])] = "administrator"
    hint = "Make me an administrator so that I see reactions."
    english = Locale("en", {"texts": {"telegram": {"admin_hint": hint}}}, get_locale("en"))
    monkeypatch.setattr("adapters.telegram.adapter.get_locale", lambda language: english)
    app, _, adapter = await start(make_app, tg, "en")
    async with running(app, adapter):
        tg.push_update(message_update(CHAT, BOB, "/help"))
        tg.push_update(message_update(CHAT, ANN, "/help"))
        await tg.wait_for_call("sendMessage", count=3)

    sent = texts(tg.calls_to("sendMessage"))
    assert sent[0].startswith("Here is what I can do:") and "/purge" not in sent[0]
    assert sent[1].startswith("Here is what I can do:") and "/purge" in sent[1]
    assert sent[2] == hint


# --- failures ----------------------------------------------------------------------------


async def test_flood_control_is_waited_out(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    loop = asyncio.get_running_loop()
    async with running(app, adapter):
        tg.push_update(message_update(CHAT, ANN, "schnell"))
        await tg.wait_for_call("sendMessage")
        first = loop.time()
        await tg.wait_for_call("sendMessage", count=2)
        waited = loop.time() - first

    assert texts(tg.calls_to("sendMessage")) == ["echo: schnell", "echo: schnell"]
    assert 0.9 <= waited < 2.5
    stored = [m for m in tg.messages.values() if m.get("text") == "echo: schnell"]
    assert len(stored) == 1, "the refused attempt left nothing behind"


async def test_network_errors_are_retried_with_backoff(
    make_app: MakeApp, tg: FakeTelegramAPI
) -> None:
    app, _, adapter = await start(make_app, tg)
    tg.fail_next("setMessageReaction", 502, "Bad Gateway", times=2)
    async with running(app, adapter):
        tg.push_update(reaction_update(CHAT, BOB, message_id=41, new=["👍"]))
        await tg.wait_for_call("setMessageReaction", count=3)
        tg.push_update(message_update(CHAT, BOB, "barrier"))
        await tg.wait_for_call("sendMessage")

    assert len(tg.calls_to("setMessageReaction")) == 3


async def test_retries_are_bounded(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app = await make_app(config_text=config_text(tg), features=[Probe()])
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_flood_wait=5)
    adapter = TelegramAdapter(app.config, TOKEN, retry=retry, poll_timeout=1.0)
    tg.fail_next("deleteMessage", 502, "Bad Gateway", times=5)
    tg.fail_next("setMessageReaction", 429, "Too Many Requests: retry after 60", retry_after=60)
    async with running(app, adapter):
        deleted = await adapter.execute(Delete(chat=f"telegram:{CHAT_ID}", message_id="7"))
        reacted = await adapter.execute(
            React(chat=f"telegram:{CHAT_ID}", message_id="7", emoji="👍")
        )

    assert deleted == Delivery(False, "NetworkError: Bad Gateway")
    assert len(tg.calls_to("deleteMessage")) == 3
    assert reacted == Delivery(False, "flood control: retry after 60 s")
    assert len(tg.calls_to("setMessageReaction")) == 1, "a wait over max_flood_wait is not waited"


async def test_bad_request_is_logged_and_the_bot_keeps_working(
    make_app: MakeApp, tg: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    app, _, adapter = await start(make_app, tg)
    tg.fail_next("sendMessage", 400, "Bad Request: message thread not found")
    with caplog.at_level(logging.WARNING, logger="adapters.telegram.adapter"):
        async with running(app, adapter):
            tg.push_update(message_update(CHAT, ANN, "erste"))
            tg.push_update(message_update(CHAT, BOB, "zweite"))
            await tg.wait_for_call("sendMessage", count=2)

    assert texts(tg.calls_to("sendMessage")) == ["echo: erste", "echo: zweite"]
    [record] = [r for r in caplog.records if "failed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "telegram: reply (reply to #{}): echo: erste failed: BadRequest: Message thread not found"
    ).format(tg.calls_to("sendMessage")[0].params["reply_parameters"]["message_id"])


async def test_forbidden_is_reported_not_raised(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    tg.fail_next("restrictChatMember", 403, "Forbidden: bot was kicked from the supergroup chat")
    async with running(app, adapter):
        until = dtm.datetime(2026, 11, 16, 12, tzinfo=dtm.UTC)
        result = await adapter.execute(
            Restrict(chat=f"telegram:{CHAT_ID}", member="telegram:2", until=until)
        )

    assert result == Delivery(False, "Forbidden: bot was kicked from the supergroup chat")


# --- review buttons ----------------------------------------------------------------------


async def test_review_buttons_come_back_as_button_pressed(
    make_app: MakeApp, tg: FakeTelegramAPI
) -> None:
    tg.admins[(CHAT_ID, ANN["id"])] = "administrator"
    app, probe, adapter = await start(make_app, tg)
    async with running(app, adapter):
        tg.push_update(message_update(CHAT, BOB, "/review"))
        [review] = await tg.wait_for_call("sendMessage")
        [sent] = [m for m in tg.messages.values() if "reply_markup" in m]
        update = callback_query_update(ANN, sent, "case:12:confirm")
        tg.push_update(update)
        [answer] = await tg.wait_for_call("answerCallbackQuery")
        await tg.wait_for_call("sendMessage", count=2)

    assert review.params["text"] == "Fall #12"
    assert review.params["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "Bestätigen", "callback_data": "case:12:confirm"},
                {"text": "Verwerfen", "callback_data": "case:12:dismiss"},
            ]
        ]
    }
    assert answer.params == {"callback_query_id": update["callback_query"]["id"]}
    pressed = probe.seen[-1]
    assert isinstance(pressed, ButtonPressed)
    assert pressed.custom_id == "case:12:confirm" and pressed.user_is_moderator is True
    assert texts(tg.calls_to("sendMessage"))[1] == "case:12:confirm by Ann Meyer, moderator: True"


async def test_button_data_over_64_bytes_is_refused(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    long_id = "case:12:" + "ü" * 30  # 68 bytes in UTF-8, 38 characters
    async with running(app, adapter):
        result = await adapter.execute(
            ReviewRequest(
                chat=f"telegram:{CHAT_ID}",
                case_id=12,
                text="Fall #12",
                buttons=(Button(label="OK", custom_id=long_id),),
            )
        )
    assert result == Delivery(False, f"button data over 64 bytes: {long_id!r}")
    assert tg.calls_to("sendMessage") == []


# --- other actions -----------------------------------------------------------------------


async def test_long_reply_is_split_and_keeps_the_thread(
    make_app: MakeApp, tg: FakeTelegramAPI
) -> None:
    app, _, adapter = await start(make_app, tg)
    lines = [f"Zeile {n}: " + "x" * 90 for n in range(60)]  # 60 lines of ~100 characters
    async with running(app, adapter):
        result = await adapter.execute(
            Reply(chat=f"telegram:{CHAT_ID}", text="\n".join(lines), reply_to="40", thread="7")
        )

    calls = tg.calls_to("sendMessage")
    assert [len(c.params["text"].splitlines()) for c in calls] == [40, 20]
    assert "\n".join(c.params["text"] for c in calls) == "\n".join(lines)
    assert calls[0].params["reply_parameters"]["message_id"] == 40
    assert "reply_parameters" not in calls[1].params
    assert [c.params["message_thread_id"] for c in calls] == [7, 7]
    assert result.ok and result.message_id is not None


async def test_moderation_actions(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    until = dtm.datetime.now(dtm.UTC).replace(microsecond=0) + dtm.timedelta(hours=3)
    chat = f"telegram:{CHAT_ID}"
    async with running(app, adapter):
        restricted = await adapter.execute(Restrict(chat=chat, member="telegram:2", until=until))
        deleted = await adapter.execute(Delete(chat=chat, message_id="41", reason="spam"))
        anonymous = await adapter.execute(
            Restrict(chat=chat, member="telegram:chat-1001", until=until)
        )
        elsewhere = await adapter.execute(Delete(chat="discord:5", message_id="1"))
        garbled = await adapter.execute(Delete(chat=chat, message_id="abc"))

    assert (restricted.ok, deleted.ok) == (True, True)
    assert anonymous == Delivery(False, "cannot restrict telegram:chat-1001")
    assert elsewhere == Delivery(False, "not a telegram chat: discord:5")
    assert garbled.ok is False and garbled.detail.startswith("invalid id: ")
    [call] = tg.calls_to("restrictChatMember")
    assert call.params["user_id"] == 2
    assert call.params["until_date"] == int(until.timestamp())
    assert set(call.params["permissions"].values()) == {False}
    assert len(call.params["permissions"]) >= 10
    [delete] = tg.calls_to("deleteMessage")
    assert delete.params == {"chat_id": CHAT_ID, "message_id": 41}


@pytest.mark.parametrize(
    ("text", "captions", "messages"),
    [
        (
            "Wochenrückblick: 12 Antworten, 30 Dankeschöns.",
            ["Wochenrückblick: 12 Antworten, 30 Dankeschöns."],
            0,
        ),
        ("Weekly summary\n" + "a line of text\n" * 100, [None], 1),
    ],
)
async def test_summary_with_chart(
    make_app: MakeApp,
    tg: FakeTelegramAPI,
    text: str,
    captions: list[str | None],
    messages: int,
) -> None:
    app, _, adapter = await start(make_app, tg)
    async with running(app, adapter):
        result = await adapter.execute(
            PostSummary(chat=f"telegram:{CHAT_ID}", text=text, image=PNG, image_name="woche.png")
        )

    [photo] = tg.calls_to("sendPhoto")
    assert photo.files["photo"] == PNG
    assert [photo.params.get("caption") for photo in tg.calls_to("sendPhoto")] == captions
    assert len(tg.calls_to("sendMessage")) == messages
    if messages:
        assert tg.calls_to("sendMessage")[0].params["text"] == text.rstrip("\n")
    assert result.ok


async def test_summary_without_chart_is_a_message(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    async with running(app, adapter):
        result = await adapter.execute(PostSummary(chat=f"telegram:{CHAT_ID}", text="Summary"))
    assert texts(tg.calls_to("sendMessage")) == ["Summary"]
    assert tg.calls_to("sendPhoto") == [] and result.ok


async def test_direct_message_sends_the_file_privately(
    make_app: MakeApp, tg: FakeTelegramAPI
) -> None:
    app, _, adapter = await start(make_app, tg)
    async with running(app, adapter):
        tg.push_update(message_update(CHAT, ANN, "/mydata"))
        [call] = await tg.wait_for_call("sendDocument")

    assert call.params["chat_id"] == ANN["id"]
    assert call.params["caption"] == "Deine Daten / your data"
    assert call.files["document"] == b'{"karma": 3}'
    assert tg.calls_to("sendMessage") == []


NOTE_DE = "Hallo {mention}! Privat kann ich dir erst schreiben, wenn du {link} öffnest."


@pytest.mark.parametrize("template", [None, NOTE_DE])
async def test_direct_message_refused_falls_back_to_a_note(
    make_app: MakeApp, tg: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch, template: str | None
) -> None:
    if template is not None:
        texts_de = {"texts": {"telegram": {"private_chat_needed": template}}}
        german = Locale("de", texts_de, get_locale("de"))
        monkeypatch.setattr("adapters.telegram.adapter.get_locale", lambda language: german)
    app, _, adapter = await start(make_app, tg)
    tg.fail_next("sendDocument", 403, "Forbidden: bot can't initiate conversation with a user")
    async with running(app, adapter):
        tg.push_update(message_update(CHAT, ANN, "/mydata"))
        [note] = await tg.wait_for_call("sendMessage")

    link = "https://t.me/leumund_bot?start=private"
    shipped = get_locale("de").variants("telegram.private_chat_needed")[0]
    expected = (template or shipped).format(mention="Ann Meyer", link=link)
    assert note.params["chat_id"] == CHAT_ID
    assert note.params["text"] == expected
    [mention] = note.params["entities"]
    assert mention["type"] == "text_mention" and mention["user"]["id"] == ANN["id"]
    start_at = utf16_len(expected[: expected.index("Ann Meyer")])
    assert (mention["offset"], mention["length"]) == (start_at, 9)


# --- webhook and shutdown ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_checks_the_secret_token(
    make_app: MakeApp, tg: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    monkeypatch.setenv("LEUMUND_TEST_WEBHOOK_SECRET", "s3cret-Token_1")
    settings = (
        f'mode = "webhook"\nwebhook_url = "{url}"\nwebhook_listen = "127.0.0.1"\n'
        f'webhook_port = {port}\nwebhook_secret_env = "LEUMUND_TEST_WEBHOOK_SECRET"\n'
    )
    app, probe, adapter = await start(make_app, tg, telegram=settings)
    wrong = message_update(CHAT, BOB, "ohne Geheimnis") | {"update_id": 1}
    right = message_update(CHAT, ANN, "mit Geheimnis") | {"update_id": 2}
    async with running(app, adapter), aiohttp.ClientSession() as http:
        async with http.post(
            url, json=wrong, headers={"X-Telegram-Bot-Api-Secret-Token": "guessed"}
        ) as refused:
            assert refused.status == 403
        async with http.post(url, json=wrong) as missing:
            assert missing.status == 403
        async with http.post(
            url, json=right, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
        ) as accepted:
            assert accepted.status == 200
        [call] = await tg.wait_for_call("sendMessage")

    [hook] = tg.calls_to("setWebhook")
    assert hook.params["url"] == url
    assert hook.params["secret_token"] == "s3cret-Token_1"
    assert hook.params["allowed_updates"] == list(ALLOWED_UPDATES)
    assert tg.calls_to("getUpdates") == []
    assert call.params["text"] == "echo: mit Geheimnis"
    assert [e.text for e in probe.seen if isinstance(e, MessagePosted)] == ["mit Geheimnis"]


@pytest.mark.parametrize(
    ("secret", "webhook_url", "problem"),
    [
        ("", "https://bot.example.org/hook", "telegram.webhook_secret_env"),
        ("has spaces", "https://bot.example.org/hook", "telegram.webhook_secret_env"),
        ("fine-secret", "", "telegram.webhook_url"),
    ],
)
async def test_webhook_mode_needs_a_secret_and_url(
    make_app: MakeApp,
    tg: FakeTelegramAPI,
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
    webhook_url: str,
    problem: str,
) -> None:
    from bot.config import ConfigError

    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    settings = f'mode = "webhook"\nwebhook_url = "{webhook_url}"\n'
    app = await make_app(config_text=config_text(tg, telegram=settings), features=[Probe()])
    with pytest.raises(ConfigError) as error:
        TelegramAdapter(app.config, TOKEN)
    assert [p.path for p in error.value.problems] == [problem]


async def test_clean_shutdown(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app, _, adapter = await start(make_app, tg)
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    await tg.wait_for_call("getUpdates")  # a long poll is in flight
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    runtime.stop()
    await asyncio.wait_for(task, 5)

    assert loop.time() - stopped_at < 2.0
    assert not adapter.application.running
    names = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert [n for n in names if "Updater" in n or "Application" in n or "adapter" in n] == []


# --- karma -------------------------------------------------------------------------------


def karma_feature() -> Any:
    """The karma feature."""
    from bot.features.karma import KarmaFeature

    return KarmaFeature()


@pytest.mark.parametrize(
    ("language", "question", "answer", "thanks"),
    [
        ("de", "Wie stelle ich die Bremse nach?", "Am Rädchen am Hebel drehen.", "danke!"),
        ("en", "How do I adjust my brakes?", "Turn the barrel adjuster at the lever.", "thanks!"),
    ],
)
async def test_thanks_reply_gives_karma(
    make_app: MakeApp,
    tg: FakeTelegramAPI,
    language: str,
    question: str,
    answer: str,
    thanks: str,
) -> None:
    app = await make_app(
        config_text=config_text(tg, language), features=[karma_feature()], language=language
    )
    adapter = make_adapter(app)

    async def answered() -> bool:
        async with app.db.session() as session:
            totals = await Store(session).karma.totals("demo")
        return totals.get("telegram:2", 0) > 0

    asked = message_update(CHAT, ANN, question)
    reply = message_update(CHAT, BOB, answer, reply_to=asked["message"])
    thanked = message_update(CHAT, ANN, thanks, reply_to=reply["message"])

    def acknowledgements() -> list[ApiCall]:
        """The bot's answers that point at the thanks message (a reaction or a reply)."""
        target = thanked["message"]["message_id"]
        reactions = [
            c for c in tg.calls_to("setMessageReaction") if c.params["message_id"] == target
        ]
        replies = [
            c
            for c in tg.calls_to("sendMessage")
            if c.params.get("reply_parameters", {}).get("message_id") == target
        ]
        return reactions + replies

    async def acknowledged() -> bool:
        return bool(acknowledgements())

    async with running(app, adapter):
        tg.push_update(asked)
        tg.push_update(reply)
        tg.push_update(thanked)
        await eventually(answered)
        await eventually(acknowledged)

    assert [c.params["chat_id"] for c in acknowledgements()] == [CHAT_ID]


async def test_reaction_gives_karma(make_app: MakeApp, tg: FakeTelegramAPI) -> None:
    app = await make_app(config_text=config_text(tg), features=[karma_feature()])
    adapter = make_adapter(app)

    async def answered() -> bool:
        async with app.db.session() as session:
            totals = await Store(session).karma.totals("demo")
        return totals.get("telegram:2", 0) > 0

    async with running(app, adapter):
        asked = message_update(CHAT, ANN, "Welcher Reifendruck für Schotter?")
        tg.push_update(asked)
        reply = message_update(
            CHAT, BOB, "Etwa 2,5 bar, je nach Gewicht.", reply_to=asked["message"]
        )
        tg.push_update(reply)
        tg.push_update(
            reaction_update(CHAT, ANN, message_id=reply["message"]["message_id"], new=["👍"])
        )
        await eventually(answered)

    async with app.db.session() as session:
        totals = await Store(session).karma.totals("demo")
    assert "telegram:1" not in totals, "the one who reacts gives, she does not receive"


# --- helpers without a server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("kurz", 4096, ["kurz"]),
        ("", 4096, []),
        ("eins\nzwei\ndrei", 9, ["eins", "zwei\ndrei"]),
        ("one two three four", 8, ["one two ", "three ", "four"]),
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
        ("😀😀😀", 4, ["😀😀", "😀"]),  # each emoji is two UTF-16 units; never cut in half
    ],
)
def test_split_text(text: str, limit: int, expected: list[str]) -> None:
    chunks = split_text(text, limit)
    assert chunks == expected
    assert all(utf16_len(c) <= limit for c in chunks)


def test_split_text_respects_telegram_limit() -> None:
    text = "\n".join("🚲" * 100 for _ in range(50))  # 10,000 UTF-16 units
    chunks = split_text(text)
    assert [utf16_len(c) for c in chunks] == [4019, 4019, 2009]
    assert "\n".join(chunks) == text


def test_retry_after_without_timedelta_opt_in_does_not_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constructing it warns in this mode
        error = RetryAfter(3)
    assert retry_after_seconds(error) == 3.0  # filterwarnings=error: any warning would fail


def test_retry_after_with_timedelta() -> None:
    assert retry_after_seconds(RetryAfter(dtm.timedelta(seconds=1.5))) == 1.5


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]
)
def test_backoff_is_exponential_with_a_cap(attempt: int, delay: float) -> None:
    assert RetryPolicy().backoff(attempt) == delay


@pytest.mark.parametrize(("default", "expected"), [("de", "diese Hilfe"), ("en", "this help")])
def test_command_menus(default: str, expected: str) -> None:
    specs = [
        CommandSpec("help", "/help", "core.help_help"),
        CommandSpec("purge", "/purge", "core.help_help", moderator_only=True),
        CommandSpec("Bad-Name", "/Bad-Name", "core.help_help"),
    ]
    menus = command_menus(specs, default)
    assert menus == {
        "": [("help", expected)],
        "de": [("help", "diese Hilfe")],
        "en": [("help", "this help")],
    }
