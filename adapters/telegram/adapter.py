"""The Telegram adapter: python-telegram-bot in the shared event loop, no run_polling()."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    ChatMember,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReactionTypeEmoji,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ReactionEmoji
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from adapters.base import Delivery, EventSink
from adapters.telegram.translate import (
    PLATFORM,
    UNMAPPED,
    TranslateContext,
    chat_key,
    parse_chat_key,
    translate,
)
from bot.actions import (
    Action,
    Button,
    Delete,
    DirectMessage,
    PostSummary,
    React,
    Reply,
    Restrict,
    ReviewRequest,
    describe,
)
from bot.config import Config, ConfigError, Problem
from bot.events import ButtonPressed, CommandIssued, Event
from bot.features.base import CommandSpec
from bot.locales import get_locale

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
T = TypeVar("T")
TelegramApp = Application[Any, Any, Any, Any, Any, Any]

# Reactions and member joins are opt-in on Telegram; they must be asked for explicitly.
ALLOWED_UPDATES: tuple[str, ...] = (
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.MESSAGE_REACTION,
    Update.CALLBACK_QUERY,
    Update.CHAT_MEMBER,
    Update.MY_CHAT_MEMBER,
)
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
BUTTONS_PER_ROW = 3
_ADMIN = frozenset({ChatMember.ADMINISTRATOR, ChatMember.OWNER})
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_DESCRIPTION_LIMIT = 256
_MEMBER = re.compile(r"^telegram:(\d+)$")
_SHORTEST_RESTRICTION = timedelta(seconds=40)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry calls that Telegram throttles or the network drops."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A flood wait longer than this is not waited out: the action fails instead.
    max_flood_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's text limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters of ``text`` fit into ``limit`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _hard_split(line: str, limit: int) -> list[str]:
    pieces: list[str] = []
    while utf16_len(line) > limit:
        cut = _fitting_prefix(line, limit)
        space = line.rfind(" ", 0, cut)
        if space > cut // 2:  # prefer a word boundary when one is not too far back
            cut = space + 1
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split text into messages of at most ``limit`` UTF-16 units, on line boundaries."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        for piece in _hard_split(line, limit):
            length = utf16_len(piece)
            if current and size + length > limit:
                chunks.append("".join(current))
                current, size = [], 0
            current.append(piece)
            size += length
    if current:
        chunks.append("".join(current))
    return [chunk.rstrip("\n") for chunk in chunks if chunk.strip()]


def retry_after_seconds(error: RetryAfter) -> float:
    """Seconds to wait, whether the library holds an int or a timedelta, without warnings."""
    raw = getattr(error, "_retry_after", None)
    if isinstance(raw, timedelta):
        return raw.total_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def reason(error: TelegramError) -> str:
    """Telegram's reason for a refusal, named by its kind once (``Forbidden: bot was…``)."""
    kind = type(error).__name__
    if error.message.lower().startswith(kind.lower()):
        return error.message
    return f"{kind}: {error.message}"


def command_menus(
    specs: Sequence[CommandSpec], default_language: str
) -> dict[str, list[tuple[str, str]]]:
    """The command menu per language code ("" is the default) from the engine's specs.

    Moderator-only commands stay out of the menu every member sees; /help lists them.
    """
    menus: dict[str, list[tuple[str, str]]] = {}
    for language in ("", "de", "en"):
        locale = get_locale(language or default_language)
        menu: list[tuple[str, str]] = []
        for spec in specs:
            if spec.moderator_only or not _COMMAND_NAME.match(spec.name):
                continue
            description = locale.t(spec.help_key).strip() or spec.name
            menu.append((spec.name, description[:_DESCRIPTION_LIMIT]))
        menus[language] = menu
    return menus


def _text(language: str, key: str, **values: object) -> str | None:
    """A locale text, or None when the locale does not define the key."""
    locale = get_locale(language)
    if not locale.variants(key):
        return None
    return locale.t(key, **values)


def _keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(b.label, callback_data=b.custom_id)
            for b in buttons[i : i + BUTTONS_PER_ROW]
        ]
        for i in range(0, len(buttons), BUTTONS_PER_ROW)
    ]
    return InlineKeyboardMarkup(rows)


