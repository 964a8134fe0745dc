"""Linking a member's accounts across platforms with /link and /unlink."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from adapters.console import ConsoleChat, TestClock
from bot.actions import DirectMessage, Reply
from bot.commands import parse_command
from bot.events import CommandIssued, Member, MessagePosted
from bot.features.karma import KarmaFeature, accounts_of
from storage.repositories import Store
from tests.conftest import MakeChat

TELEGRAM_ALICE = Member(key="telegram:7", name="Alice T", username="alice_t")
TELEGRAM_CAROL = Member(key="telegram:8", name="Carol T", username="carol_t")
TG_CHAT = "telegram:-100"


def wait(chat: ConsoleChat, **delta: float) -> None:
    clock = chat.clock
    assert isinstance(clock, TestClock)
    clock.advance(timedelta(**delta))


class Telegram:
    """Speaks in a Telegram chat of the same community."""

    def __init__(self, chat: ConsoleChat) -> None:
        self.chat = chat
        self.number = 0

    async def say(
        self, member: Member, text: str, mentions: tuple[str, ...] = (), private: bool = False
    ) -> str:
        self.number += 1
        base: dict[str, Any] = {
            "key": f"{TG_CHAT}:{self.number}",
            "community": "demo",
            "chat": TG_CHAT,
            "at": self.chat.clock(),
        }
        before = len(self.chat.sent)
        parsed = parse_command(text)
        if parsed is not None:
            await self.chat.send(
                CommandIssued(
                    **base,
                    name=parsed.name,
                    args=parsed.args,
                    author=member,
                    message_id=str(self.number),
                    private=private,
                )
            )
        else:
            await self.chat.send(
                MessagePosted(
                    **base,
                    message_id=str(self.number),
                    author=member,
                    text=text,
                    mentions=mentions,
                )
            )
        texts = [a.text for a in self.chat.sent[before:] if isinstance(a, Reply | DirectMessage)]
        return "\n".join(texts)


async def offer(chat: ConsoleChat, who: str = "alice") -> str:
    before = len(chat.sent)
    await chat.say(who, "/link")
    private = [a for a in chat.sent[before:] if isinstance(a, DirectMessage)]
    (message,) = private
    assert message.member == f"console:{who}"
    match = re.search(r"/link ([A-Z0-9]{6})", message.text)
    assert match is not None
    return match.group(1)


async def test_link_merges_karma_and_unlink_splits_it(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    tg = Telegram(chat)
    await chat.say("alice", "hallo")
    await chat.say("bob", "danke @alice")
    code = await offer(chat)
    assert [a.text for a in chat.sent if isinstance(a, Reply)][-1] == (
        "Ich habe dir den Code privat geschickt."
    )
    answer = await tg.say(TELEGRAM_ALICE, f"/link {code.lower()}")
    assert answer == "Verbunden: console:alice, telegram:7. Dein Karma zählt jetzt zusammen."
    await tg.say(TELEGRAM_CAROL, "Danke!", mentions=("telegram:7",))
    summary = await tg.say(TELEGRAM_ALICE, "/karma")
    assert summary == "Alice T: 2 Karma (+2 diese Woche) · Rang 1 von 1 · Stufe: Neu"
    # Thanking one's own other account is self-karma.
    await tg.say(TELEGRAM_ALICE, "Danke!", mentions=("console:alice",))
    blocked = [d.data for d in chat.decisions if d.kind == "karma_blocked"]
    assert blocked == [{"giver": "telegram:7", "receiver": "console:alice", "rule": "self"}]
    async with chat.engine.db.session() as session:
        store = Store(session)
        assert await accounts_of(store, "console:alice") == ["console:alice", "telegram:7"]
        assert await accounts_of(store, "console:bob") == ["console:bob"]
    assert await tg.say(TELEGRAM_ALICE, "/unlink") == "Getrennt: console:alice, telegram:7."
    summary = await tg.say(TELEGRAM_ALICE, "/karma")
    assert summary == "Alice T: 1 Karma (+1 diese Woche) · Rang 1 von 2 · Stufe: Neu"
    assert await tg.say(TELEGRAM_ALICE, "/unlink") == (
        "Deine Konten sind mit keinen anderen verbunden."
    )


async def test_a_code_works_once_on_another_platform_within_ten_minutes(
    make_chat: MakeChat,
) -> None:
    chat = await make_chat(features=[KarmaFeature()], language="en")
    tg = Telegram(chat)
    code = await offer(chat)
    before = len(chat.sent)
    await chat.say("bob", f"/link {code}")
    assert [a.text for a in chat.sent[before:] if isinstance(a, Reply)] == [
        "Enter the code on the other platform, not on console."
    ]
    assert await tg.say(TELEGRAM_ALICE, f"/link {code}") == (
        "Linked: console:alice, telegram:7. Your karma now counts together."
    )
    bad = "I don't know that code, or it has expired or been used."
    assert await tg.say(TELEGRAM_CAROL, f"/link {code}") == bad
    late = await offer(chat)
    wait(chat, minutes=10)
    assert await tg.say(TELEGRAM_CAROL, f"/link {late}") == bad
    refused = [d.data["reason"] for d in chat.decisions if d.kind == "karma_link_refused"]
    assert refused == ["same_platform", "bad_code", "bad_code"]


async def test_a_private_request_gets_the_code_in_place(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()], language="en")
    text = await Telegram(chat).say(TELEGRAM_ALICE, "/link", private=True)
    assert re.fullmatch(
        r"Your code: ([A-Z2-9]{6}) — enter /link \1 on the other platform within 10 minutes\.",
        text,
    )
    assert not any(isinstance(a, DirectMessage) for a in chat.sent)


async def test_guessing_codes_is_stopped(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    tg = Telegram(chat)
    code = await offer(chat)
    for guess in ("AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD", "EEEEEE"):
        await tg.say(TELEGRAM_CAROL, f"/link {guess}")
    too_many = "Zu viele falsche Codes. Versuch es in ein paar Minuten wieder."
    assert await tg.say(TELEGRAM_CAROL, f"/link {code}") == too_many
    wait(chat, minutes=11)
    late = await offer(chat)
    assert (await tg.say(TELEGRAM_CAROL, f"/link {late}")).startswith("Verbunden:")
