"""The moderation feature: usage, refusals, warnings, notes, cases, appeals, buttons, mod log."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from adapters.console import ConsoleChat, TestClock
from bot.actions import Action, DirectMessage, Reply, Restrict, ReviewRequest
from bot.events import ButtonPressed
from bot.features.moderation import ModerationFeature, PrivacyFeature
from bot.locales import get_locale
from bot.text import defuse_mentions
from storage import models
from storage.repositories import Store
from tests.conftest import START, MakeChat, introduce

ZW = "\u200b"  # what defuse_mentions puts after "@"
_presses = itertools.count(1)


def features() -> list[Any]:
    """Both features of the package, fresh."""
    return [ModerationFeature(), PrivacyFeature()]


async def new_chat(make_chat: MakeChat, language: str, extra: str = "", **kw: Any) -> ConsoleChat:
    """A console chat with moderation and privacy, where alice and bob have spoken."""
    chat = await make_chat(extra, features=features(), language=language, **kw)
    await chat.say("alice", "Hallo zusammen")
    await chat.say("bob", "Moin")
    return chat


def clock(chat: ConsoleChat) -> TestClock:
    """The chat's test clock."""
    assert isinstance(chat.clock, TestClock)
    return chat.clock


def replies(actions: Sequence[Action], chat: str | None = "console:general") -> list[str]:
    """Texts of the replies among actions (in one chat, or in all)."""
    return [a.text for a in actions if isinstance(a, Reply) and (chat is None or a.chat == chat)]


async def said(console: ConsoleChat, who: str, text: str, **kw: Any) -> list[Action]:
    """Say something and return the actions it caused."""
    before = len(console.sent)
    await console.say(who, text, **kw)
    return console.sent[before:]


async def press(chat: ConsoleChat, who: str, custom_id: str, room: str = "mods") -> list[Action]:
    """Press a review button as ``who`` in a chat; returns the actions."""
    before = len(chat.sent)
    await chat.send(
        ButtonPressed(
            key=f"console:{room}:press:{next(_presses)}",
            community="demo",
            chat=f"console:{room}",
            at=chat.clock(),
            custom_id=custom_id,
            user=chat.member(who),
            message_id="99",
            user_is_moderator=True if who in chat.moderators else None,
        )
    )
    return chat.sent[before:]


async def all_rows(chat: ConsoleChat, model: Any) -> list[Any]:
    """Every row of a table, in id order."""
    async with chat.engine.db.session() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def log_actions(chat: ConsoleChat) -> list[tuple[str, str | None, str | None]]:
    """(action, actor, target) of every mod-log row."""
    return [(e.action, e.actor, e.target) for e in await all_rows(chat, models.ModLogEntry)]


async def open_case(
    chat: ConsoleChat,
    kind: str,
    subject: str | None,
    *,
    status: str = "open",
    closed_by: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> int:
    """A case as another feature would open it."""
    async with chat.engine.db.session() as session:
        case = await Store(session).cases.open(
            models.Case(
                community="demo",
                kind=kind,
                subject=subject,
                chat="console:general",
                message_id="1",
                summary=f"{kind} summary",
                evidence=evidence or {},
                opened_at=START,
                status=status,
                closed_by=closed_by,
                closed_at=START if closed_by else None,
            )
        )
        assert case.id is not None
        return case.id


async def case_row(chat: ConsoleChat, case_id: int) -> models.Case:
    """The stored case."""
    async with chat.engine.db.session() as session:
        found = await Store(session).cases.get("demo", case_id)
        assert found is not None
        return found


def t(language: str, key: str, **values: object) -> str:
    """A text of the locale."""
    return get_locale(language).t(key, **values)


def usage_text(language: str, command: str) -> str:
    """The answer to a wrong call."""
    return t(language, "core.usage", usage=t(language, f"moderation.usage.{command}"))


# --- usage and permissions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de", "So geht's: /warn @name Grund (oder als Antwort: /warn Grund)"),
        ("en", "Usage: /warn @name reason (or as a reply: /warn reason)"),
    ],
)
async def test_warn_usage_is_in_the_community_language(
    make_chat: MakeChat, language: str, expected: str
) -> None:
    chat = await new_chat(make_chat, language)
    assert replies(await said(chat, "mod", "/warn")) == [expected]


WRONG_CALLS = [
    ("mod", "/warn", "warn"),
    ("mod", "/warn @alice", "warn"),
    ("mod", "/warn Spam", "warn"),  # no member and no reply
    ("mod", "/note", "note"),
    ("mod", "/case", "case"),
    ("mod", "/case abc", "case"),
    ("mod", "/case 1 frobnicate", "case"),
    ("mod", "/case 1 assign", "case"),
    ("mod", "/case 1 assign somebody else", "case"),
    ("mod", "/cases sometimes", "cases"),
    ("mod", "/cases open all", "cases"),
    ("alice", "/appeal", "appeal"),
    ("alice", "/appeal 3", "appeal"),
    ("alice", "/appeal drei bitte", "appeal"),
    ("mod", "/config", "config"),
    ("mod", "/config show a b", "config"),
    ("mod", "/config set", "config"),
    ("mod", "/config set karma", "config"),
    ("mod", "/config set moderation 3", "config"),
    ("mod", "/config reset x", "config"),
    ("alice", "/mydata please", "mydata"),
    ("alice", "/forgetme now", "forgetme"),
    ("alice", "/optout now", "optout"),
    ("alice", "/optin now", "optin"),
]


