"""/karma, /karma why, /top, moderators' give and take, levels and acknowledgements."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from adapters.console import ConsoleChat, TestClock
from bot.actions import React, Reply, SetRole
from bot.events import Member, MessagePosted
from bot.features.karma import KarmaFeature
from bot.locales import get_locale
from storage import models
from storage.repositories import Store
from tests.conftest import START, MakeChat, introduce


def wait(chat: ConsoleChat, **delta: float) -> None:
    clock = chat.clock
    assert isinstance(clock, TestClock)
    clock.advance(timedelta(**delta))


def replies(chat: ConsoleChat, since: int = 0) -> list[str]:
    return [a.text for a in chat.sent[since:] if isinstance(a, Reply)]


async def ask(chat: ConsoleChat, who: str, command: str) -> str:
    before = len(chat.sent)
    await chat.say(who, command)
    (text,) = replies(chat, before)
    return text


async def scene(make_chat: MakeChat, language: str = "de") -> ConsoleChat:
    """bob answers and gets thanks and a star; carol gets thanks from dave."""
    chat = await make_chat(features=[KarmaFeature()], language=language)
    answer = await chat.say("bob", "Stecker ziehen, zehn Sekunden warten.")
    await chat.say("alice", "Danke!" if language == "de" else "Thanks!", reply_to=answer)
    await chat.react("carol", answer, "⭐")
    await chat.say("dave", "danke @carol" if language == "de" else "thanks @carol")
    return chat


async def set_member(chat: ConsoleChat, name: str, **values: object) -> None:
    async with chat.engine.db.session() as session:
        await session.execute(
            update(models.Member)
            .where(models.Member.key == f"console:{name}")  # type: ignore[arg-type]
            .values(**values)
        )


@pytest.mark.parametrize(
    ("who", "command", "text"),
    [
        ("bob", "/karma", "bob: 1,5 Karma (+1,5 diese Woche) · Rang 1 von 2 · Stufe: Neu"),
        ("carol", "/karma", "carol: 1 Karma (+1 diese Woche) · Rang 2 von 2 · Stufe: Neu"),
        ("alice", "/karma", "alice: 0 Karma (+0 diese Woche) · noch ohne Rang · Stufe: Neu"),
        ("alice", "/karma @bob", "bob: 1,5 Karma (+1,5 diese Woche) · Rang 1 von 2 · Stufe: Neu"),
        ("alice", "/karma @nobody", "Ich kenne @\u200bnobody hier noch nicht."),
    ],
)
async def test_karma_german(make_chat: MakeChat, who: str, command: str, text: str) -> None:
    chat = await scene(make_chat)
    assert await ask(chat, who, command) == text


async def test_karma_english_and_about_a_replied_member(make_chat: MakeChat) -> None:
    chat = await scene(make_chat, language="en")
    expected = "bob: 1.5 karma (+1.5 this week) · rank 1 of 2 · level: Newcomer"
    assert await ask(chat, "bob", "/karma") == expected
    await chat.say("erin", "/karma", reply_to=1)  # about the author of message 1
    assert replies(chat)[-1] == expected


async def test_karma_why(make_chat: MakeChat) -> None:
    chat = await scene(make_chat)
    assert await ask(chat, "bob", "/karma why") == (
        "Die letzten Karma-Änderungen von bob:\n"
        "+0,5 Reaktion von carol — #1 in console:general ⭐\n"
        "+1 Danke von alice — #2 in console:general"
    )
    await chat.say("mod", "/karma take @carol 1 Test")
    assert await ask(chat, "alice", "/karma why @carol") == (
        "Die letzten Karma-Änderungen von carol:\n"
        "-1 Moderation von mod — #6 in console:general (Test)\n"
        "+1 Danke von dave — #3 in console:general"
    )
    assert await ask(chat, "erin", "/karma why") == "erin hat noch keine Karma-Änderungen."


async def test_karma_why_english(make_chat: MakeChat) -> None:
    chat = await scene(make_chat, language="en")
    assert await ask(chat, "alice", "/karma why @bob") == (
        "Latest karma changes of bob:\n"
        "+0.5 reaction from carol — #1 in console:general ⭐\n"
        "+1 thanks from alice — #2 in console:general"
    )


async def test_top_by_period(make_chat: MakeChat) -> None:
    chat = await scene(make_chat)
    assert await ask(chat, "alice", "/top") == (
        "Die Hilfreichsten insgesamt:\n1. bob — 1,5\n2. carol — 1"
    )
    wait(chat, days=7)  # Monday of the next week, still November
    await chat.say("alice", "danke @carol")
    assert await ask(chat, "alice", "/top week") == "Die Hilfreichsten dieser Woche:\n1. carol — 1"
    assert await ask(chat, "alice", "/top monat") == (
        "Die Hilfreichsten dieses Monats:\n1. carol — 2\n2. bob — 1,5"
    )
    assert await ask(chat, "alice", "/top year") == "So geht's: /top [week|month|all]"


async def test_top_english_and_empty(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()], language="en")
    assert await ask(chat, "alice", "/top week") == "Nobody has karma in this period yet."
    await chat.say("bob", "hi")
    await chat.say("alice", "thanks @bob")
    assert await ask(chat, "alice", "/top all") == "Most helpful overall:\n1. bob — 1"


async def test_opted_out_members_are_hidden_from_others(make_chat: MakeChat) -> None:
    chat = await scene(make_chat)
    await set_member(chat, "bob", opted_out=True)
    await set_member(chat, "dave", opted_out=True)
    assert await ask(chat, "alice", "/top") == (
        "Die Hilfreichsten insgesamt:\n1. (verborgen) — 1,5\n2. carol — 1"
    )
    assert await ask(chat, "alice", "/karma @bob") == (
        "bob möchte nicht, dass man ihr oder sein Karma sieht."
    )
    assert (await ask(chat, "bob", "/karma")).startswith("bob: 1,5 Karma")
    assert await ask(chat, "bob", "/top") == (
        "Die Hilfreichsten insgesamt:\n1. bob — 1,5\n2. carol — 1"
    )
    assert await ask(chat, "carol", "/karma why") == (
        "Die letzten Karma-Änderungen von carol:\n+1 Danke von (verborgen) — #3 in console:general"
    )


async def ledger_rows(chat: ConsoleChat) -> list[tuple[str | None, str, float, str, str | None]]:
    async with chat.engine.db.session() as session:
        rows = (await session.execute(select(models.KarmaEntry))).scalars()
        return [(r.giver, r.receiver, r.points, r.reason, r.note) for r in rows]


async def test_give_and_take_are_for_moderators(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()])
    await chat.say("bob", "hallo")
    assert await ask(chat, "alice", "/karma give @bob 5 nett") == (
        "/karma give ist Moderatorinnen und Moderatoren vorbehalten."
    )
    assert await ask(chat, "alice", "/karma take @bob 5 frech") == (
        "/karma take ist Moderatorinnen und Moderatoren vorbehalten."
    )
    refused = [d.data for d in chat.decisions if d.kind == "refused"]
    assert refused == [
        {"command": "karma give", "user": "console:alice"},
        {"command": "karma take", "user": "console:alice"},
    ]
    assert await ask(chat, "mod", "/karma give @bob 5 sehr hilfreich") == (
        "mod gibt bob 5 Karma: sehr hilfreich"
    )
    assert await ask(chat, "mod", "/karma take @bob 2,5 Spam") == "mod nimmt bob 2,5 Karma: Spam"
    usage = "So geht's: /karma give @name PUNKTE GRUND (Punkte zwischen 0 und 100)"
    assert await ask(chat, "mod", "/karma give @bob") == usage
    assert await ask(chat, "mod", "/karma give @bob 500 zu viel") == usage
    assert await ask(chat, "mod", "/karma give @bob -5 negativ") == usage
    unknown = "Ich kenne @\u200bnobody hier noch nicht."
    assert await ask(chat, "mod", "/karma give @nobody 5 x") == unknown
    assert await ledger_rows(chat) == [
        ("console:mod", "console:bob", 5.0, "moderator", "sehr hilfreich"),
        ("console:mod", "console:bob", -2.5, "moderator", "Spam"),
    ]
    async with chat.engine.db.session() as session:
        log = (await session.execute(select(models.ModLogEntry))).scalars().all()
        assert [(e.actor, e.action, e.detail) for e in log] == [
            ("console:alice", "refused", "/karma give"),
            ("console:alice", "refused", "/karma take"),
            ("console:mod", "karma_give", "+5 sehr hilfreich"),
            ("console:mod", "karma_take", "-2.5 Spam"),
        ]


@pytest.mark.parametrize("impostor_first", [True, False])
async def test_give_credits_the_username_not_a_copied_display_name(
    make_chat: MakeChat, impostor_first: bool
) -> None:
    chat = await make_chat(features=[KarmaFeature()], language="en")
    real = ("console:111", "Alice Real", "alice")
    impostor = ("console:222", "alice", "mallory")
    for member in (impostor, real) if impostor_first else (real, impostor):
        await introduce(chat, *member)
    assert await ask(chat, "mod", "/karma give @alice 5 helpful") == (
        "mod gives Alice Real 5 karma: helpful"
    )
    assert await ledger_rows(chat) == [("console:mod", "console:111", 5.0, "moderator", "helpful")]


ANNA_DE = "Hier heißen mehrere Mitglieder @\u200bAnna. Bitte nimm den Benutzernamen des gemeinten"
ANNA_EN = "Several members here are called @\u200bAnna. Please use the username of the one you mean"


@pytest.mark.parametrize(
    ("language", "give", "view"),
    [
        (
            "de",
            f"{ANNA_DE} Mitglieds (@…).",
            f"{ANNA_DE} Mitglieds (@…) oder schick den Befehl als Antwort auf eine seiner"
            " Nachrichten.",
        ),
        (
            "en",
            f"{ANNA_EN} (@…).",
            f"{ANNA_EN} (@…), or send the command as a reply to one of their messages.",
        ),
    ],
)
async def test_a_shared_display_name_gets_no_karma(
    make_chat: MakeChat, language: str, give: str, view: str
) -> None:
    chat = await make_chat(features=[KarmaFeature()], language=language)
    await introduce(chat, "console:301", "Anna", None)
    await introduce(chat, "console:302", "anna", None)
    # /karma give takes no reply; a view of someone also works as a reply.
    assert await ask(chat, "mod", "/karma give @Anna 5 x") == give
    assert await ask(chat, "mod", "/karma @Anna") == view
    assert await ledger_rows(chat) == []


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "de",
            "Dein eigenes Karma kannst du nicht ändern, auch nicht als Moderatorin oder Moderator.",
        ),
        ("en", "You cannot change your own karma, not even as a moderator."),
    ],
)
async def test_moderators_cannot_change_their_own_karma(
    make_chat: MakeChat, language: str, text: str
) -> None:
    chat = await make_chat(features=[KarmaFeature()], language=language)
    await chat.say("mod", "hallo")
    async with chat.engine.db.session() as session:
        await Store(session).members.ensure("telegram:4711", "Mod T.", "modt", False, START)
        await session.execute(
            update(models.Member)
            .where(col(models.Member.key).in_(["console:mod", "telegram:4711"]))
            .values(person="person:console:mod")
        )
    assert await ask(chat, "mod", "/karma give @mod 50 selbst") == text
    assert await ask(chat, "mod", "/karma take @mod 5 selbst") == text
    # A linked account is the same person.
    assert await ask(chat, "mod", "/karma give telegram:4711 50 anderes Konto") == text
    assert await ledger_rows(chat) == []
    assert [d.kind for d in chat.decisions if d.kind != "reply"] == []
    async with chat.engine.db.session() as session:
        assert (await session.execute(select(models.ModLogEntry))).scalars().all() == []


@pytest.mark.parametrize("amount", ["0.001", "0,004", "0.0049"])
async def test_amounts_that_round_to_nothing_are_refused(make_chat: MakeChat, amount: str) -> None:
    chat = await make_chat(features=[KarmaFeature()], language="en")
    await chat.say("bob", "hi")
    usage = "Usage: /karma give @name POINTS REASON (points between 0 and 100)"
    assert await ask(chat, "mod", f"/karma give @bob {amount} test") == usage
    assert await ledger_rows(chat) == []


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "de",
            [
                "📋 Karma vergeben mod → bob: +5 hilfreich",
                "📋 Karma abgezogen mod → bob: -2.5 Spam",
            ],
        ),
        ("en", ["📋 karma given mod → bob: +5 hilfreich", "📋 karma taken mod → bob: -2.5 Spam"]),
    ],
)
async def test_give_and_take_go_through_the_mod_log(
    make_chat: MakeChat, language: str, lines: list[str]
) -> None:
    chat = await make_chat(
        'log_chat = "console:modlog"\n', features=[KarmaFeature()], language=language
    )
    await chat.say("bob", "hallo")
    await chat.say("mod", "/karma give @bob 5 hilfreich")
    await chat.say("mod", "/karma take @bob 2,5 Spam")
    posted = [a.text for a in chat.sent if isinstance(a, Reply) and a.chat == "console:modlog"]
    assert posted == lines
    assert [d.data for d in chat.decisions if d.kind == "mod_action"] == [
        {
            "action": f"karma_{action}",
            "actor": "console:mod",
            "target": "console:bob",
            "case": None,
            "points": points,
        }
        for action, points in (("give", 5.0), ("take", -2.5))
    ]
    async with chat.engine.db.session() as session:
        log = (await session.execute(select(models.ModLogEntry))).scalars().all()
        assert [(e.actor, e.action, e.target, e.detail) for e in log] == [
            ("console:mod", "karma_give", "console:bob", "+5 hilfreich"),
            ("console:mod", "karma_take", "console:bob", "-2.5 Spam"),
        ]


LEVELS = """
[karma]
levels = [
  { name = "Neu", threshold = 0 },
  { name = "Helfer", threshold = 1, discord_role = "111" },
  { name = "Mentor", threshold = 3, discord_role = "222" },
]
"""


async def test_level_ups_are_announced_once(make_chat: MakeChat) -> None:
    chat = await make_chat(LEVELS, features=[KarmaFeature()])
    await chat.say("bob", "hallo")
    await chat.say("mod", "/karma give @bob 1 gut")
    await chat.say("mod", "/karma take @bob 1 doch nicht")
    await chat.say("mod", "/karma give @bob 1 doch gut")
    assert replies(chat) == [
        "mod gibt bob 1 Karma: gut",
        "🎉 bob ist jetzt Helfer!",
        "mod nimmt bob 1 Karma: doch nicht",
        "mod gibt bob 1 Karma: doch gut",
    ]
    assert not any(isinstance(a, SetRole) for a in chat.sent)  # no roles outside Discord
    levels = [d.data for d in chat.decisions if d.kind == "karma_level"]
    assert levels == [{"member": "console:bob", "level": "Helfer", "total": 1.0}]


async def test_default_levels_are_translated(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[KarmaFeature()], language="en")
    await chat.say("bob", "hi")
    await chat.say("mod", "/karma give @bob 10 great answers")
    assert replies(chat)[-1] == "🎉 bob is now Helper!"


async def test_discord_level_roles(make_chat: MakeChat) -> None:
    chat = await make_chat(LEVELS, features=[KarmaFeature()])

    def member(name: str) -> Member:
        return Member(key=f"discord:{name}", name=name, username=name)

    async def post(number: int, name: str, text: str, reply_to: str | None = None) -> None:
        await chat.send(
            MessagePosted(
                key=f"discord:9:{number}",
                community="demo",
                chat="discord:9",
                at=chat.clock(),
                message_id=str(number),
                author=member(name),
                text=text,
                reply_to=reply_to,
            )
        )

    await post(1, "bob", "So geht's.")
    await post(2, "alice", "Danke!", reply_to="1")
    await post(3, "carol", "Danke!", reply_to="1")
    await post(4, "dave", "Danke!", reply_to="1")
    roles = [(a.member, a.role, a.add) for a in chat.sent if isinstance(a, SetRole)]
    assert roles == [
        ("discord:bob", "111", True),
        ("discord:bob", "111", False),
        ("discord:bob", "222", True),
    ]
    assert all(a.chat == "discord:9" for a in chat.sent if isinstance(a, SetRole))
    assert replies(chat) == ["🎉 bob ist jetzt Helfer!", "🎉 bob ist jetzt Mentor!"]


async def test_acknowledgement_messages_are_rate_limited(make_chat: MakeChat) -> None:
    extra = '[karma]\nacknowledge = "message"\nacknowledge_interval_minutes = 10\n'
    chat = await make_chat(extra, features=[KarmaFeature()])
    for name in ("bob", "carol", "dave"):
        await chat.say(name, "hallo")
    await chat.say("alice", "danke @bob")
    await chat.say("carol", "danke @bob")  # within 10 minutes: no second message
    wait(chat, minutes=10)
    await chat.say("dave", "danke @bob @carol")
    variants = get_locale("de").variants("karma.ack")
    first, second = replies(chat)
    assert first in {v.format(names="bob") for v in variants}
    assert second in {v.format(names="bob, carol") for v in variants}
    assert not any(isinstance(a, React) for a in chat.sent)
    assert len([d for d in chat.decisions if d.kind == "karma"]) == 4


async def test_silent_acknowledgement(make_chat: MakeChat) -> None:
    chat = await make_chat('[karma]\nacknowledge = "silent"\n', features=[KarmaFeature()])
    await chat.say("bob", "hallo")
    await chat.say("alice", "danke @bob")
    assert chat.sent == []
    assert [d.kind for d in chat.decisions] == ["karma"]


@pytest.mark.parametrize("seed", [2, 3, 4])
async def test_top_and_ranks_from_balances_match_the_ledger_with_linked_accounts(
    make_chat: MakeChat, seed: int
) -> None:
    """/top and /karma read the kept balances in order; linked accounts count as one
    person even when each account alone is far from the top. The expected answers are
    computed here from the ledger."""
    rng = random.Random(seed)
    chat = await make_chat("[karma]\ntop_size = 4\n", features=[KarmaFeature()], language="en")
    names = [f"m{n:02d}" for n in range(24)]
    for name in names:
        await chat.say(name, "hello")
    persons = {name: f"p{rng.randrange(4)}" for name in rng.sample(names, 9)}
    async with chat.engine.db.session() as session:
        store = Store(session)
        for n, name in enumerate(names * 2):
            await store.karma.add(
                community="demo",
                receiver=f"console:{name}",
                points=rng.choice([-1.0, 0.5, 1.0, 1.25, 2.0, 3.0]),
                reason="moderator",
                event_key=f"seed:{n}",
                at=START,
            )
    for name, person in persons.items():
        await set_member(chat, name, person=person)
    async with chat.engine.db.session() as session:
        ledger = await Store(session).karma.totals("demo")
    merged: dict[str, float] = {}
    shown: dict[str, str] = {}  # person -> the smallest account key, whose name is shown
    for key, points in ledger.items():
        person = persons.get(key.removeprefix("console:"), key)
        merged[person] = merged.get(person, 0.0) + points
        shown[person] = min(shown.get(person, key), key)
    ranked = sorted(
        ((round(p, 2), shown[k]) for k, p in merged.items() if p > 0),
        key=lambda x: (-x[0], x[1]),
    )
    # What reading the balances in order must get right: a person whose accounts are
    # each outside the top, and who is inside it merged.
    fourth = ranked[3][0]
    outside_alone_inside_merged = [
        person
        for person in set(persons.values()) & merged.keys()
        if merged[person] >= fourth
        and max(p for k, p in ledger.items() if persons.get(k[8:]) == person) < fourth
    ]
    assert outside_alone_inside_merged, "each seed here makes such a person"
    lines = [get_locale("en").t("karma.top_title_all")] + [
        f"{rank}. {key.removeprefix('console:')} — {points:g}"
        for rank, (points, key) in enumerate(ranked[:4], start=1)
    ]
    assert await ask(chat, "m00", "/top") == "\n".join(lines)
    for name in names[:12]:
        total = merged[persons.get(name, f"console:{name}")]
        text = await ask(chat, name, "/karma")
        if total > 0:
            rank = 1 + sum(1 for p in merged.values() if p > total + 1e-9)
            assert f"rank {rank} of {len(ranked)}" in text, (name, text)
        else:
            assert "not ranked yet" in text, (name, text)
