"""A local fake of the Telegram Bot API that the real python-telegram-bot can talk to.

Usage::

    async with FakeTelegramAPI() as tg:
        app = (
            ApplicationBuilder()
            .token("123:ABC")
            .base_url(tg.base_url)
            .base_file_url(tg.base_file_url)
            .build()
        )
        ...
        tg.push_update(message_update(group(-100, "Chat"), user(1, "Ann"), "hi"))
        [call] = await tg.wait_for_call("sendMessage")

The server listens on 127.0.0.1 only.  Like Telegram, ``getUpdates`` only delivers the update
types allowed by the last ``allowed_updates`` setting (by default everything except
``chat_member``, ``message_reaction`` and ``message_reaction_count``), and errors are answered
with the HTTP status equal to ``error_code``, which is what python-telegram-bot maps to its
exception classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import struct
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web

__all__ = [
    "ApiCall",
    "ApiError",
    "FakeTelegramAPI",
    "auto_entities",
    "callback_query_update",
    "chat_member",
    "chat_member_update",
    "edited_message_update",
    "group",
    "message",
    "message_update",
    "new_chat_members_update",
    "next_message_id",
    "private_chat",
    "reaction_update",
    "user",
    "utf16_len",
]

JSON = dict[str, Any]
Handler = Callable[[JSON, dict[str, bytes]], Any | Awaitable[Any]]
"""A method handler: ``(params, files) -> result``; may be async and may raise ApiError."""

OPT_IN_UPDATE_TYPES: frozenset[str] = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)

# Form-encoded parameters that are plain strings and must never be JSON-decoded, even if
# they look like numbers ("123") or literals ("true").
_STRING_PARAMS: frozenset[str] = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "title",
        "description",
        "short_description",
        "name",
        "language_code",
        "custom_title",
        "file_id",
        "photo",
        "document",
        "audio",
        "video",
        "voice",
        "animation",
        "sticker",
        "emoji",
        "query",
        "invite_link",
        "business_connection_id",
        "message_effect_id",
        "payload",
        "currency",
        "provider_token",
        "start_parameter",
        "first_name",
        "last_name",
        "phone_number",
        "address",
        "question",
        "data",
        "switch_inline_query",
    }
)

_DEFAULT_MAX_POLL_WAIT = 1.0
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# Records and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One request the fake received: method name, decoded parameters and uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]


class ApiError(Exception):
    """Raise from a method handler to answer with a Telegram error."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> JSON:
        """Render as a Bot API error body."""
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class _Failure:
    error: ApiError
    remaining: int


# --------------------------------------------------------------------------------------------
# Builders (module level, real Bot API JSON shapes)
# --------------------------------------------------------------------------------------------

_message_ids: defaultdict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
_last_message_id: dict[int, int] = {}


def next_message_id(chat_id: int) -> int:
    """Allocate the next message id in a chat (shared by builders and every fake)."""
    while True:
        candidate = next(_message_ids[chat_id])
        if candidate > _last_message_id.get(chat_id, 0):
            _last_message_id[chat_id] = candidate
            return candidate


def _note_message_id(chat_id: int, message_id: int) -> None:
    """Make sure later auto-allocated ids in this chat are above an explicitly chosen one."""
    if message_id > _last_message_id.get(chat_id, 0):
        _last_message_id[chat_id] = message_id


def utf16_len(text: str) -> int:
    """Length of text in UTF-16 code units, the unit Telegram uses for entity offsets."""
    return len(text.encode("utf-16-le")) // 2


_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,32})?")
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_@])@[A-Za-z0-9_]{1,32}")


def auto_entities(text: str) -> list[JSON]:
    """Detect a leading ``/command`` and ``@username`` mentions, with UTF-16 offsets."""
    entities: list[JSON] = []
    command_end = 0
    if command := _COMMAND_RE.match(text):
        command_end = command.end()
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group())})
    for mention in _MENTION_RE.finditer(text, command_end):
        entities.append(
            {
                "type": "mention",
                "offset": utf16_len(text[: mention.start()]),
                "length": utf16_len(mention.group()),
            }
        )
    return entities


def _now() -> int:
    return int(time.time())