@pytest.mark.parametrize("language", ["de", "en"])
async def test_wrong_calls_answer_with_the_usage(make_chat: MakeChat, language: str) -> None:
    # One chat for the whole table keeps this fast; a mismatch names its call.
    chat = await new_chat(make_chat, language)
    answered = [(text, replies(await said(chat, who, text))) for who, text, _ in WRONG_CALLS]
    assert answered == [(text, [usage_text(language, cmd)]) for _, text, cmd in WRONG_CALLS]
    assert await log_actions(chat) == []


MODERATOR_COMMANDS = ["warn", "unwarn", "note", "case", "cases", "config"]


def test_the_refusal_list_covers_every_moderator_command() -> None:
    declared = [s.name for s in ModerationFeature.commands if s.moderator_only]
    assert declared == MODERATOR_COMMANDS
    assert [s.name for s in PrivacyFeature.commands if s.moderator_only] == []


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("command", MODERATOR_COMMANDS)
async def test_every_moderator_command_refuses_members(
    make_chat: MakeChat, language: str, command: str
) -> None:
    chat = await new_chat(make_chat, language)
    actions = await said(chat, "alice", f"/{command} @bob 1 x")
    assert replies(actions) == [t(language, "core.moderators_only", command=command)]
    assert [(d.kind, d.data) for d in chat.decisions if d.kind != "reply"] == [
        ("refused", {"command": command, "user": "console:alice"})
    ]
    assert await log_actions(chat) == [("refused", "console:alice", None)]


async def test_members_may_use_member_commands(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "de")
    actions = await said(chat, "alice", "/optout")
    assert replies(actions) == [t("de", "privacy.opted_out")]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de", f"Ich kenne @{ZW}nobody hier noch nicht."),
        ("en", f"I don't know @{ZW}nobody here yet."),
    ],
)
async def test_unknown_members_are_named(make_chat: MakeChat, language: str, expected: str) -> None:
    chat = await new_chat(make_chat, language)
    assert replies(await said(chat, "mod", "/warn @nobody Spam")) == [expected]
    assert replies(await said(chat, "mod", "/note <@123> hm")) == [
        expected.replace(f"@{ZW}nobody", defuse_mentions("<@123>"))
    ]
    assert await log_actions(chat) == []


@pytest.mark.parametrize("impostor_first", [True, False])
async def test_a_warning_hits_the_username_not_a_copied_display_name(
    make_chat: MakeChat, impostor_first: bool
) -> None:
    chat = await make_chat(features=features(), language="en")
    real = ("console:111", "Alice Real", "alice")
    impostor = ("console:222", "alice", "mallory")
    for member in (impostor, real) if impostor_first else (real, impostor):
        await introduce(chat, *member)
    actions = await said(chat, "mod", "/warn @alice spam")
    assert replies(actions) == ["⚠️ Alice Real has been warned (1/3): spam"]
    assert [a.member for a in actions if isinstance(a, DirectMessage)] == ["console:111"]
    assert await log_actions(chat) == [("warn", "console:mod", "console:111")]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "de",
            f"Hier heißen mehrere Mitglieder @{ZW}Anna. Bitte nimm den Benutzernamen des"
            " gemeinten Mitglieds (@…) oder schick den Befehl als Antwort auf eine seiner"
            " Nachrichten.",
        ),
        (
            "en",
            f"Several members here are called @{ZW}Anna. Please use the username of the one"
            " you mean (@…), or send the command as a reply to one of their messages.",
        ),
    ],
)
async def test_a_shared_display_name_is_not_guessed(
    make_chat: MakeChat, language: str, expected: str
) -> None:
    chat = await new_chat(make_chat, language)
    await introduce(chat, "console:301", "Anna", None)
    await introduce(chat, "console:302", "anna", None)
    assert replies(await said(chat, "mod", "/warn @Anna Spam")) == [expected]
    assert replies(await said(chat, "mod", "/note @Anna hm")) == [expected]
    # /case assign takes no reply: only the username is offered.
    case = await open_case(chat, "ring", "console:bob")
    assert replies(await said(chat, "mod", f"/case {case} assign @Anna")) == [
        t(language, "core.ambiguous_member", name=f"@{ZW}Anna")
    ]
    assert await log_actions(chat) == []
    # A reply still names the member; a username still wins over the shared name.
    warned = await said(chat, "mod", "/warn Spam", reply_to=2)
    assert [a.member for a in warned if isinstance(a, DirectMessage)] == ["console:bob"]
    await introduce(chat, "console:303", "Anna K.", "anna")
    warned = await said(chat, "mod", "/warn @Anna Spam")
    assert [a.member for a in warned if isinstance(a, DirectMessage)] == ["console:303"]


