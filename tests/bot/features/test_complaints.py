"""The complaints feature in a console chat: replies, moderator pings, cases, escalation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from adapters.console import ConsoleChat
from bot.actions import React, Reply, ReviewRequest
from bot.config import ConfigError
from bot.features.base import Decision
from bot.features.complaints import ComplaintsFeature
from bot.locales import get_locale
from storage import models
from tests.conftest import START, MakeApp, MakeChat

HOURS = """
[complaints]
support_hours = "Mo–Fr 9–17 Uhr"
support_hours_by_language = { en = "Mon–Fri 9am–5pm" }
"""
LOW = {"de": "Die App stürzt beim Öffnen ab.", "en": "The app crashes when I open it."}
BROKEN = {"de": "broken:stürzt beim öffnen ab", "en": "broken:crashes"}
HIGH = {
    "de": "Ich wende mich jetzt an die Verbraucherzentrale.",
    "en": "I'm going to sue you over this.",
}


def variants(language: str, key: str, hours: str, name: str = "alice") -> set[str]:
    """Every template of a kind, filled in as the bot would."""
    locale = get_locale(language)
    return {t.format(name=name, hours=hours) for t in locale.variants(f"complaints.{key}")}


def replies(chat: ConsoleChat) -> list[Reply]:
    return [a for a in chat.sent if isinstance(a, Reply)]


def reviews(chat: ConsoleChat) -> list[ReviewRequest]:
    return [a for a in chat.sent if isinstance(a, ReviewRequest)]


def decisions(chat: ConsoleChat, kind: str) -> list[Decision]:
    return [d for d in chat.decisions if d.kind == kind]


async def rows(chat: ConsoleChat, model: Any) -> list[Any]:
    async with chat.engine.db.session() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


@pytest.mark.parametrize(
    ("language", "hours"), [("de", "Mo–Fr 9–17 Uhr"), ("en", "Mon–Fri 9am–5pm")]
)
async def test_a_low_complaint_gets_a_humorous_reply_with_the_support_hours(
    make_chat: MakeChat, language: str, hours: str
) -> None:
    chat = await make_chat(HOURS, features=[ComplaintsFeature()], language=language)
    await chat.say("alice", LOW[language])
    [reply] = replies(chat)
    assert reply.reply_to == "1" and reply.chat == "console:general"
    assert hours in reply.text
    assert reply.text in variants(language, "low", hours)
    assert reviews(chat) == []
    [complaint] = decisions(chat, "complaint")
    assert complaint.message_id == "1"
    assert complaint.data == {
        "user": "console:alice",
        "score": 0.55,
        "severity": "low",
        "signals": [BROKEN[language], "target:app"],
        "case": 1,
        "response": "reply",
    }
    assert [d.data["text"] for d in decisions(chat, "reply")] == [reply.text]
    [case] = await rows(chat, models.Case)
    assert (case.kind, case.status, case.subject, case.message_id) == (
        "complaint",
        "open",
        "console:alice",
        "1",
    )
    assert case.opened_at == START and case.due_at == START + timedelta(hours=24)
    [row] = await rows(chat, models.Complaint)
    assert (row.case_id, row.member, row.severity, row.score) == (1, "console:alice", "low", 0.55)


async def test_a_message_clearly_in_the_other_language_is_answered_in_it(
    make_chat: MakeChat,
) -> None:
    chat = await make_chat(HOURS, features=[ComplaintsFeature()], language="de")
    await chat.say("alice", "My account is still locked and nobody answers, this is the worst.")
    await chat.say("bob", "Die App stürzt beim Öffnen ab.")
    first, second = replies(chat)
    assert first.text in variants("en", "medium", "Mon–Fri 9am–5pm")
    assert second.text in variants("de", "low", "Mo–Fr 9–17 Uhr", name="bob")


@pytest.mark.parametrize("language", ["de", "en"])
async def test_high_severity_gets_a_serious_reply_and_pings_the_moderators(
    make_chat: MakeChat, language: str
) -> None:
    chat = await make_chat(features=[ComplaintsFeature()], language=language)
    await chat.say("alice", HIGH[language])
    [reply] = replies(chat)
    hours = get_locale(language).t("complaints.support_hours")
    humour = variants(language, "low", hours) | variants(language, "medium", hours)
    assert reply.text in variants(language, "high", hours)
    assert reply.text not in humour
    [review] = reviews(chat)
    assert review.chat == "console:mods" and review.case_id == 1
    assert "#1" in review.text and "alice" in review.text and "console:general" in review.text
    assert decisions(chat, "complaint")[0].data["severity"] == "high"


async def test_a_safety_complaint_adds_the_emergency_note(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Das Ladegerät qualmt und riecht verbrannt!")
    [reply] = replies(chat)
    assert reply.text.endswith(" Falls jemand in Gefahr ist: Bitte wähle sofort den Notruf 112.")
    assert len(reviews(chat)) == 1


@pytest.mark.parametrize(
    ("language", "text", "note"),
    [
        ("de", "Ich will einfach nicht mehr leben", "TelefonSeelsorge"),
        ("en", "honestly i want to end it all", "findahelpline.com"),
    ],
)
async def test_thoughts_of_suicide_get_the_crisis_note_and_no_joke(
    make_chat: MakeChat, language: str, text: str, note: str
) -> None:
    chat = await make_chat(features=[ComplaintsFeature()], language=language)
    await chat.say("alice", text)
    [reply] = replies(chat)
    hours = get_locale(language).t("complaints.support_hours")
    crisis = get_locale(language).t("complaints.crisis_note")
    assert note in crisis and reply.text.endswith(" " + crisis)
    assert reply.text.removesuffix(" " + crisis) in variants(language, "high", hours)
    # The moderators are told at once, not at the next escalation.
    [review] = reviews(chat)
    assert review.chat == "console:mods" and "alice" in review.text
    assert decisions(chat, "complaint")[0].data["severity"] == "high"


@pytest.mark.parametrize(
    ("who", "how", "resolves"),
    [
        ("mod", "reply to the complaint", True),
        ("mod", "reply to the bot's answer", True),
        ("mod", "mention", True),
        ("mod", "reply to a later message of the complainer", True),
        ("helper", "reply to the complaint", True),
        ("bob", "reply to the complaint", False),
        ("mod", "reply to someone else", False),
        ("mod", "no reply", False),
    ],
)
async def test_a_moderator_or_helper_answer_resolves_the_case(
    make_chat: MakeChat, who: str, how: str, resolves: bool
) -> None:
    extra = '[complaints]\nhelpers = ["console:helper"]\n'
    chat = await make_chat(extra, features=[ComplaintsFeature()])
    await chat.say("carol", "Guten Morgen!")  # 1
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")  # 2, the bot answers as 3
    await chat.say("alice", "Hallo? Ich brauche das heute noch.")  # 4
    assert [line.author for line in chat.lines] == ["carol", "alice", "bot", "alice"]
    chat.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    if how == "mention":
        await chat.say(who, "@alice wir schauen uns das gleich an")
    elif how == "no reply":
        await chat.say(who, "wir schauen uns das gleich an")
    else:
        target = {
            "reply to the complaint": 2,
            "reply to the bot's answer": 3,
            "reply to a later message of the complainer": 4,
            "reply to someone else": 1,
        }[how]
        await chat.say(who, "Wir schauen uns das gleich an.", reply_to=target)
    [case] = await rows(chat, models.Case)
    resolved = decisions(chat, "complaint_resolved")
    if not resolves:
        assert resolved == [] and case.status == "open" and case.first_response_at is None
        return
    # The complaint came at 09:01, the answer at 09:33 (the clock moves a minute per event).
    assert [d.data for d in resolved] == [
        {"case": 1, "responder": f"console:{who}", "response_minutes": 32.0}
    ]
    assert resolved[0].message_id == "5"
    assert case.status == "resolved" and case.closed_by == f"console:{who}"
    assert case.first_response_at == case.closed_at == START + timedelta(minutes=33)
    assert case.first_response_at - case.opened_at == timedelta(minutes=32)
    events = [e.action for e in await rows(chat, models.CaseEvent)]
    assert events == ["opened", "resolved"]


async def test_an_unanswered_case_escalates_once_after_the_deadline(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Ich warte seit drei Tagen auf eine Antwort vom Support.")
    chat.clock.advance(timedelta(hours=23))  # type: ignore[attr-defined]
    await chat.tick()
    assert decisions(chat, "complaint_escalated") == [] and reviews(chat) == []
    chat.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    await chat.tick()
    await chat.tick()
    assert [d.data for d in decisions(chat, "complaint_escalated")] == [{"case": 1}]
    [review] = reviews(chat)
    assert review.chat == "console:mods" and review.case_id == 1
    assert review.text == (
        "⏰ Beschwerde #1 von alice in console:general wartet seit 24 Stunden auf eine Antwort "
        "von einem Menschen."
    )
    [case] = await rows(chat, models.Case)
    assert case.status == "open" and case.escalated_at == START + timedelta(hours=24, minutes=2)


async def test_in_one_replay_batch_a_case_escalates_once_and_an_answered_one_never(
    make_chat: MakeChat,
) -> None:
    # A replay shares one transaction among its events: each must see what the ones
    # before it changed (the escalation, the answer), not the state at the batch's start.
    chat = await make_chat(features=[ComplaintsFeature()])
    async with chat.engine.batch(size=500):
        await chat.say("alice", "Ich warte seit drei Tagen auf eine Antwort vom Support.")
        bob = await chat.say("bob", "Die App stürzt beim Öffnen ab.")
        await chat.say("mod", "Ist weitergegeben!", reply_to=bob)
        for _ in range(5):
            chat.clock.advance(timedelta(hours=12))  # type: ignore[attr-defined]
            await chat.tick()
    assert [d.data for d in decisions(chat, "complaint_escalated")] == [{"case": 1}]
    assert [r.case_id for r in reviews(chat)] == [1]
    cases = await rows(chat, models.Case)
    assert [(c.id, c.status, c.escalated_at is not None) for c in cases] == [
        (1, "open", True),
        (2, "resolved", False),
    ]
    escalated = [e for e in await rows(chat, models.CaseEvent) if e.action == "escalated"]
    logged = [e for e in await rows(chat, models.ModLogEntry) if e.action == "complaint_escalated"]
    assert [e.case_id for e in escalated] == [e.case_id for e in logged] == [1]


async def test_an_answered_case_does_not_escalate(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Ich warte seit drei Tagen auf eine Antwort vom Support.")
    await chat.say("mod", "Ist weitergegeben!", reply_to=1)
    chat.clock.advance(timedelta(hours=25))  # type: ignore[attr-defined]
    await chat.tick()
    assert decisions(chat, "complaint_escalated") == [] and reviews(chat) == []


async def test_one_reply_per_member_per_cooldown(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")
    chat.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    await chat.say("alice", "Und die Seite lädt auch nicht mehr.")
    await chat.say("bob", "Bei mir stürzt die App auch ab.")
    chat.clock.advance(timedelta(hours=5))  # type: ignore[attr-defined]
    await chat.say("alice", "Der Login klappt immer noch nicht.")
    assert [r.reply_to for r in replies(chat)] == ["1", "4", "6"]
    found = [
        (d.data["user"], d.data["severity"], d.data["response"])
        for d in decisions(chat, "complaint")
    ]
    assert found == [
        ("console:alice", "low", "reply"),
        # A second complaint of the same member within three days is at least medium.
        ("console:alice", "medium", "cooldown"),
        ("console:bob", "low", "reply"),
        ("console:alice", "medium", "reply"),
    ]
    assert decisions(chat, "complaint")[1].data["signals"][-1] == "repeated"
    assert len(await rows(chat, models.Case)) == 4


async def test_never_two_answers_in_one_thread(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")  # 1, answered as 2
    chat.clock.advance(timedelta(hours=8))  # type: ignore[attr-defined]
    await chat.say("alice", "Das ist doch echt lächerlich!", reply_to=2)  # 3
    await chat.say("bob", "Bei mir ist sie auch kaputt.", reply_to=1)  # 4
    await chat.say("carol", "Echt ärgerlich, dieser Absturz.", reply_to=4)  # 5
    assert [r.reply_to for r in replies(chat)] == ["1"]
    follow_ups = [d.data for d in decisions(chat, "complaint")][1:]
    assert [(d["user"], d["case"], d["follow_up"]) for d in follow_ups] == [
        ("console:alice", 1, True),
        ("console:bob", 1, True),
        ("console:carol", 1, True),
    ]
    assert len(await rows(chat, models.Case)) == 1
    events = [e.action for e in await rows(chat, models.CaseEvent)]
    assert events == ["opened", "follow_up", "follow_up", "follow_up"]


async def test_no_answer_after_a_person_answered_the_thread(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")  # 1, answered as 2
    await chat.say("mod", "Schaue ich mir an.", reply_to=1)  # 3
    chat.clock.advance(timedelta(hours=8))  # type: ignore[attr-defined]
    await chat.say("alice", "Immer noch kaputt!", reply_to=3)  # 4
    assert [r.reply_to for r in replies(chat)] == ["1"]
    # A new case, so that a person looks again, but the bot stays out of the conversation.
    assert [(c.status, c.message_id) for c in await rows(chat, models.Case)] == [
        ("resolved", "1"),
        ("open", "4"),
    ]
    assert decisions(chat, "complaint")[-1].data["response"] == "thread"


async def test_a_thread_turning_serious_pings_the_moderators(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")
    await chat.say("alice", "Jetzt sind alle meine Fotos weg!", reply_to=1)
    await chat.say("alice", "Und meine Dateien sind auch gelöscht!", reply_to=1)
    assert len(replies(chat)) == 1
    [review] = reviews(chat)
    assert review.case_id == 1 and "Fotos" in review.text


async def test_disabled_in_one_chat(make_chat: MakeChat) -> None:
    extra = """
