"""The fair rules, each shown blocking and not blocking, plus crediting from context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from adapters.console import ConsoleChat, TestClock
from bot.actions import ReviewRequest
from bot.features.karma import KarmaFeature
from storage import models
from storage.repositories import Store
from tests.conftest import MakeChat, introduce


def wait(chat: ConsoleChat, **delta: float) -> None:
    clock = chat.clock
    assert isinstance(clock, TestClock)
    clock.advance(timedelta(**delta))


def key(name: str) -> str:
    return f"console:{name}"


def awards(chat: ConsoleChat) -> list[tuple[str, str, float, str | None]]:
    return [
        (d.data["giver"], d.data["receiver"], d.data["points"], d.data["rule"])
        for d in chat.decisions
        if d.kind == "karma"
    ]


def blocks(chat: ConsoleChat) -> list[tuple[str, str | None, str]]:
    return [
        (d.data["giver"], d.data["receiver"], d.data["rule"])
        for d in chat.decisions
        if d.kind == "karma_blocked"
    ]


async def totals(chat: ConsoleChat) -> dict[str, float]:
    async with chat.engine.db.session() as session:
        return await Store(session).karma.totals("demo")


async def karma_chat(make_chat: MakeChat, extra: str = "", **kw: Any) -> ConsoleChat:
    chat = await make_chat(extra, features=[KarmaFeature()], **kw)
    for name in ("bob", "carol", "dave", "erin"):
        await chat.say(name, "hallo")
    return chat


async def test_self_karma_is_blocked(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    await chat.say("alice", "hallo")
    await chat.say("alice", "danke @alice")
    await chat.say("alice", "danke @bob")
    assert blocks(chat) == [(key("alice"), key("alice"), "self")]
    assert awards(chat) == [(key("alice"), key("bob"), 1.0, None)]


@pytest.mark.parametrize("impostor_first", [True, False])
async def test_thanks_to_a_name_credit_its_username_owner(
    make_chat: MakeChat, impostor_first: bool
) -> None:
    chat = await karma_chat(make_chat)
    real = ("console:111", "Alice Real", "alice")
    impostor = ("console:222", "alice", "mallory")
    for member in (impostor, real) if impostor_first else (real, impostor):
        await introduce(chat, *member)
    await chat.say("bob", "danke @alice")
    assert awards(chat) == [(key("bob"), "console:111", 1.0, None)]


async def test_thanks_to_a_shared_display_name_credit_nobody(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    await introduce(chat, "console:301", "Anna", None)
    await introduce(chat, "console:302", "anna", None)
    await chat.say("bob", "danke @Anna")
    assert awards(chat) == []


async def test_bots_neither_give_nor_receive(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    answer = await chat.say("bot", "Ich bin ein Bot und helfe gern.")
    await chat.say("alice", "danke", reply_to=answer)
    await chat.say("bot", "danke @bob")
    human = await chat.say("bob", "Versuch es mit einem Neustart.")
    await chat.say("alice", "danke", reply_to=human)
    assert blocks(chat) == [(key("alice"), key("bot"), "bot"), (key("bot"), None, "bot")]
    assert awards(chat) == [(key("alice"), key("bob"), 1.0, None)]


async def test_pair_cooldown_blocks_until_the_window_passed(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    await chat.say("alice", "danke @bob")
    await chat.say("alice", "nochmal danke @bob")
    await chat.say("alice", "danke @carol")  # another receiver is fine
    wait(chat, minutes=28)  # the first award was 30 minutes ago at the next message
    await chat.say("alice", "danke @bob!")
    assert blocks(chat) == [(key("alice"), key("bob"), "cooldown")]
    assert [(g, r) for g, r, _, _ in awards(chat)] == [
        (key("alice"), key("bob")),
        (key("alice"), key("carol")),
        (key("alice"), key("bob")),
    ]


async def test_reciprocal_cooldown_blocks_thanking_back(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, language="en")
    await chat.say("alice", "hi")
    await chat.say("alice", "thanks @bob")
    await chat.say("bob", "thank you too @alice")
    wait(chat, minutes=30)
    await chat.say("bob", "thanks again @alice")
    assert blocks(chat) == [(key("bob"), key("alice"), "reciprocal")]
    assert awards(chat) == [
        (key("alice"), key("bob"), 1.0, None),
        (key("bob"), key("alice"), 1.2, None),  # bob holds 1 karma: weight 0.6
    ]


async def test_daily_cap_of_the_giver_resets_at_local_midnight(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, "[karma]\ndaily_cap_giver = 2\n")
    await chat.say("alice", "danke @bob")
    await chat.say("alice", "danke @carol")
    await chat.say("alice", "danke @dave")
    # 09:07 UTC + 14 h 20 min = 23:27 UTC = 00:27 in Berlin: a new day there.
    wait(chat, hours=14, minutes=20)
    await chat.say("alice", "danke @dave!")
    assert blocks(chat) == [(key("alice"), key("dave"), "daily_cap_giver")]
    assert [r for _, r, _, _ in awards(chat)] == [key("bob"), key("carol"), key("dave")]


async def test_daily_cap_of_the_receiver_cuts_then_blocks(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, "[karma]\ndaily_cap_receiver = 1.5\n")
    await chat.say("alice", "danke @bob")
    await chat.say("carol", "danke @bob")
    await chat.say("dave", "danke @bob")
    wait(chat, days=1)
    await chat.say("erin", "danke @bob")
    assert awards(chat) == [
        (key("alice"), key("bob"), 1.0, None),
        (key("carol"), key("bob"), 0.5, "daily_cap_receiver"),
        (key("erin"), key("bob"), 1.0, None),
    ]
    assert blocks(chat) == [(key("dave"), key("bob"), "daily_cap_receiver")]
    assert (await totals(chat))[key("bob")] == 2.5


async def test_new_members_weigh_less_until_they_are_settled(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    await chat.say("alice", "hallo")  # present when the bot arrived: not new
    wait(chat, days=2)
    await chat.say("newbie", "hallo zusammen")
    await chat.say("newbie", "danke @bob")
    await chat.say("alice", "danke @carol")
    wait(chat, days=7)  # a week after newbie was first seen
    await chat.say("newbie", "danke @dave")
    assert awards(chat) == [
        (key("newbie"), key("bob"), 0.5, "new_member"),
        (key("alice"), key("carol"), 1.0, None),
        (key("newbie"), key("dave"), 1.0, None),
    ]


async def test_established_givers_give_full_points(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    await chat.say("mod", "/karma give @carol 25 viel geholfen")
    await chat.say("carol", "danke @bob")
    assert awards(chat)[-1] == (key("carol"), key("bob"), 2.0, None)


async def test_at_most_three_receivers(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat)
    await chat.say("alice", "danke @bob @carol @dave @erin")
    assert [r for _, r, _, _ in awards(chat)] == [key("bob"), key("carol"), key("dave")]
    assert blocks(chat) == [(key("alice"), key("erin"), "max_receivers")]


async def test_forwarded_thanks_count_for_nobody(make_chat: MakeChat) -> None:
    from dataclasses import replace

    from bot.events import MessagePosted

    chat = await karma_chat(make_chat)
    event = MessagePosted(
        key="console:general:fwd",
        community="demo",
        chat="console:general",
        at=chat.clock(),
        message_id="fwd",
        author=chat.member("alice"),
        text="danke @bob",
        mentions=("console:bob",),
    )
    await chat.send(replace(event, forwarded=True))
    assert awards(chat) == [] and blocks(chat) == []


# --- whom to credit from context ------------------------------------------------------------

CONVERSATIONS = {
    "de": (
        "Wie setze ich das Passwort zurück?",
        "Über die Einstellungen.",
        "Oder per Mail.",
        "Danke!",
    ),
    "en": ("How do I reset my password?", "In the settings.", "Or by mail.", "Thanks!"),
}


@pytest.mark.parametrize("language", ["de", "en"])
async def test_context_credits_the_one_who_answered(make_chat: MakeChat, language: str) -> None:
    question, answer, _, thanks = CONVERSATIONS[language]
    chat = await karma_chat(make_chat, language=language)
    await chat.say("alice", question)
    number = await chat.say("bob", answer)
    await chat.say("carol", "@dave kommst du heute?")  # a side conversation
    await chat.say("alice", thanks)
    karma = [d for d in chat.decisions if d.kind == "karma"]
    assert [(d.data["receiver"], d.data["via"]) for d in karma] == [(key("bob"), "context")]
    async with chat.engine.db.session() as session:
        entry = (await session.execute(select(models.KarmaEntry))).scalar_one()
        assert entry.target_message_id == str(number)


@pytest.mark.parametrize("language", ["de", "en"])
async def test_two_answers_at_once_credit_nobody(make_chat: MakeChat, language: str) -> None:
    question, answer, other, thanks = CONVERSATIONS[language]
    chat = await karma_chat(make_chat, language=language)
    await chat.say("alice", question)
    await chat.say("bob", answer)
    await chat.say("carol", other)
    await chat.say("alice", thanks)
    assert awards(chat) == []
    blocked = [d.data for d in chat.decisions if d.kind == "karma_blocked"]
    assert blocked == [
        {
            "giver": key("alice"),
            "receiver": None,
            "rule": "ambiguous",
            "candidates": [key("bob"), key("carol")],
        }
    ]
    assert await totals(chat) == {}


async def test_context_window_passed_credits_nobody(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, "[karma]\ncontext_window_minutes = 10\n")
    await chat.say("alice", "Wie geht das?")
    await chat.say("bob", "So.")
    wait(chat, minutes=9)
    await chat.say("alice", "Danke!")  # 10 minutes after bob's answer: still inside
    wait(chat, minutes=11)
    await chat.say("alice", "Danke nochmal!")
    assert awards(chat) == [(key("alice"), key("bob"), 1.0, None)]
    assert blocks(chat) == [(key("alice"), None, "no_receiver")]


async def test_reply_to_an_unknown_message_credits_nobody(make_chat: MakeChat) -> None:
    from bot.events import MessagePosted

    chat = await karma_chat(make_chat)
    await chat.send(
        MessagePosted(
            key="console:general:x",
            community="demo",
            chat="console:general",
            at=chat.clock(),
            message_id="x",
            author=chat.member("alice"),
            text="Danke!",
            reply_to="long-gone",
        )
    )
    assert blocks(chat) == [(key("alice"), None, "unknown_reply")]


# --- rings ------------------------------------------------------------------------------------

RING = """
[karma]
pair_cooldown_minutes = 0
reciprocal_cooldown_minutes = 0
weight_min = 1.0
ring_min_points = 5
"""


async def cases(chat: ConsoleChat) -> list[models.Case]:
    async with chat.engine.db.session() as session:
        return list((await session.execute(select(models.Case))).scalars())


async def test_a_ring_is_reduced_and_put_before_moderators_once(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, RING)
    await chat.say("alice", "hallo")
    await chat.say("alice", "danke @bob")
    await chat.say("bob", "danke @alice")
    await chat.say("alice", "danke @bob")
    await chat.say("bob", "danke @alice")
    assert awards(chat) == [
        (key("alice"), key("bob"), 2.0, None),
        (key("bob"), key("alice"), 2.0, None),
        (key("alice"), key("bob"), 0.5, "ring"),
        (key("bob"), key("alice"), 0.5, "ring"),
    ]
    assert blocks(chat) == [
        (key("alice"), key("bob"), "ring"),
        (key("bob"), key("alice"), "ring"),
    ]
    (case,) = await cases(chat)
    assert (case.kind, case.status, case.subject) == ("ring", "open", "console:alice,console:bob")
    assert case.evidence["members"] == [key("alice"), key("bob")]
    reviews = [a for a in chat.sent if isinstance(a, ReviewRequest)]
    assert len(reviews) == 1
    assert reviews[0].chat == "console:mods"
    assert [b.custom_id for b in reviews[0].buttons] == [
        f"case:{case.id}:confirm",
        f"case:{case.id}:dismiss",
    ]
    assert [d.data["case"] for d in chat.decisions if d.kind == "case_opened"] == [case.id]


async def test_helpers_with_karma_from_many_are_no_ring(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, RING)
    await chat.say("alice", "hallo")
    await chat.say("alice", "danke @bob")
    await chat.say("bob", "danke @alice")
    for name in ("carol", "dave", "erin"):
        await chat.say(name, "danke @bob")
    await chat.say("alice", "danke @bob")
    assert [rule for *_, rule in awards(chat)] == [None] * 6
    assert await cases(chat) == []


async def test_ring_window_and_dismissed_cases(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, RING)
    await chat.say("alice", "hallo")
    for _ in range(2):
        await chat.say("alice", "danke @bob")
        await chat.say("bob", "danke @alice")
    (case,) = await cases(chat)
    async with chat.engine.db.session() as session:
        await session.execute(
            update(models.Case)
            .where(models.Case.id == case.id)  # type: ignore[arg-type]
            .values(status="dismissed", closed_at=chat.clock())
        )
    await chat.say("alice", "danke @bob")  # moderators found the group fine
    wait(chat, days=8)
    await chat.say("bob", "danke @alice")  # older exchanges left the window
    assert [rule for *_, rule in awards(chat)] == [None, None, "ring", "ring", None, None]
    assert len(await cases(chat)) == 1


async def test_a_ring_factor_of_zero_blocks_but_still_opens_the_case(make_chat: MakeChat) -> None:
    chat = await karma_chat(make_chat, RING + "ring_factor = 0\n")
    await chat.say("alice", "hallo")
    for _ in range(2):
        await chat.say("alice", "danke @bob")
        await chat.say("bob", "danke @alice")
    assert [rule for *_, rule in awards(chat)] == [None, None]
    assert blocks(chat) == [
        (key("alice"), key("bob"), "ring"),
        (key("bob"), key("alice"), "ring"),
    ]
    assert len(await cases(chat)) == 1
    assert await totals(chat) == {key("alice"): 2.0, key("bob"): 2.0}