# --- warnings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "first", "muted"),
    [
        (
            "de",
            "⚠️ alice wurde verwarnt (1/3): Spam im Chat",
            "🔇 alice ist für 24 Stunden stummgeschaltet (3 aktive Verwarnungen).",
        ),
        (
            "en",
            "⚠️ alice has been warned (1/3): Spam im Chat",
            "🔇 alice is muted for 24 hours (3 active warnings).",
        ),
    ],
)
async def test_three_warnings_mute_and_open_a_case(
    make_chat: MakeChat, language: str, first: str, muted: str
) -> None:
    chat = await new_chat(make_chat, language)
    first_actions = await said(chat, "mod", "/warn @alice Spam im Chat")
    assert replies(first_actions) == [first]
    private = [a for a in first_actions if isinstance(a, DirectMessage)]
    assert [(p.member, p.chat) for p in private] == [("console:alice", "console:general")]
    assert "Spam im Chat" in private[0].text and "3" in private[0].text
    second = await said(chat, "mod", "/warn @alice nochmal")
    assert not any(isinstance(a, Restrict) for a in second)
    clock(chat).advance(timedelta(days=2))
    actions = await said(chat, "mod", "/warn @alice drittes Mal")
    [restrict] = [a for a in actions if isinstance(a, Restrict)]
    assert (restrict.chat, restrict.member) == ("console:general", "console:alice")
    warned_at = clock(chat).now - clock(chat).step
    assert restrict.until == warned_at + timedelta(hours=24)
    assert replies(actions)[-1] == muted
    reviews = [a for a in actions if isinstance(a, ReviewRequest)]
    assert len(reviews) == 1 and reviews[0].chat == "console:mods"
    case_id = reviews[0].case_id
    assert [b.custom_id for b in reviews[0].buttons] == [
        f"case:{case_id}:assign",
        f"case:{case_id}:close",
    ]
    case = await case_row(chat, case_id)
    assert (case.kind, case.subject, case.status) == ("warnings", "console:alice", "open")
    assert [w["reason"] for w in case.evidence["warnings"]] == [
        "Spam im Chat",
        "nochmal",
        "drittes Mal",
    ]
    assert await log_actions(chat) == [
        ("warn", "console:mod", "console:alice"),
        ("warn", "console:mod", "console:alice"),
        ("warn", "console:mod", "console:alice"),
        ("restrict", None, "console:alice"),
        ("case_open", None, "console:alice"),
    ]
    mod_actions = [d.data for d in chat.decisions if d.kind == "mod_action"]
    assert [(d["action"], d["actor"], d["target"], d["case"]) for d in mod_actions] == [
        ("warn", "console:mod", "console:alice", None),
        ("warn", "console:mod", "console:alice", None),
        ("warn", "console:mod", "console:alice", None),
        ("restrict", None, "console:alice", None),
        ("case_open", None, "console:alice", case_id),
    ]


@pytest.mark.parametrize(
    ("gap", "restricted"),
    [
        (timedelta(days=30, minutes=1), False),  # the first two have expired
        (timedelta(days=29), True),  # still within 30 days
    ],
)
async def test_expired_warnings_do_not_count(
    make_chat: MakeChat, gap: timedelta, restricted: bool
) -> None:
    chat = await new_chat(make_chat, "en", step=timedelta(0))
    await chat.say("mod", "/warn @alice one")
    await chat.say("mod", "/warn @alice two")
    clock(chat).advance(gap)
    actions = await said(chat, "mod", "/warn @alice three")
    assert any(isinstance(a, Restrict) for a in actions) is restricted
    expected = "3/3" if restricted else "1/3"
    assert expected in replies(actions)[0]