def user(
    id: int,
    first_name: str,
    username: str | None = None,
    is_bot: bool = False,
    last_name: str | None = None,
    language_code: str | None = None,
) -> JSON:
    """A Bot API ``User`` object."""
    result: JSON = {"id": id, "is_bot": is_bot, "first_name": first_name}
    if last_name is not None:
        result["last_name"] = last_name
    if username is not None:
        result["username"] = username
    if language_code is not None:
        result["language_code"] = language_code
    return result


def group(
    id: int,
    title: str,
    type: str = "supergroup",
    is_forum: bool = False,
    username: str | None = None,
) -> JSON:
    """A Bot API ``Chat`` object for a group or supergroup."""
    result: JSON = {"id": id, "type": type, "title": title}
    if username is not None:
        result["username"] = username
    if is_forum:
        result["is_forum"] = True
    return result


def private_chat(of_user: Mapping[str, Any]) -> JSON:
    """The private ``Chat`` between the bot and a user."""
    result: JSON = {"id": of_user["id"], "type": "private", "first_name": of_user["first_name"]}
    for key in ("last_name", "username"):
        if key in of_user:
            result[key] = of_user[key]
    return result


ReplyTo = Mapping[str, Any] | tuple[int, Mapping[str, Any]] | int | None
"""A reply target: a message dict, ``(message_id, author)``, or a bare message id."""


def _reply_stub(chat: Mapping[str, Any], reply_to: ReplyTo, date: int) -> JSON | None:
    if reply_to is None:
        return None
    if isinstance(reply_to, Mapping):
        stub = dict(reply_to)
        stub.pop("reply_to_message", None)  # Telegram never nests replies
        return stub
    if isinstance(reply_to, tuple):
        message_id, author = reply_to
        return {"message_id": message_id, "from": dict(author), "chat": dict(chat), "date": date}
    return {"message_id": reply_to, "chat": dict(chat), "date": date}


def message(
    chat: Mapping[str, Any],
    from_user: Mapping[str, Any] | None,
    text: str | None,
    message_id: int | None = None,
    reply_to: ReplyTo = None,
    entities: Sequence[Mapping[str, Any]] | None = None,
    date: int | None = None,
    message_thread_id: int | None = None,
) -> JSON:
    """A Bot API ``Message``; entities are auto-detected when not given."""
    date = _now() if date is None else date
    if message_id is None:
        message_id = next_message_id(chat["id"])
    else:
        _note_message_id(chat["id"], message_id)
    result: JSON = {"message_id": message_id}
    if from_user is not None:
        result["from"] = dict(from_user)
    result["chat"] = dict(chat)
    result["date"] = date
    if message_thread_id is not None:
        result["message_thread_id"] = message_thread_id
        if chat.get("is_forum"):
            result["is_topic_message"] = True
    if (reply := _reply_stub(chat, reply_to, date)) is not None:
        result["reply_to_message"] = reply
    if text is not None:
        result["text"] = text
        found = auto_entities(text) if entities is None else [dict(e) for e in entities]
        if found:
            result["entities"] = found
    return result


def message_update(
    chat: Mapping[str, Any],
    from_user: Mapping[str, Any],
    text: str,
    message_id: int | None = None,
    reply_to: ReplyTo = None,
    entities: Sequence[Mapping[str, Any]] | None = None,
    date: int | None = None,
    message_thread_id: int | None = None,
) -> JSON:
    """A ``message`` update carrying a text message."""
    return {
        "message": message(
            chat,
            from_user,
            text,
            message_id=message_id,
            reply_to=reply_to,
            entities=entities,
            date=date,
            message_thread_id=message_thread_id,
        )
    }


def edited_message_update(
    chat: Mapping[str, Any],
    from_user: Mapping[str, Any],
    text: str,
    message_id: int,
    entities: Sequence[Mapping[str, Any]] | None = None,
    date: int | None = None,
    edit_date: int | None = None,
    message_thread_id: int | None = None,
) -> JSON:
    """An ``edited_message`` update: message ``message_id`` now reads ``text``."""
    edited = message(
        chat,
        from_user,
        text,
        message_id=message_id,
        entities=entities,
        date=date,
        message_thread_id=message_thread_id,
    )
    edited["edit_date"] = _now() if edit_date is None else edit_date
    return {"edited_message": edited}


def _reactions(emojis: Iterable[str]) -> list[JSON]:
    return [{"type": "emoji", "emoji": emoji} for emoji in emojis]