[communities.chats."console:offtopic".complaints]
enabled = false
"""
    chat = await make_chat(extra, features=[ComplaintsFeature()])
    await chat.say("alice", "Die App stürzt beim Öffnen ab.", chat="offtopic")
    await chat.say("alice", "Ich gehe zum Anwalt!", chat="offtopic")
    assert chat.sent == [] and decisions(chat, "complaint") == []
    await chat.say("bob", "Die App stürzt beim Öffnen ab.", chat="general")
    assert [r.chat for r in replies(chat)] == ["console:general"]


async def test_no_line_twice_in_a_chat_within_a_week(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    hours = get_locale("de").t("complaints.support_hours")
    members = [f"m{i}" for i in range(12)]
    for member in members:
        await chat.say(member, "Die App stürzt beim Öffnen ab.")
    texts = [r.text for r in replies(chat)]
    lines = [t.replace(m, "{name}") for t, m in zip(texts, members, strict=True)]
    # Ten variants: all ten are used before any comes again.
    assert len(set(lines[:10])) == 10
    assert all(
        t in variants("de", "low", hours, name=m) for t, m in zip(texts, members, strict=True)
    )
    assert lines[10] == lines[0] and lines[11] == lines[1]  # then the least recently used


async def test_owners_replace_the_templates_and_switch_humour_off(make_chat: MakeChat) -> None:
    extra = """