@pytest.mark.parametrize("language", ["de", "en"])
async def test_unwarn_withdraws_the_newest_active_warning(
    make_chat: MakeChat, language: str
) -> None:
    chat = await new_chat(make_chat, language, step=timedelta(0))
    none = await said(chat, "mod", "/unwarn @alice")
    assert replies(none) == [t(language, "moderation.unwarn_none", name="alice")]
    await chat.say("mod", "/warn @alice one")
    await chat.say("mod", "/warn @alice two (a mistake)")
    actions = await said(chat, "mod", "/unwarn @alice wrong member")
    assert replies(actions) == [t(language, "moderation.unwarned", name="alice", count=1, hours=24)]
    [private] = [a for a in actions if isinstance(a, DirectMessage)]
    assert private.member == "console:alice"
    assert await log_actions(chat) == [
        ("warn", "console:mod", "console:alice"),
        ("warn", "console:mod", "console:alice"),
        ("unwarn", "console:mod", "console:alice"),
    ]
    # Two more warnings make two active, not three: no mute yet.
    second = await said(chat, "mod", "/warn @alice three")
    assert not any(isinstance(a, Restrict) for a in second)
    assert "2/3" in replies(second)[0]
    # Nor can a warned moderator withdraw their own warning.
    chat.moderators = frozenset({"mod", "mod2"})
    await chat.say("mod", "/warn @mod2 rude")
    own = await said(chat, "mod2", "/unwarn @mod2")
    assert replies(own) == [t(language, "moderation.unwarn_self")]
    # Members cannot withdraw warnings.
    before = await log_actions(chat)
    refused = await said(chat, "alice", "/unwarn @alice")
    assert not any(isinstance(a, DirectMessage) for a in refused)
    assert [a for a in await log_actions(chat) if a[0] == "unwarn"] == [before[2]]
    assert [a for a in before if a[0] == "unwarn"] == [before[2]]


async def test_threshold_and_duration_follow_the_settings(make_chat: MakeChat) -> None:
    extra = "[communities.moderation]\nwarnings_to_restrict = 1\nrestrict_hours = 2\n"
    chat = await new_chat(make_chat, "de", extra, step=timedelta(0))
    actions = await said(chat, "mod", "/warn @bob Beleidigung")
    restrict = [a for a in actions if isinstance(a, Restrict)]
    assert [(r.member, r.until) for r in restrict] == [("console:bob", START + timedelta(hours=2))]


async def test_a_warning_as_a_reply_names_the_replied_member(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "de")
    actions = await said(chat, "mod", "/warn Bitte sachlich bleiben", reply_to=2)
    assert replies(actions) == ["⚠️ bob wurde verwarnt (1/3): Bitte sachlich bleiben"]


async def test_a_warning_from_the_moderators_chat_mutes_where_the_member_spoke(
    make_chat: MakeChat,
) -> None:
    extra = "[communities.moderation]\nwarnings_to_restrict = 1\n"
    chat = await new_chat(make_chat, "en", extra)
    await chat.say("alice", "buy now", chat="offtopic")
    actions = await said(chat, "mod", "/warn @alice ads", chat="mods")
    assert [(a.chat, a.member) for a in actions if isinstance(a, Restrict)] == [
        ("console:offtopic", "console:alice")
    ]


async def test_no_known_chat_means_a_case_without_a_mute(make_chat: MakeChat) -> None:
    extra = "[communities.moderation]\nwarnings_to_restrict = 1\nnotify_warned = false\n"
    chat = await new_chat(make_chat, "de", extra)
    await chat.join("carol")
    actions = await said(chat, "mod", "/warn @carol Spam per DM", chat="mods")
    assert not any(isinstance(a, Restrict | DirectMessage) for a in actions)
    reviews = [a for a in actions if isinstance(a, ReviewRequest)]
    assert len(reviews) == 1
    assert reviews[0].text.startswith(f"⚠️ Fall #{reviews[0].case_id}: carol hat 1 Verwarnungen")
    assert (await case_row(chat, reviews[0].case_id)).evidence["restricted_until"] is None


async def test_further_warnings_extend_the_open_case(make_chat: MakeChat) -> None:
    extra = "[communities.moderation]\nwarnings_to_restrict = 1\n"
    chat = await new_chat(make_chat, "en", extra)
    first = await said(chat, "mod", "/warn @bob one")
    second = await said(chat, "mod", "/warn @bob two")
    ids = [a.case_id for a in [*first, *second] if isinstance(a, ReviewRequest)]
    assert ids[0] == ids[1]
    assert [c.kind for c in await all_rows(chat, models.Case)] == ["warnings"]
    history = [e.action for e in await all_rows(chat, models.CaseEvent)]
    assert history == ["opened", "warned"]
    assert [a for a, _, _ in await log_actions(chat)][-1] == "case_update"


@pytest.mark.parametrize(
    ("language", "text"),
    [("de", "Dich selbst kannst du nicht verwarnen."), ("en", "You cannot warn yourself.")],
)
async def test_a_moderator_cannot_warn_themself(
    make_chat: MakeChat, language: str, text: str
) -> None:
    extra = "[communities.moderation]\nwarnings_to_restrict = 1\n"
    chat = await new_chat(make_chat, language, extra)
    own = await chat.say("mod", "Ich teste mal")
    async with chat.engine.db.session() as session:
        store = Store(session)
        await store.members.ensure("telegram:4711", "Mod T.", "modt", False, START)
        await session.execute(
            update(models.Member)
            .where(col(models.Member.key).in_(["console:mod", "telegram:4711"]))
            .values(person="person:console:mod")
        )
    for command, reply_to in (
        ("/warn @mod Test", None),
        ("/warn Test", own),  # as a reply to their own message
        ("/warn telegram:4711 Test", None),  # their linked account is them too
    ):
        actions = await said(chat, "mod", command, reply_to=reply_to)
        assert replies(actions) == [text]
        assert not any(isinstance(a, Restrict | DirectMessage | ReviewRequest) for a in actions)
    assert await log_actions(chat) == []
    assert [d for d in chat.decisions if d.kind == "mod_action"] == []