def reaction_update(
    chat: Mapping[str, Any],
    user: Mapping[str, Any],
    message_id: int,
    old: Sequence[str] = (),
    new: Sequence[str] = (),
    date: int | None = None,
) -> JSON:
    """A ``message_reaction`` update: ``user`` changed reactions from ``old`` to ``new``."""
    return {
        "message_reaction": {
            "chat": dict(chat),
            "message_id": message_id,
            "user": dict(user),
            "date": _now() if date is None else date,
            "old_reaction": _reactions(old),
            "new_reaction": _reactions(new),
        }
    }


_callback_ids = itertools.count(1)


def callback_query_update(
    from_user: Mapping[str, Any],
    message: Mapping[str, Any],
    data: str,
    id: str | None = None,
    chat_instance: str | None = None,
) -> JSON:
    """A ``callback_query`` update: ``from_user`` pressed a button on the bot's ``message``."""
    query_id = id if id is not None else f"{from_user['id']}{next(_callback_ids):08d}"
    return {
        "callback_query": {
            "id": query_id,
            "from": dict(from_user),
            "message": dict(message),
            "chat_instance": chat_instance or str(-abs(int(message["chat"]["id"]))),
            "data": data,
        }
    }


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)
_PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
    "can_react_to_messages",
)


def chat_member(
    of_user: Mapping[str, Any],
    status: str = "member",
    *,
    permissions: Mapping[str, Any] | None = None,
    until_date: int = 0,
    is_member: bool = True,
    custom_title: str | None = None,
) -> JSON:
    """A Bot API ``ChatMember`` of any status, with every field PTB requires filled in."""
    result: JSON = {"status": status, "user": dict(of_user)}
    if status == "creator":
        result["is_anonymous"] = False
    elif status == "administrator":
        result.update(can_be_edited=False, is_anonymous=False)
        result.update(dict.fromkeys(_ADMIN_RIGHTS, True))
    elif status == "restricted":
        result.update(is_member=is_member, until_date=until_date)
        result.update(dict.fromkeys(_PERMISSIONS, False))
        result.update({k: bool(v) for k, v in (permissions or {}).items() if k in _PERMISSIONS})
    elif status == "kicked":
        result["until_date"] = until_date
    if custom_title is not None and status in ("creator", "administrator"):
        result["custom_title"] = custom_title
    return result


def chat_member_update(
    chat: Mapping[str, Any],
    member: Mapping[str, Any],
    old_status: str = "left",
    new_status: str = "member",
    from_user: Mapping[str, Any] | None = None,
    date: int | None = None,
    update_type: str = "chat_member",
) -> JSON:
    """A ``chat_member`` update; by default ``member`` joins (``left`` -> ``member``)."""
    return {
        update_type: {
            "chat": dict(chat),
            "from": dict(from_user if from_user is not None else member),
            "date": _now() if date is None else date,
            "old_chat_member": chat_member(member, old_status),
            "new_chat_member": chat_member(member, new_status),
        }
    }


