"""End-to-end tests: the real python-telegram-bot talking to FakeTelegramAPI."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator, Sequence

import pytest
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    ReactionTypeEmoji,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    callback_query_update,
    group,
    message,
    message_update,
    reaction_update,
    user,
)

TOKEN = "123:ABC"
CHAT = group(-1001, "Leumund test group")
ANN = user(1, "Ann", username="ann")
BOB = user(2, "Bob", username="bob")
ALLOWED = [Update.MESSAGE, Update.MESSAGE_REACTION, Update.CALLBACK_QUERY]

# A 1x1 PNG header: signature + IHDR chunk (width 1, height 1), enough for the fake.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01\x00\x00\x00\x01" + b"rest"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as fake:
        yield fake


def build_app(tg: FakeTelegramAPI) -> Application:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )


async def run_polling(app: Application, allowed: Sequence[str] = ALLOWED) -> None:  # type: ignore[type-arg]
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=list(allowed))


async def stop_polling(app: Application) -> None:  # type: ignore[type-arg]
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()


async def test_message_handler_replies_with_reply_parameters(tg: FakeTelegramAPI) -> None:
    async def pong(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text
        await update.effective_message.reply_text(
            "pong: " + update.effective_message.text,
            reply_parameters=ReplyParameters(message_id=update.effective_message.message_id),
        )

    app = build_app(tg)
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, pong))
    async with app:
        await run_polling(app)
        try:
            incoming = message_update(CHAT, ANN, "ping")
            tg.push_update(incoming)
            [call] = await tg.wait_for_call("sendMessage")
        finally:
            await stop_polling(app)

    original_id = incoming["message"]["message_id"]
    assert call.params["text"] == "pong: ping"
    assert call.params["chat_id"] == CHAT["id"]
    assert call.params["reply_parameters"]["message_id"] == original_id
    assert tg.calls_to("getMe"), "Application.initialize() asks getMe"
    assert tg.calls_to("deleteWebhook"), "the updater bootstraps by deleting the webhook"
    assert tg.calls_to("getUpdates")[-1].params["allowed_updates"] == ALLOWED
    assert tg.pending_updates == [], "the updater confirmed the update via offset"


async def test_reaction_handler_sees_new_emoji(tg: FakeTelegramAPI) -> None:
    seen: asyncio.Queue[list[str]] = asyncio.Queue()

    async def on_reaction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message_reaction is not None
        emojis = [
            r.emoji
            for r in update.message_reaction.new_reaction
            if isinstance(r, ReactionTypeEmoji)
        ]
        await seen.put(emojis)

    app = build_app(tg)
    app.add_handler(MessageReactionHandler(on_reaction))
    async with app:
        await run_polling(app)
        try:
            tg.push_update(reaction_update(CHAT, BOB, message_id=7, old=[], new=["👍"]))
            emojis = await asyncio.wait_for(seen.get(), timeout=3)
        finally:
            await stop_polling(app)

    assert emojis == ["👍"]


async def test_reaction_updates_need_opt_in_like_on_telegram(tg: FakeTelegramAPI) -> None:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        tg.push_update(reaction_update(CHAT, BOB, message_id=7, new=["🔥"]))
        tg.push_update(message_update(CHAT, ANN, "hello"))
        default = await bot.get_updates(timeout=0)
        opted_in = await bot.get_updates(timeout=0, allowed_updates=[Update.MESSAGE_REACTION])

    assert [u.message is not None for u in default] == [True]
    assert [u.message_reaction is not None for u in opted_in] == [True]


async def test_callback_query_is_answered(tg: FakeTelegramAPI) -> None:
    answered = asyncio.Event()

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer(text=f"got {update.callback_query.data}")
        answered.set()

    keyboard = {"inline_keyboard": [[{"text": "Yes", "callback_data": "vote:yes"}]]}
    bot_message = message(CHAT, tg.bot_user, "Vote?")
    bot_message["reply_markup"] = keyboard

    app = build_app(tg)
    app.add_handler(CallbackQueryHandler(on_button, pattern="^vote:"))
    async with app:
        await run_polling(app)
        try:
            update = callback_query_update(ANN, bot_message, "vote:yes")
            tg.push_update(update)
            [call] = await tg.wait_for_call("answerCallbackQuery")
            await asyncio.wait_for(answered.wait(), timeout=3)
        finally:
            await stop_polling(app)

    assert call.params["callback_query_id"] == update["callback_query"]["id"]
    assert call.params["text"] == "got vote:yes"


async def test_send_photo_uploads_bytes(tg: FakeTelegramAPI) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="open")]])
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        sent = await bot.send_photo(CHAT["id"], photo=PNG, caption="a pixel", reply_markup=markup)
        file = await bot.get_file(sent.photo[-1].file_id)
        downloaded = await file.download_as_bytearray()

    [call] = tg.calls_to("sendPhoto")
    assert call.files["photo"] == PNG
    assert call.params["caption"] == "a pixel"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "open"
    assert sent.caption == "a pixel"
    assert (sent.photo[-1].width, sent.photo[-1].height) == (1, 1)
    assert sent.from_user is not None and sent.from_user.username == "leumund_bot"
    assert bytes(downloaded) == PNG


async def test_failure_injection_maps_to_ptb_errors(
    tg: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, RetryAfter.__init__ itself emits a PTBDeprecationWarning, which
    # `filterwarnings = error` turns into the exception raised instead of RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    tg.fail_next("sendMessage", 400, "Bad Request: message to be replied not found")

    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(CHAT["id"], "hi")
        # PTB strips Telegram's "Bad Request: " prefix and capitalises the rest.
        with pytest.raises(BadRequest, match=r"^Message to be replied not found$"):
            await bot.send_message(CHAT["id"], "hi", reply_parameters=ReplyParameters(12345))
        sent = await bot.send_message(CHAT["id"], "third time lucky")

    assert flood.value.retry_after == dtm.timedelta(seconds=1)
    assert sent.text == "third time lucky"
    assert len(tg.calls_to("sendMessage")) == 3


async def test_get_chat_member_statuses(tg: FakeTelegramAPI) -> None:
    tg.admins[(CHAT["id"], ANN["id"])] = "administrator"
    tg.admins[(CHAT["id"], 3)] = "creator"
    tg.push_update(message_update(CHAT, BOB, "hi"))  # the fake learns Bob's profile

    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        admin = await bot.get_chat_member(CHAT["id"], ANN["id"])
        owner = await bot.get_chat_member(CHAT["id"], 3)
        member = await bot.get_chat_member(CHAT["id"], BOB["id"])
        admins = await bot.get_chat_administrators(CHAT["id"])

    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.status == "administrator" and admin.can_restrict_members
    assert isinstance(owner, ChatMemberOwner)
    assert isinstance(member, ChatMemberMember)
    assert member.user.username == "bob"
    assert {m.user.id for m in admins} == {ANN["id"], 3}


async def test_mention_offsets_are_utf16(tg: FakeTelegramAPI) -> None:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        tg.push_update(message_update(CHAT, ANN, "🎉 thanks @bob!"))
        tg.push_update(message_update(CHAT, ANN, "/karma@leumund_bot 😀 @bob"))
        updates = await bot.get_updates(timeout=0)

    first, second = (u.message for u in updates)
    assert first is not None and second is not None
    assert list(first.parse_entities().values()) == ["@bob"]
    assert first.entities[0].offset == 10  # "🎉" is two UTF-16 code units
    parsed = second.parse_entities()
    assert list(parsed.values()) == ["/karma@leumund_bot", "@bob"]
    assert [e.type for e in parsed] == [MessageEntity.BOT_COMMAND, MessageEntity.MENTION]


async def test_unknown_method_is_recorded(tg: FakeTelegramAPI) -> None:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        with pytest.raises(Exception, match="not found"):
            await bot.do_api_request("sendTeleportation", api_kwargs={"chat_id": 5})

    [call] = tg.calls_to("sendTeleportation")
    assert call.params == {"chat_id": 5}


async def test_wait_for_call_times_out_with_context(tg: FakeTelegramAPI) -> None:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        await bot.send_message(CHAT["id"], "only one")
    with pytest.raises(AssertionError, match=r"expected 2 call\(s\) to sendMessage.*only one"):
        await tg.wait_for_call("sendMessage", count=2, timeout=0.2)


async def test_long_poll_wakes_on_push(tg: FakeTelegramAPI) -> None:
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await tg.wait_for_call("getUpdates")
        loop = asyncio.get_running_loop()
        started = loop.time()
        tg.push_update(message_update(CHAT, ANN, "wake up"))
        updates = await asyncio.wait_for(poll, timeout=2)

    assert loop.time() - started < 0.5
    assert [u.message.text for u in updates if u.message] == ["wake up"]


async def test_moderation_state_is_reflected_in_get_chat_member(tg: FakeTelegramAPI) -> None:
    tg.admins[(CHAT["id"], ANN["id"])] = "administrator"
    async with Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        await bot.restrict_chat_member(
            CHAT["id"], BOB["id"], ChatPermissions(can_send_messages=False, can_send_polls=True)
        )
        restricted = await bot.get_chat_member(CHAT["id"], BOB["id"])
        await bot.ban_chat_member(CHAT["id"], BOB["id"])
        banned = await bot.get_chat_member(CHAT["id"], BOB["id"])
        with pytest.raises(BadRequest, match="administrator"):
            await bot.ban_chat_member(CHAT["id"], ANN["id"])
        doc = await bot.send_document(CHAT["id"], document=b"log", filename="report.txt")

    assert isinstance(restricted, ChatMemberRestricted)
    assert not restricted.can_send_messages and restricted.can_send_polls
    assert isinstance(banned, ChatMemberBanned)
    [call] = tg.calls_to("restrictChatMember")
    assert call.params["permissions"]["can_send_messages"] is False
    assert doc.document is not None and doc.document.file_name == "report.txt"
    assert tg.calls_to("sendDocument")[0].files["document"] == b"log"