@pytest.mark.parametrize(
    ("language", "fourth", "title"),
    [
        (
            "de",
            "⚠️ alice wurde verwarnt (4 aktive Verwarnungen, Grenze von 3 überschritten): vier",
            "Zu alice — aktive Verwarnungen: 4 (Grenze von 3 überschritten)",
        ),
        (
            "en",
            "⚠️ alice has been warned (4 active warnings, limit of 3 exceeded): vier",
            "About alice — active warnings: 4 (limit of 3 exceeded)",
        ),
    ],
)
async def test_warnings_past_the_threshold_are_not_counted_as_4_of_3(
    make_chat: MakeChat, language: str, fourth: str, title: str
) -> None:
    chat = await new_chat(make_chat, language)
    for reason in ("eins", "zwei", "drei"):
        await chat.say("mod", f"/warn @alice {reason}")
    actions = await said(chat, "mod", "/warn @alice vier")
    assert replies(actions)[0] == fourth
    [private] = [a for a in actions if isinstance(a, DirectMessage)]
    assert private.text == t(
        language,
        "moderation.warned_private_over",
        community="demo",
        reason="vier",
        count=4,
        limit=3,
        days=30,
        hours=24,
    )
    assert "4/3" not in private.text and "4 von 3" not in private.text
    assert any(isinstance(a, Restrict) for a in actions)  # still muted again
    notes = replies(await said(chat, "mod", "/note @alice"))[0].split("\n")
    assert notes[0] == title
    assert [line.rsplit(" ", 1)[1] for line in notes[1:]] == ["eins", "zwei", "drei", "vier"]


# --- notes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "saved", "title"),
    [
        ("de", "📝 Notiz zu alice gespeichert.", "Zu alice — aktive Verwarnungen: 1/3"),
        ("en", "📝 Note about alice saved.", "About alice — active warnings: 1/3"),
    ],
)
async def test_notes_are_saved_and_listed(
    make_chat: MakeChat, language: str, saved: str, title: str
) -> None:
    chat = await new_chat(make_chat, language)
    assert replies(await said(chat, "mod", "/note @alice kennt sich mit Bremsen aus")) == [saved]
    await chat.say("mod", "/warn @alice Ton")
    listing = replies(await said(chat, "mod", "/note @alice"))[0].split("\n")
    assert listing[0] == title
    assert listing[1].startswith("⚠️ 2026-11-16 10:") and listing[1].endswith("mod: Ton")
    assert listing[2].startswith("📝 ") and listing[2].endswith("mod: kennt sich mit Bremsen aus")
    assert replies(await said(chat, "mod", "/note @bob"))[0].split("\n")[1] == t(
        language, "moderation.notes_none"
    )


# --- cases ------------------------------------------------------------------------------


async def test_case_shows_evidence_status_assignee_and_history(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "de")
    evidence = {"messages": [{"chat": "console:general", "message_id": "1"}], "score": 0.8}
    case_id = await open_case(chat, "ring", "console:alice", evidence=evidence)
    await chat.say("mod", f"/case {case_id} assign @mod")
    lines = replies(await said(chat, "mod", f"/case #{case_id}"))[0].split("\n")
    assert lines[:7] == [
        f"📁 Fall #{case_id} (Karma-Ring) — offen",
        "Betrifft: alice · Zuständig: mod",
        "Eröffnet: 2026-11-16 10:00",
        "ring summary",
        "Belege:",
        "• console:general #1: „Hallo zusammen“",
        "• score: 0.8",
    ]
    assert lines[7] == "Verlauf:"
    assert lines[8] == "• 2026-11-16 10:00 🤖: eröffnet"
    assert lines[9].endswith(" mod: zugewiesen – mod")


@pytest.mark.parametrize(
    ("language", "closed", "again"),
    [
        ("de", "Fall #{case}: geschlossen.", "Fall #{case} ist schon entschieden (geschlossen)."),
        ("en", "Case #{case}: closed.", "Case #{case} has already been decided (closed)."),
    ],
)
async def test_case_close_records_note_and_refuses_twice(
    make_chat: MakeChat, language: str, closed: str, again: str
) -> None:
    chat = await new_chat(make_chat, language)
    case_id = await open_case(chat, "complaint", "console:bob")
    actions = await said(chat, "mod", f"/case {case_id} close erledigt per DM")
    assert replies(actions) == [closed.format(case=case_id)]
    case = await case_row(chat, case_id)
    assert (case.status, case.closed_by) == ("resolved", "console:mod")
    events = await all_rows(chat, models.CaseEvent)
    assert [(e.action, e.actor, e.note) for e in events][-1] == (
        "resolved",
        "console:mod",
        "erledigt per DM",
    )
    assert replies(await said(chat, "mod", f"/case {case_id} close")) == [
        again.format(case=case_id)
    ]
    assert await log_actions(chat) == [("case_close", "console:mod", "console:bob")]