def new_chat_members_update(
    chat: Mapping[str, Any],
    new_members: Sequence[Mapping[str, Any]],
    from_user: Mapping[str, Any] | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> JSON:
    """A ``message`` update with the ``new_chat_members`` service message."""
    adder = from_user if from_user is not None else new_members[0]
    service = message(chat, adder, None, message_id=message_id, date=date)
    service["new_chat_members"] = [dict(m) for m in new_members]
    return {"message": service}


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


def _decode_form_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _png_size(data: bytes) -> tuple[int, int]:
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 800, 600


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


class FakeTelegramAPI:
    """An aiohttp server on 127.0.0.1 speaking the Bot API well enough for python-telegram-bot."""

    def __init__(
        self,
        *,
        bot_username: str = "leumund_bot",
        bot_id: int = 999,
        bot_first_name: str = "Leumund",
        token: str | None = None,
        max_poll_wait: float = _DEFAULT_MAX_POLL_WAIT,
    ) -> None:
        self.bot_user: JSON = user(bot_id, bot_first_name, username=bot_username, is_bot=True)
        self.token = token
        self.max_poll_wait = max_poll_wait

        self.calls: list[ApiCall] = []
        self.admins: dict[tuple[int, int], str] = {}
        self.restrictions: dict[tuple[int, int], JSON] = {}
        self.banned: dict[tuple[int, int], int] = {}
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, JSON] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        self.files: dict[str, bytes] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.webhook_url = ""
        self.allowed_updates: list[str] = []

        self._pending: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._file_ids = itertools.count(1)
        self._file_paths: dict[str, str] = {}
        # (filename, content type) of the uploads of the request being handled right now
        self._upload_meta: dict[str, tuple[str, str]] = {}
        self._failures: dict[str, list[_Failure]] = defaultdict(list)
        self._updates_event = asyncio.Event()
        self._calls_event = asyncio.Event()
        self._poll_generation = 0
        self._closing = False

        self._handlers: dict[str, tuple[str, Handler]] = {}
        self._install_default_handlers()

        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/file/{bot_token}/{file_path:.+}", self._serve_file)
        self.app.router.add_route("*", "/{bot_token}/{method}", self._serve_method)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on a free port."""
        if self._runner is not None:
            return
        self._closing = False
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Wake pending long polls and shut the server down."""
        if self._runner is None:
            return
        self._closing = True
        self._wake_pollers()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port the fake listens on (only while started)."""
        if self._port is None:
            raise RuntimeError("FakeTelegramAPI is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url(...)``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- test-facing API --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """All recorded calls of one method (case-insensitive, like Telegram)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-call deadline is the point of the helper
    ) -> list[ApiCall]:
        """Wait until ``count`` calls of ``method`` were recorded; return all calls of it."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.calls_to(method)) < count:
                    await self._calls_event.wait()
        except TimeoutError:
            seen = self.calls_to(method)
            raise AssertionError(
                f"expected {count} call(s) to {method} within {timeout}s, got {len(seen)}; "
                f"calls seen: {self.describe_calls()}"
            ) from None
        return self.calls_to(method)

    def describe_calls(self) -> str:
        """A readable summary of recorded calls, with getUpdates polls collapsed."""
        parts: list[str] = []
        polls = 0
        for call in self.calls:
            if call.method == "getUpdates":
                polls += 1
                continue
            files = f" files={sorted(call.files)}" if call.files else ""
            parts.append(f"{call.method}({call.params!r}){files}")
        if polls:
            parts.append(f"{polls}x getUpdates")
        return "[" + ", ".join(parts) + "]" if parts else "[]"

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` answer with this Telegram error."""
        error = ApiError(error_code, description, retry_after)
        self._failures[method.lower()].append(_Failure(error, times))

    def route(self, method: str, handler: Handler) -> None:
        """Override (or add) the handler answering ``method``."""
        self._handlers[method.lower()] = (method, handler)

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for ``getUpdates`` (assigning ``update_id``) and wake long polls."""
        queued = dict(update)
        if "update_id" in queued:
            update_id = int(queued["update_id"])
        else:
            update_id = max(next(self._update_ids), self._last_update_id + 1)
            queued["update_id"] = update_id
        self._last_update_id = max(self._last_update_id, update_id)
        self._learn(queued)
        self._pending.append(queued)
        self._pending.sort(key=lambda u: int(u["update_id"]))
        self._wake_pollers()
        return update_id

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a ``getUpdates`` offset."""
        return list(self._pending)

    def chat(self, chat_id: int) -> JSON:
        """The chat with this id as the fake knows it (or a plausible invented one)."""
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if chat_id > 0:
            return private_chat(self.user(chat_id))
        return group(chat_id, f"Chat {chat_id}")

    def user(self, user_id: int) -> JSON:
        """The user with this id as the fake knows it (or a plausible invented one)."""
        if user_id == self.bot_user["id"]:
            return dict(self.bot_user)
        return dict(self.users.get(user_id) or user(user_id, f"User {user_id}"))

    def member_status(self, chat_id: int, user_id: int) -> str:
        """The chat member status ``getChatMember`` reports for a pair."""
        key = (chat_id, user_id)
        if key in self.admins:
            return self.admins[key]
        if key in self.banned:
            return "kicked"
        if key in self.restrictions:
            return "restricted"
        return "member"

    # ---- internals: state -------------------------------------------------------------------

    def _wake_pollers(self) -> None:
        self._updates_event.set()
        self._updates_event = asyncio.Event()

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        self._calls_event.set()
        self._calls_event = asyncio.Event()

    def _learn_message(self, msg: Mapping[str, Any]) -> None:
        chat = msg.get("chat")
        if isinstance(chat, Mapping):
            self.chats.setdefault(int(chat["id"]), dict(chat))
            self.messages[(int(chat["id"]), int(msg["message_id"]))] = dict(msg)
            _note_message_id(int(chat["id"]), int(msg["message_id"]))
        for key in ("from", "left_chat_member"):
            if isinstance(msg.get(key), Mapping):
                self._learn_user(msg[key])
        for member in msg.get("new_chat_members", ()):
            self._learn_user(member)
        if isinstance(msg.get("reply_to_message"), Mapping):
            reply = msg["reply_to_message"]
            if isinstance(reply.get("from"), Mapping):
                self._learn_user(reply["from"])

    def _learn_user(self, who: Mapping[str, Any]) -> None:
        if who["id"] != self.bot_user["id"]:
            self.users[int(who["id"])] = dict(who)

    def _learn(self, update: Mapping[str, Any]) -> None:
        for key in (
            "message",
            "edited_message",
            "channel_post",
            "edited_channel_post",
            "business_message",
        ):
            if isinstance(update.get(key), Mapping):
                self._learn_message(update[key])
        payload = update.get(_update_type(update))
        if not isinstance(payload, Mapping):
            return
        for key in ("from", "user"):
            if isinstance(payload.get(key), Mapping):
                self._learn_user(payload[key])
        if isinstance(payload.get("chat"), Mapping):
            self.chats.setdefault(int(payload["chat"]["id"]), dict(payload["chat"]))
        new_member = payload.get("new_chat_member")
        if isinstance(new_member, Mapping) and isinstance(new_member.get("user"), Mapping):
            self._learn_user(new_member["user"])

    def _is_allowed(self, update: Mapping[str, Any]) -> bool:
        kind = _update_type(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in OPT_IN_UPDATE_TYPES

    def _new_message(self, chat_id: int, params: Mapping[str, Any], **content: Any) -> JSON:
        chat = self.chat(chat_id)
        msg: JSON = {
            "message_id": next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": chat,
            "date": _now(),
        }
        if params.get("message_thread_id") is not None:
            msg["message_thread_id"] = int(params["message_thread_id"])
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, Mapping) else None
        if reply_id is None:
            reply_id = params.get("reply_to_message_id")
        if reply_id is not None:
            reply_chat = chat_id
            if isinstance(reply, Mapping) and isinstance(reply.get("chat_id"), int):
                reply_chat = int(reply["chat_id"])
            known = self.messages.get((reply_chat, int(reply_id)))
            stub = dict(known) if known else {"message_id": int(reply_id), "chat": chat}
            stub.setdefault("date", msg["date"])
            stub.pop("reply_to_message", None)
            if reply_chat == chat_id:
                msg["reply_to_message"] = stub
            else:
                msg["external_reply"] = {"origin": {"type": "hidden_user", "date": msg["date"]}}
        msg.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, Mapping) and "inline_keyboard" in markup:
            msg["reply_markup"] = dict(markup)
        self.messages[(chat_id, msg["message_id"])] = msg
        return msg

    def _store_file(self, data: bytes, folder: str, extension: str) -> tuple[str, str]:
        number = next(self._file_ids)
        file_id = f"FAKE{folder.upper()}{number:06d}"
        self.files[file_id] = data
        self._file_paths[file_id] = f"{folder}/file_{number}.{extension}"
        return file_id, f"UNIQ{number:06d}"

    def _upload(
        self, params: Mapping[str, Any], files: Mapping[str, bytes], field: str
    ) -> tuple[bytes, str, str]:
        """The uploaded (or re-sent by file_id) bytes for a field, with filename and type."""
        part = field
        value = params.get(field)
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
        if part in files:
            name, mime = self._upload_meta.get(part, (field, "application/octet-stream"))
            return files[part], name, mime
        if isinstance(value, str) and value in self.files:
            return self.files[value], field, "application/octet-stream"
        return b"", field, "application/octet-stream"

    # ---- internals: HTTP --------------------------------------------------------------------

    @staticmethod
    async def _read_params(
        request: web.Request,
    ) -> tuple[JSON, dict[str, bytes], dict[str, tuple[str, str]]]:
        params: JSON = {k: _decode_form_value(k, v) for k, v in request.query.items()}
        files: dict[str, bytes] = {}
        meta: dict[str, tuple[str, str]] = {}
        if not request.body_exists:
            return params, files, meta
        content_type = request.content_type
        if content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    files[part.name] = bytes(await part.read())
                    mime = part.headers.get("Content-Type", "application/octet-stream")
                    meta[part.name] = (part.filename, mime)
                else:
                    params[part.name] = _decode_form_value(part.name, await part.text())
        elif content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = _decode_form_value(key, value)
        return params, files, meta

    def _check_token(self, bot_token: str) -> bool:
        if not bot_token.startswith("bot"):
            return False
        return self.token is None or bot_token.removeprefix("bot") == self.token

    @staticmethod
    def _error(error: ApiError) -> web.Response:
        return web.json_response(error.to_json(), status=error.error_code)

    async def _serve_method(self, request: web.Request) -> web.Response:
        if not request.match_info["bot_token"].startswith("bot"):
            raise web.HTTPNotFound()
        sent_name = request.match_info["method"]
        canonical, handler = self._handlers.get(sent_name.lower(), (sent_name, None))
        params, files, upload_meta = await self._read_params(request)
        self._record(ApiCall(canonical, params, files))
        if not self._check_token(request.match_info["bot_token"]):
            return self._error(ApiError(401, "Unauthorized"))
        failures = self._failures.get(canonical.lower())
        if failures:
            failure = failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                failures.pop(0)
            return self._error(failure.error)
        if handler is None:
            return self._error(ApiError(404, "Not Found: method not found"))
        try:
            self._upload_meta = upload_meta  # read synchronously by the upload handlers
            result = handler(params, files)
            if isinstance(result, Awaitable):
                result = await result
        except ApiError as error:
            return self._error(error)
        except KeyError as missing:
            return self._error(ApiError(400, f"Bad Request: {missing.args[0]} is empty"))
        except (TypeError, ValueError) as invalid:
            return self._error(ApiError(400, f"Bad Request: {invalid}"))
        return web.json_response({"ok": True, "result": result})

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        if not self._check_token(request.match_info["bot_token"]):
            raise web.HTTPNotFound()
        wanted = request.match_info["file_path"]
        for file_id, path in self._file_paths.items():
            if path == wanted:
                return web.Response(body=self.files[file_id])
        raise web.HTTPNotFound()

    # ---- method handlers --------------------------------------------------------------------

    def _install_default_handlers(self) -> None:
        handlers: dict[str, Handler] = {
            "getMe": lambda p, f: dict(self.bot_user, **self._bot_capabilities()),
            "logOut": lambda p, f: True,
            "close": lambda p, f: True,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "setMessageReaction": lambda p, f: True,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "getFile": self._get_file,
            "deleteMessage": self._delete_message,
            "restrictChatMember": self._restrict_chat_member,
            "banChatMember": self._ban_chat_member,
            "unbanChatMember": self._unban_chat_member,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "answerCallbackQuery": lambda p, f: True,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
        }
        for method, handler in handlers.items():
            self.route(method, handler)

    @staticmethod
    def _bot_capabilities() -> JSON:
        return {
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _delete_webhook(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _set_webhook(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, params: JSON, files: dict[str, bytes]) -> JSON:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _get_updates(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # a new getUpdates terminates older ones, as on Telegram

        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or [])
        offset = params.get("offset")
        if isinstance(offset, int):
            if offset < 0:
                self._pending = self._pending[offset:]
            else:
                self._pending = [u for u in self._pending if int(u["update_id"]) >= offset]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            ready = [u for u in self._pending if self._is_allowed(u)][:limit]
            remaining = deadline - loop.time()
            if ready or self._closing or remaining <= 0:
                return ready
            event = self._updates_event
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()

    def _send_message(self, params: JSON, files: dict[str, bytes]) -> JSON:
        text = str(params.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        content: JSON = {"text": text}
        entities = params.get("entities")
        if isinstance(entities, list):
            content["entities"] = entities
        elif params.get("parse_mode") is None and (found := auto_entities(text)):
            content["entities"] = found
        return self._new_message(int(params["chat_id"]), params, **content)

    def _edit_message_text(self, params: JSON, files: dict[str, bytes]) -> JSON | bool:
        if "inline_message_id" in params:
            return True
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        msg = self.messages.get((chat_id, message_id))
        if msg is None:
            msg = {
                "message_id": message_id,
                "from": dict(self.bot_user),
                "chat": self.chat(chat_id),
                "date": _now(),
            }
        msg = dict(msg, text=str(params.get("text", "")), edit_date=_now())
        msg.pop("entities", None)
        if isinstance(params.get("entities"), list):
            msg["entities"] = params["entities"]
        markup = params.get("reply_markup")
        if isinstance(markup, Mapping) and "inline_keyboard" in markup:
            msg["reply_markup"] = dict(markup)
        self.messages[(chat_id, message_id)] = msg
        return msg

    def _caption(self, params: Mapping[str, Any]) -> JSON:
        return {"caption": params["caption"]} if params.get("caption") else {}

    def _send_photo(self, params: JSON, files: dict[str, bytes]) -> JSON:
        data, _, _ = self._upload(params, files, "photo")
        width, height = _png_size(data)
        file_id, unique_id = self._store_file(data, "photos", "jpg")
        scale = min(1.0, 90 / max(width, height, 1))
        photo = [
            {
                "file_id": f"{file_id}_s",
                "file_unique_id": f"{unique_id}_s",
                "width": max(1, int(width * scale)),
                "height": max(1, int(height * scale)),
                "file_size": max(1, len(data) // 10),
            },
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": width,
                "height": height,
                "file_size": len(data),
            },
        ]
        return self._new_message(
            int(params["chat_id"]), params, photo=photo, **self._caption(params)
        )

    def _send_document(self, params: JSON, files: dict[str, bytes]) -> JSON:
        data, file_name, mime_type = self._upload(params, files, "document")
        extension = file_name.rpartition(".")[2] if "." in file_name else "bin"
        file_id, unique_id = self._store_file(data, "documents", extension)
        document: JSON = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self._new_message(
            int(params["chat_id"]), params, document=document, **self._caption(params)
        )

    def _get_file(self, params: JSON, files: dict[str, bytes]) -> JSON:
        file_id = str(params.get("file_id", ""))
        base_id = file_id.removesuffix("_s")
        if base_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"UNIQ{base_id[-6:]}",
            "file_size": len(self.files[base_id]),
            "file_path": self._file_paths[base_id],
        }

    def _delete_message(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.messages.pop((int(params["chat_id"]), int(params["message_id"])), None)
        return True

    def _check_not_admin(self, chat_id: int, user_id: int) -> None:
        status = self.admins.get((chat_id, user_id))
        if status == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if status == "administrator":
            raise ApiError(400, "Bad Request: user is an administrator of the chat")

    def _restrict_chat_member(self, params: JSON, files: dict[str, bytes]) -> bool:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        self._check_not_admin(chat_id, user_id)
        permissions = params.get("permissions")
        self.restrictions[(chat_id, user_id)] = {
            "permissions": dict(permissions) if isinstance(permissions, Mapping) else {},
            "until_date": int(params.get("until_date") or 0),
        }
        return True

    def _ban_chat_member(self, params: JSON, files: dict[str, bytes]) -> bool:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        self._check_not_admin(chat_id, user_id)
        self.banned[(chat_id, user_id)] = int(params.get("until_date") or 0)
        return True

    def _unban_chat_member(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.banned.pop((int(params["chat_id"]), int(params["user_id"])), None)
        return True

    def _get_chat_member(self, params: JSON, files: dict[str, bytes]) -> JSON:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self.member_status(chat_id, user_id)
        who = self.user(user_id)
        if status == "kicked":
            return chat_member(who, status, until_date=self.banned[(chat_id, user_id)])
        if status == "restricted":
            restriction = self.restrictions[(chat_id, user_id)]
            return chat_member(
                who,
                status,
                permissions=restriction["permissions"],
                until_date=restriction["until_date"],
            )
        return chat_member(who, status)

    def _get_chat_administrators(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        chat_id = int(params["chat_id"])
        return [
            chat_member(self.user(user_id), status)
            for (chat, user_id), status in self.admins.items()
            if chat == chat_id and status in ("creator", "administrator")
        ]

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _get_my_commands(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _get_chat(self, params: JSON, files: dict[str, bytes]) -> JSON:
        info = self.chat(int(params["chat_id"]))
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return info