# Telegram accepts only a fixed set of reaction emoji; others would be taken for custom
# emoji ids and refused. Close stand-ins for what the features use, then a neutral one.
_REACTION_STAND_INS = {"✨": "🔥", "⭐": "🏆", "✅": "👌", "❤️": "❤", "🤝": "🤝", "💡": "🤓"}
_FALLBACK_REACTION = "👌"


def telegram_reaction(emoji: str) -> ReactionTypeEmoji:
    """The reaction Telegram accepts for an emoji: itself, a stand-in, or 👌."""
    allowed = {e.value for e in ReactionEmoji}
    for candidate in (emoji, emoji.replace("\ufe0f", ""), _REACTION_STAND_INS.get(emoji, "")):
        if candidate in allowed:
            return ReactionTypeEmoji(candidate)
    return ReactionTypeEmoji(_FALLBACK_REACTION)


class TelegramAdapter:
    """Receives Telegram updates as core events and executes actions through the Bot API."""

    platform: ClassVar[str] = PLATFORM
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"Reply", "React", "Delete", "Restrict", "ReviewRequest", "PostSummary", "DirectMessage"}
    )

    def __init__(
        self,
        config: Config,
        token: str,
        *,
        commands: Mapping[str, Sequence[tuple[str, str]]] | None = None,
        retry: RetryPolicy | None = None,
        admin_cache_seconds: float = 300.0,
        poll_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.section = config.telegram
        self.commands = dict(commands or {})
        self.retry = retry or RetryPolicy()
        self.admin_cache_seconds = admin_cache_seconds
        self.poll_timeout = poll_timeout
        self._clock = clock
        self._secret: str | None = None
        if self.section.mode == "webhook":
            self._secret = self._webhook_secret()
        builder = ApplicationBuilder().token(token)
        if self.section.api_base_url:
            base = self.section.api_base_url.rstrip("/")
            builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
        self.application: TelegramApp = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        # httpx logs every request URL at INFO, and Bot API URLs contain the token.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sink: EventSink | None = None
        self._ctx: TranslateContext | None = None
        self._admin_cache: dict[tuple[int, int], tuple[bool, float]] = {}
        self._warned_chats: set[int] = set()

    @classmethod
    def for_app(cls, app: App, **options: Any) -> TelegramAdapter:
        """An adapter for a built app: token from the environment, menus from the engine."""
        menus = command_menus(app.engine.command_specs(), app.config.bot.language)
        return cls(app.config, app.config.token("telegram"), commands=menus, **options)

    def _webhook_secret(self) -> str:
        env = self.section.webhook_secret_env
        secret = os.environ.get(env, "").strip()
        problems = []
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            problems.append(
                Problem(
                    "telegram.webhook_secret_env",
                    f"webhook mode needs a secret (1-256 of A-Z a-z 0-9 _ -) in ${env}",
                )
            )
        if not self.section.webhook_url:
            problems.append(Problem("telegram.webhook_url", "webhook mode needs a public URL"))
        if problems:
            raise ConfigError(self.config.source, problems)
        return secret

    # --- running ------------------------------------------------------------------------

    async def run(self, sink: EventSink) -> None:
        """Connect, announce commands, check admin rights, then feed events until stopped."""
        self._sink = sink
        app = self.application
        async with app:  # initialize (getMe) ... shutdown
            bot = app.bot
            self._ctx = TranslateContext.from_config(self.config, bot.id, bot.username)
            await self._set_commands()
            await self._check_admin_rights()
            await app.start()
            try:
                await self._start_updates()
                self.ready.set()
                await self._stopping.wait()
            finally:
                self.ready.clear()
                if app.updater is not None and app.updater.running:
                    await app.updater.stop()
                if app.running:
                    await app.stop()
        log.info("telegram adapter stopped")

    async def stop(self) -> None:
        """Stop receiving updates; run() returns once python-telegram-bot has shut down."""
        self._stopping.set()

    async def _start_updates(self) -> None:
        updater = self.application.updater
        assert updater is not None  # ApplicationBuilder always builds one
        if self.section.mode == "webhook":
            url = self.section.webhook_url
            await updater.start_webhook(
                listen=self.section.webhook_listen,
                port=self.section.webhook_port,
                url_path=urlsplit(url).path.lstrip("/"),
                webhook_url=url,
                secret_token=self._secret,
                allowed_updates=list(ALLOWED_UPDATES),
                bootstrap_retries=3,
            )
            log.info(
                "telegram: webhook %s, listening on %s:%s",
                url,
                self.section.webhook_listen,
                self.section.webhook_port,
            )
        else:
            await updater.start_polling(
                poll_interval=0.0,
                timeout=timedelta(seconds=self.poll_timeout),
                allowed_updates=list(ALLOWED_UPDATES),
                bootstrap_retries=3,
            )
            log.info("telegram: long polling as @%s", self.application.bot.username)

    async def _set_commands(self) -> None:
        bot = self.application.bot
        for language, menu in self.commands.items():
            commands = [BotCommand(name, description) for name, description in menu]
            try:
                await self._call(
                    partial(bot.set_my_commands, commands, language_code=language or None)
                )
            except TelegramError as exc:
                log.warning("telegram: could not set the %r command menu: %s", language, exc)

    async def _check_admin_rights(self) -> None:
        log.info(
            "telegram: reactions reach the bot only in chats where it is an administrator; "
            "deleting and restricting need admin rights too"
        )
        bot_id = self.application.bot.id
        for community in self.config.communities:
            for chat_id in community.section.telegram_chats:
                admin = await self.is_admin(chat_id, bot_id)
                if admin is False:
                    log.warning(
                        "telegram: the bot is not an administrator of %s (community %s): it will "
                        "not see reactions and cannot delete or restrict; make it an admin",
                        chat_key(chat_id),
                        community.name,
                    )

    # --- incoming -----------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.handle_update(update)
        except Exception:  # one bad update must not stop the others
            log.exception("telegram: update %s could not be handled", update.update_id)

    async def handle_update(self, update: Update) -> None:
        """Translate one update and hand its events to the sink."""
        if self._ctx is None or self._sink is None:
            return
        if update.my_chat_member is not None:
            self._note_own_status(update)
            return
        if update.callback_query is not None:
            # Answer at once so the button stops spinning, whatever the engine decides.
            query_id = update.callback_query.id
            try:
                await self._call(partial(self.application.bot.answer_callback_query, query_id))
            except TelegramError as exc:
                log.warning("telegram: could not answer callback query %s: %s", query_id, exc)
        for event in translate(update, self._ctx, now=datetime.now(UTC)):
            if event.community == UNMAPPED:
                await self._unmapped(event)
                continue
            event = await self._with_rights(event)
            await self._sink(event)
            if isinstance(event, CommandIssued) and event.name in ("help", "start"):
                await self._admin_hint(event)

    def _note_own_status(self, update: Update) -> None:
        changed = update.my_chat_member
        assert changed is not None
        chat_id, status = changed.chat.id, changed.new_chat_member.status
        self._admin_cache[(chat_id, self.application.bot.id)] = (
            status in _ADMIN,
            self._clock() + self.admin_cache_seconds,
        )
        log.info("telegram: the bot is now %s in %s", status, chat_key(chat_id))
        if status in _ADMIN:
            return
        if status in (ChatMember.MEMBER, ChatMember.RESTRICTED):
            log.warning(
                "telegram: in %s the bot is no administrator: reactions will not arrive",
                chat_key(chat_id),
            )

    async def _with_rights(self, event: Event) -> Event:
        """Fill in whether the author of a command or button press is a chat admin."""
        if isinstance(event, CommandIssued) and event.author_is_moderator is None:
            if event.private:
                return event
            admin = await self._admin_of(event.chat, event.author.key)
            if admin is not None:
                return replace(event, author_is_moderator=admin)
        if isinstance(event, ButtonPressed) and event.user_is_moderator is None:
            admin = await self._admin_of(event.chat, event.user.key)
            if admin is not None:
                return replace(event, user_is_moderator=admin)
        return event

    async def _admin_of(self, chat: str, member: str) -> bool | None:
        chat_id, match = parse_chat_key(chat), _MEMBER.match(member)
        if chat_id is None or match is None or chat_id > 0:
            return None
        return await self.is_admin(chat_id, int(match.group(1)))

    async def is_admin(self, chat_id: int, user_id: int) -> bool | None:
        """Whether a user administers a chat, cached briefly; None if Telegram will not say."""
        now = self._clock()
        cached = self._admin_cache.get((chat_id, user_id))
        if cached is not None and cached[1] > now:
            return cached[0]
        bot = self.application.bot
        try:
            member = await self._call(partial(bot.get_chat_member, chat_id, user_id))
        except TelegramError as exc:
            log.warning(
                "telegram: cannot check the rights of %s in %s: %s", user_id, chat_key(chat_id), exc
            )
            return None
        if len(self._admin_cache) > 10_000:
            self._admin_cache = {k: v for k, v in self._admin_cache.items() if v[1] > now}
        admin = member.status in _ADMIN
        self._admin_cache[(chat_id, user_id)] = (admin, now + self.admin_cache_seconds)
        return admin

    async def _unmapped(self, event: Event) -> None:
        """A group no community lists: help admins set it up, pass nothing to the engine."""
        chat_id = parse_chat_key(event.chat)
        if chat_id is None:
            return
        if chat_id not in self._warned_chats:
            self._warned_chats.add(chat_id)
            log.warning(
                "telegram: %s belongs to no community; its events are ignored. Add "
                "`telegram_chats = [%s]` to a [[communities]] entry of the config",
                event.chat,
                chat_id,
            )
        if not isinstance(event, CommandIssued) or event.name not in ("help", "start"):
            return
        if not (event.author_is_moderator or await self._admin_of(event.chat, event.author.key)):
            return
        hint = get_locale(self.config.bot.language).t("core.setup_hint")
        await self.execute(
            Reply(
                chat=event.chat,
                text=f"{hint}\n\ntelegram_chats = [{chat_id}]",
                reply_to=event.message_id,
            )
        )

    async def _admin_hint(self, event: CommandIssued) -> None:
        """Tell admins in /help when the bot lacks the admin rights reactions need."""
        chat_id = parse_chat_key(event.chat)
        if event.private or not event.author_is_moderator or chat_id is None:
            return
        if await self.is_admin(chat_id, self.application.bot.id) is not False:
            return
        community = self.config.community(event.community)
        language = community.language if community else self.config.bot.language
        text = _text(language, "telegram.admin_hint")
        if text is not None:
            await self.execute(Reply(chat=event.chat, text=text, reply_to=event.message_id))

    # --- outgoing -----------------------------------------------------------------------

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Bot API call, waiting out flood control and retrying network errors."""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await call()
            except RetryAfter as exc:
                delay = retry_after_seconds(exc)
                if attempt == self.retry.attempts or delay > self.retry.max_flood_wait:
                    raise
                log.info("telegram: flood control, retrying in %.1f s", delay)
            except (BadRequest, ChatMigrated):
                raise  # BadRequest is a NetworkError subclass, but retrying cannot help
            except NetworkError as exc:
                if attempt == self.retry.attempts:
                    raise
                delay = self.retry.backoff(attempt)
                log.info("telegram: %s, retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def execute(self, action: Action) -> Delivery:
        """Execute one action; Telegram's refusals are logged and reported, never raised."""
        chat_id = parse_chat_key(action.chat)
        if chat_id is None:
            return Delivery(False, f"not a telegram chat: {action.chat}")
        try:
            return await self._execute(chat_id, action)
        except ChatMigrated as exc:
            detail = f"{action.chat} is now {chat_key(exc.new_chat_id)}; update telegram_chats"
        except RetryAfter as exc:
            detail = f"flood control: retry after {retry_after_seconds(exc):.0f} s"
        except TelegramError as exc:
            detail = reason(exc)
        except ValueError as exc:  # a message or member id that is no number
            detail = f"invalid id: {exc}"
        log.warning("telegram: %s failed: %s", describe(action), detail)
        return Delivery(False, detail)

    async def _execute(self, chat_id: int, action: Action) -> Delivery:
        bot = self.application.bot
        match action:
            case Reply(text=text, reply_to=reply_to, thread=thread):
                return await self._send_text(chat_id, text, reply_to=reply_to, thread=thread)
            case React(message_id=message_id, emoji=emoji):
                reaction = telegram_reaction(emoji)
                await self._call(
                    partial(bot.set_message_reaction, chat_id, int(message_id), reaction=reaction)
                )
                return Delivery(True, "" if reaction.emoji == emoji else f"sent {reaction.emoji}")
            case Delete(message_id=message_id):
                await self._call(partial(bot.delete_message, chat_id, int(message_id)))
                return Delivery(True)
            case Restrict(member=member, until=until):
                match = _MEMBER.match(member)
                if match is None:
                    return Delivery(False, f"cannot restrict {member}")
                # Telegram reads an end less than 30 s ahead as "forever".
                until = max(until, datetime.now(UTC) + _SHORTEST_RESTRICTION)
                await self._call(
                    partial(
                        bot.restrict_chat_member,
                        chat_id,
                        int(match.group(1)),
                        ChatPermissions.no_permissions(),
                        until_date=until,
                    )
                )
                return Delivery(True)
            case ReviewRequest(text=text, buttons=buttons):
                too_long = [
                    b.custom_id for b in buttons if len(b.custom_id.encode()) > CALLBACK_DATA_LIMIT
                ]
                if too_long:
                    return Delivery(False, f"button data over 64 bytes: {too_long[0]!r}")
                markup = _keyboard(buttons) if buttons else None
                return await self._send_text(chat_id, text, markup=markup)
            case PostSummary(text=text, image=image, image_name=image_name):
                if image is None:
                    return await self._send_text(chat_id, text)
                caption = text if utf16_len(text) <= CAPTION_LIMIT else None
                photo = await self._call(
                    partial(
                        bot.send_photo, chat_id, photo=image, filename=image_name, caption=caption
                    )
                )
                if caption is None and text.strip():
                    await self._send_text(chat_id, text)
                return Delivery(True, message_id=str(photo.message_id))
            case DirectMessage():
                return await self._direct(chat_id, action)
        return Delivery(False, f"telegram cannot {action.kind}")

    async def _send_text(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: str | None = None,
        thread: str | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Delivery:
        """Send text split at Telegram's limit; the reply goes on the first part, buttons last."""
        chunks = split_text(text)
        if not chunks:
            return Delivery(False, "empty text")
        bot = self.application.bot
        reply = None
        if reply_to is not None and reply_to.isdigit():
            reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True)
        thread_id = int(thread) if thread is not None and thread.isdigit() else None
        first: Message | None = None
        for index, chunk in enumerate(chunks):
            sent = await self._call(
                partial(
                    bot.send_message,
                    chat_id,
                    chunk,
                    reply_parameters=reply if index == 0 else None,
                    message_thread_id=thread_id,
                    reply_markup=markup if index == len(chunks) - 1 else None,
                )
            )
            first = first or sent
        assert first is not None
        return Delivery(True, message_id=str(first.message_id))

    async def _direct(self, origin: int, action: DirectMessage) -> Delivery:
        match = _MEMBER.match(action.member)
        if match is None:
            return Delivery(False, f"cannot message {action.member} privately")
        user_id = int(match.group(1))
        bot = self.application.bot
        try:
            if action.attachment is None:
                return await self._send_text(user_id, action.text)
            fits = utf16_len(action.text) <= CAPTION_LIMIT
            sent = await self._call(
                partial(
                    bot.send_document,
                    user_id,
                    document=action.attachment,
                    filename=action.filename,
                    caption=action.text if fits and action.text.strip() else None,
                )
            )
            if not fits:
                await self._send_text(user_id, action.text)
            return Delivery(True, message_id=str(sent.message_id))
        except (Forbidden, BadRequest) as exc:
            # Bots may only write to people who started a private chat with them first.
            log.info("telegram: cannot message %s privately: %s", action.member, reason(exc))
            note = await self._private_chat_note(origin, user_id)
            if origin != user_id:
                await self._call(partial(bot.send_message, origin, note[0], entities=note[1]))
            return Delivery(False, f"private message refused ({reason(exc)}); asked in chat")

    async def _private_chat_note(
        self, origin: int, user_id: int
    ) -> tuple[str, list[MessageEntity]]:
        """A note in the origin chat asking the member to start a private chat with the bot."""
        bot = self.application.bot
        link = f"https://t.me/{bot.username}?start=private"
        name = "👤"
        user: User | None = None
        try:
            user = (await self._call(partial(bot.get_chat_member, origin, user_id))).user
            name = user.full_name or name
        except TelegramError:
            user = None
        community = self.config.community_for_chat(chat_key(origin))
        language = community.language if community else self.config.bot.language
        marker = "\x00"
        template = _text(language, "telegram.private_chat_needed", mention=marker, link=link)
        text = template if template and marker in template else f"{marker} → {link}"
        before, _, after = text.partition(marker)
        entities = []
        if user is not None:
            entities.append(
                MessageEntity(
                    MessageEntity.TEXT_MENTION, utf16_len(before), utf16_len(name), user=user
                )
            )
        return before + name + after, entities