async def test_case_not_found(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "en")
    assert replies(await said(chat, "mod", "/case 42")) == ["There is no case #42."]


@pytest.mark.parametrize(
    ("language", "argument", "title"),
    [
        ("de", "", "Offene Fälle (2):"),
        ("de", "alle", "Neueste Fälle (3):"),
        ("en", "open", "Open cases (2):"),
        ("en", "all", "Latest cases (3):"),
    ],
)
async def test_cases_lists_open_or_all(
    make_chat: MakeChat, language: str, argument: str, title: str
) -> None:
    chat = await new_chat(make_chat, language)
    first = await open_case(chat, "ring", "console:alice")
    second = await open_case(chat, "promo", "console:bob", status="confirmed", closed_by="x:y")
    third = await open_case(chat, "complaint", "console:bob")
    lines = replies(await said(chat, "mod", f"/cases {argument}".strip()))[0].split("\n")
    assert lines[0] == title
    shown = [int(line.split(" ")[0][1:]) for line in lines[1:]]
    assert shown == ([first, third] if len(lines) == 3 else [third, second, first])


async def test_cases_says_when_there_are_none(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "de")
    assert replies(await said(chat, "mod", "/cases")) == ["Keine offenen Fälle. 🎉"]
    assert replies(await said(chat, "mod", "/cases all")) == ["Noch keine Fälle."]


# --- buttons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "status", "log"),
    [
        ("confirm", "confirmed", "case_confirm"),
        ("dismiss", "dismissed", "case_dismiss"),
        ("close", "resolved", "case_close"),
    ],
)
async def test_buttons_decide_cases(make_chat: MakeChat, verb: str, status: str, log: str) -> None:
    chat = await new_chat(make_chat, "en")
    case_id = await open_case(chat, "ring", "console:alice")
    actions = await press(chat, "mod", f"case:{case_id}:{verb}")
    label = t("en", f"moderation.status.{status}")
    assert replies(actions, "console:mods") == [f"Case #{case_id}: {label}."]
    case = await case_row(chat, case_id)
    assert (case.status, case.closed_by, case.closed_at) == (
        status,
        "console:mod",
        clock(chat).now - clock(chat).step,
    )
    events = await all_rows(chat, models.CaseEvent)
    assert [(e.action, e.actor) for e in events] == [("opened", None), (status, "console:mod")]
    assert await log_actions(chat) == [(log, "console:mod", "console:alice")]
    again = await press(chat, "mod", f"case:{case_id}:{verb}")
    assert replies(again, "console:mods") == [
        f"Case #{case_id} has already been decided ({label})."
    ]


async def test_the_assign_button_takes_the_case(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "de")
    case_id = await open_case(chat, "complaint", "console:bob")
    actions = await press(chat, "mod", f"case:{case_id}:assign")
    assert replies(actions, "console:mods") == [f"Fall #{case_id} liegt jetzt bei mod."]
    case = await case_row(chat, case_id)
    assert (case.assignee, case.status) == ("console:mod", "open")
    assert [d.data["assignee"] for d in chat.decisions if d.kind == "mod_action"] == ["console:mod"]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("de", "Fall #{case} betrifft bob selbst; bitte weise ihn jemand anderem zu."),
        ("en", "Case #{case} is about bob; please assign it to someone else."),
    ],
)
async def test_a_case_is_not_assigned_to_its_subject(
    make_chat: MakeChat, language: str, text: str
) -> None:
    chat = await new_chat(make_chat, language)
    chat.moderators = frozenset({"mod", "bob"})  # bob moderates, but this case is about him
    case_id = await open_case(chat, "complaint", "console:bob")
    expected = [text.format(case=case_id)]
    assert replies(await said(chat, "mod", f"/case {case_id} assign @bob")) == expected
    assert replies(await press(chat, "bob", f"case:{case_id}:assign"), "console:mods") == expected
    case = await case_row(chat, case_id)
    assert (case.assignee, case.status) == (None, "open")
    assert [e.action for e in await all_rows(chat, models.CaseEvent)] == ["opened"]
    assert await log_actions(chat) == []
    assert [d for d in chat.decisions if d.kind == "mod_action"] == []


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "de",
            "Fall #{case} ist schon entschieden (bestätigt); da gibt es nichts mehr zuzuweisen.",
        ),
        ("en", "Case #{case} has already been decided (confirmed); there is nothing to assign."),
    ],
)
async def test_a_closed_case_is_not_assigned(make_chat: MakeChat, language: str, text: str) -> None:
    chat = await new_chat(make_chat, language)
    case_id = await open_case(
        chat, "ring", "console:alice", status="confirmed", closed_by="console:mod"
    )
    expected = [text.format(case=case_id)]
    assert replies(await said(chat, "mod", f"/case {case_id} assign @mod")) == expected
    assert replies(await press(chat, "mod", f"case:{case_id}:assign"), "console:mods") == expected
    case = await case_row(chat, case_id)
    assert (case.assignee, case.status) == (None, "confirmed")
    assert await log_actions(chat) == []


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("de", "Danke, alice! Über Fälle entscheidet aber die Moderation."),
        ("en", "Thanks, alice! Only moderators can decide cases, though."),
    ],
)
async def test_members_pressing_buttons_are_refused(
    make_chat: MakeChat, language: str, text: str
) -> None:
    chat = await new_chat(make_chat, language)
    case_id = await open_case(chat, "ring", "console:bob")
    actions = await press(chat, "alice", f"case:{case_id}:confirm")
    assert replies(actions, "console:mods") == [text]
    assert (await case_row(chat, case_id)).status == "open"
    assert [(d.kind, dict(d.data)) for d in chat.decisions if d.kind != "reply"] == [
        (
            "refused",
            {"custom_id": f"case:{case_id}:confirm", "user": "console:alice", "case": case_id},
        )
    ]
    assert await log_actions(chat) == [("refused", "console:alice", "console:bob")]