[complaints]
support_hours = "werktags ab 8"
humour = false
templates_high = ["{name}, das Team meldet sich {hours}."]
"""
    chat = await make_chat(extra, features=[ComplaintsFeature()])
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")
    await chat.say("bob", "Ich gehe zum Anwalt!")
    plain, high = replies(chat)
    assert plain.text in variants("de", "plain", "werktags ab 8")
    assert high.text == "bob, das Team meldet sich werktags ab 8."


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hallo {user}", "only {name} and {hours} are filled in"),
        ("Hallo {name", "expected '}' before end of string"),
    ],
)
async def test_templates_with_unknown_placeholders_are_refused(
    make_app: MakeApp, template: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        await make_app(
            f'[complaints]\ntemplates_low = ["{template}"]\n', features=[ComplaintsFeature()]
        )


@pytest.mark.parametrize(("mode", "kind"), [("react", React), ("silent", None)])
async def test_response_modes(make_chat: MakeChat, mode: str, kind: type | None) -> None:
    chat = await make_chat(
        f'[complaints]\nresponse_mode = "{mode}"\n', features=[ComplaintsFeature()]
    )
    await chat.say("alice", "Die App stürzt beim Öffnen ab.")
    await chat.say("bob", "Ich gehe zum Anwalt!")
    expected = [ReviewRequest] if kind is None else [kind, kind, ReviewRequest]
    assert [type(a) for a in chat.sent] == expected
    assert [d.data["response"] for d in decisions(chat, "complaint")] == [mode, mode]
    assert len(await rows(chat, models.Case)) == 2


async def test_ordinary_messages_and_moderators_are_left_alone(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[ComplaintsFeature()])
    await chat.say("alice", "Guten Morgen zusammen!")
    await chat.say("alice", "Wie kann ich mein Passwort zurücksetzen?")
    await chat.say("mod", "Der Server ist seit heute Morgen down, wir sind dran.")
    assert chat.sent == [] and chat.decisions == []
    assert await rows(chat, models.Case) == []


async def test_a_tick_reads_no_more_cases_when_many_stay_open(make_app: MakeApp) -> None:
    # Cases left open pile up over the months; a tick looks up the overdue ones and the
    # chats with open ones through indexes instead of walking them all.
    from bot.features.complaints.feature import due_cases_statement, open_chats_statement

    app = await make_app(features=[ComplaintsFeature()])
    async with app.db.session() as session:
        for chat in ("console:a", "console:b", "console:quiet"):
            session.add(models.Chat(key=chat, community="demo", first_seen=START))
        for n in range(3_000):
            session.add(
                models.Case(
                    community="demo",
                    kind="complaint",
                    subject=f"console:m{n}",
                    chat="console:a" if n % 2 else "console:b",
                    message_id=str(n),
                    score=1.0,
                    summary="low",
                    opened_at=START,
                    due_at=START + timedelta(hours=24),
                    escalated_at=None if n % 1000 == 0 else START + timedelta(hours=24),
                )
            )
        session.add(
            models.Case(
                community="demo",
                kind="complaint",
                status="resolved",
                chat="console:quiet",
                opened_at=START,
                due_at=START,
            )
        )
    now = START + timedelta(days=2)
    async with app.db.session() as session:
        connection = await session.connection()
        due = due_cases_statement("demo", now)
        chats = open_chats_statement("demo")
        assert len((await session.execute(due)).scalars().all()) == 3
        assert set((await session.execute(chats)).scalars()) == {"console:a", "console:b"}
        if connection.dialect.name != "sqlite":
            return  # PostgreSQL plans by its statistics: on a small table it scans it
        for stmt, index in ((due, "ix_cases_open_due"), (chats, "ix_cases_open_chat")):
            sql = str(stmt.compile(connection.engine, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(
                row[-1] for row in await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert index in plan and "SCAN cases" not in plan, plan