@pytest.mark.parametrize(
    "custom_id",
    [
        "case:{case}:ignore",
        "case:x:confirm",
        "karma:{case}:confirm",
        "case:{case}",
        "case:999:close",
    ],
)
async def test_buttons_of_others_are_left_alone(make_chat: MakeChat, custom_id: str) -> None:
    chat = await new_chat(make_chat, "en")
    case_id = await open_case(chat, "ring", "console:bob")
    assert await press(chat, "mod", custom_id.format(case=case_id)) == []


async def test_promo_cases_are_left_to_promo(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "en")
    case_id = await open_case(chat, "promo", "console:bob")
    assert await press(chat, "mod", f"case:{case_id}:confirm") == []
    assert await press(chat, "alice", f"case:{case_id}:confirm") == []
    assert (await case_row(chat, case_id)).status == "open"


# --- appeals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "received", "other"),
    [
        (
            "de",
            "Dein Einspruch zu Fall #{case} liegt jetzt bei der Moderation.",
            "Bitte prüft diesen Einspruch nicht mit mod, sondern mit jemand anderem aus der "
            "Moderation.",
        ),
        (
            "en",
            "Your appeal on case #{case} is with the moderators now.",
            "Please let a moderator other than mod review this appeal.",
        ),
    ],
)
async def test_an_appeal_reopens_the_case_for_another_moderator(
    make_chat: MakeChat, language: str, received: str, other: str
) -> None:
    chat = await new_chat(make_chat, language)
    case_id = await open_case(chat, "ring", "console:alice")
    await press(chat, "mod", f"case:{case_id}:confirm")
    actions = await said(chat, "alice", f"/appeal {case_id} Das war mein Bruder, kein Ring")
    assert replies(actions)[0].startswith(received.format(case=case_id))
    case = await case_row(chat, case_id)
    assert (case.status, case.closed_by, case.closed_at, case.assignee) == (
        "open",
        None,
        None,
        None,
    )
    [appeal] = case.evidence["appeals"]
    assert {k: appeal[k] for k in ("by", "text", "previously_closed_by", "previous_status")} == {
        "by": "console:alice",
        "text": "Das war mein Bruder, kein Ring",
        "previously_closed_by": "console:mod",
        "previous_status": "confirmed",
    }
    [review] = [a for a in actions if isinstance(a, ReviewRequest)]
    assert review.chat == "console:mods" and review.case_id == case_id
    assert review.text.split("\n")[-1] == other
    assert [b.custom_id.rsplit(":", 1)[1] for b in review.buttons] == [
        "assign",
        "confirm",
        "dismiss",
    ]
    history = [(e.action, e.actor) for e in await all_rows(chat, models.CaseEvent)]
    assert history[-1] == ("appealed", "console:alice")
    assert [a for a, _, _ in await log_actions(chat)] == ["case_confirm", "appeal"]
    # The moderator who decided before gets a hint when taking the appeal.
    chat.moderators = frozenset({"mod", "mod2"})
    took = replies(await press(chat, "mod", f"case:{case_id}:assign"), "console:mods")[0]
    assert took.split("\n")[1] == t(language, "moderation.appeal_same_moderator", name="mod")
    other_took = replies(await press(chat, "mod2", f"case:{case_id}:assign"), "console:mods")
    assert "\n" not in other_took[0]
    # One appeal per case by default.
    await press(chat, "mod2", f"case:{case_id}:dismiss")
    again = replies(await said(chat, "alice", f"/appeal {case_id} bitte nochmal"))
    assert again == [t(language, "moderation.appeal_limit", case=case_id)]


@pytest.mark.parametrize("language", ["de", "en"])
async def test_only_the_subject_may_appeal(make_chat: MakeChat, language: str) -> None:
    chat = await new_chat(make_chat, language)
    case_id = await open_case(chat, "ring", "console:alice", status="confirmed", closed_by="x:m")
    for who, number in (("bob", case_id), ("alice", 999)):
        actions = await said(chat, who, f"/appeal {number} unfair")
        assert replies(actions) == [t(language, "moderation.appeal_not_yours", case=number)]
    assert (await case_row(chat, case_id)).status == "confirmed"
    assert await log_actions(chat) == []


async def test_an_appeal_on_an_open_case_is_a_statement(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "en")
    case_id = await open_case(chat, "complaint", "console:bob")
    actions = await said(chat, "bob", f"/appeal {case_id} I only asked a question")
    assert replies(actions) == [
        f"Case #{case_id} is still open; I have added your words to it for the moderators."
    ]
    assert not any(isinstance(a, ReviewRequest) for a in actions)
    # The moderators' chat sees the statement (no buttons: the case is open anyway).
    assert replies(actions, "console:mods") == [
        f"📝 bob added to the open case #{case_id}: “I only asked a question”"
    ]
    events = await all_rows(chat, models.CaseEvent)
    assert [(e.action, e.actor, e.note) for e in events][-1] == (
        "statement",
        "console:bob",
        "I only asked a question",
    )
    [statement] = (await case_row(chat, case_id)).evidence["statements"]
    assert (statement["by"], statement["text"]) == ("console:bob", "I only asked a question")
    # Counted like appeals: one per case by default.
    again = await said(chat, "bob", f"/appeal {case_id} and another thing")
    assert replies(again) == [t("en", "moderation.appeal_limit", case=case_id)]
    assert replies(again, "console:mods") == []


@pytest.mark.parametrize("language", ["de", "en"])
async def test_a_case_decided_in_the_members_favour_is_not_appealed(
    make_chat: MakeChat, language: str
) -> None:
    # Reopening a dismissed promo case would only put Confirm (delete, learn spam) in reach.
    chat = await new_chat(make_chat, language)
    case_id = await open_case(chat, "promo", "console:bob", status="dismissed", closed_by="x:m")
    actions = await said(chat, "bob", f"/appeal {case_id} why was I flagged at all?")
    assert replies(actions) == [t(language, "moderation.appeal_in_favour", case=case_id)]
    assert not any(isinstance(a, ReviewRequest) for a in actions)
    assert (await case_row(chat, case_id)).status == "dismissed"


async def test_promo_appeals_offer_only_promo_buttons(make_chat: MakeChat) -> None:
    chat = await new_chat(make_chat, "en")
    case_id = await open_case(chat, "promo", "console:bob", status="confirmed", closed_by=None)
    actions = await said(chat, "bob", f"/appeal {case_id} it was a recommendation")
    [review] = [a for a in actions if isinstance(a, ReviewRequest)]
    assert [b.custom_id for b in review.buttons] == [
        f"case:{case_id}:confirm",
        f"case:{case_id}:dismiss",
    ]
    # Closed automatically: nobody to avoid.
    assert len(review.text.split("\n")) == 2


# --- the mod log ----------------------------------------------------------------------


LOG_CHAT = 'log_chat = "console:modlog"\n'


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("de", "📋 Verwarnung mod → alice: Spam"),
        ("en", "📋 warning mod → alice: Spam"),
    ],
)
async def test_actions_are_posted_to_the_log_chat(
    make_chat: MakeChat, language: str, line: str
) -> None:
    chat = await new_chat(make_chat, language, LOG_CHAT)
    actions = await said(chat, "mod", "/warn @alice Spam")
    assert replies(actions, "console:modlog") == [line]
    case_id = await open_case(chat, "ring", "console:bob")
    posted = replies(await press(chat, "mod", f"case:{case_id}:dismiss"), "console:modlog")
    assert posted == [f"📋 {t(language, 'moderation.action.case_dismiss')} mod → bob #{case_id}"]


async def test_the_log_chat_can_be_kept_quiet(make_chat: MakeChat) -> None:
    extra = LOG_CHAT + "[communities.moderation]\npost_mod_log = false\n"
    chat = await new_chat(make_chat, "en", extra)
    actions = await said(chat, "mod", "/warn @alice Spam")
    assert replies(actions, "console:modlog") == []
    assert await log_actions(chat) == [("warn", "console:mod", "console:alice")]


async def test_automatic_actions_are_logged_as_automatic(make_chat: MakeChat) -> None:
    extra = LOG_CHAT + "[communities.moderation]\nwarnings_to_restrict = 1\n"
    chat = await new_chat(make_chat, "en", extra)
    lines = replies(await said(chat, "mod", "/warn @alice Spam"), "console:modlog")
    assert lines[1].startswith("📋 muted 🤖 automatic → alice: console:general until ")
    assert lines[2].startswith("📋 case opened 🤖 automatic → alice #")
