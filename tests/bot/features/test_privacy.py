"""The privacy feature: /mydata, /forgetme (with an all-tables scan), opt-out and the purge."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel, col

from adapters.console import ConsoleChat
from bot.actions import DirectMessage
from bot.features.karma import KarmaFeature
from bot.features.moderation import DELETED_NAME
from bot.features.promo import PromoFeature
from storage import models
from storage.repositories import Store
from tests.bot.features.test_moderation import (
    all_rows,
    clock,
    features,
    log_actions,
    replies,
    said,
    t,
)
from tests.conftest import START, MakeChat

LINKED = "telegram:7340021"  # wanda's second account
NEEDLES = ("wanda", "7340021")  # her key, ids and names all contain one of these


async def community(make_chat: MakeChat, language: str, extra: str = "") -> ConsoleChat:
    """wanda (with a linked Telegram account), bob and carol, with data in every table."""
    chat = await make_chat(extra, features=features(), language=language)
    await chat.join("wanda")
    await chat.say("wanda", "Hallo, ich bin Wanda und repariere Räder")  # 1
    await chat.say("bob", "danke @wanda für den Tipp", reply_to=1)  # 2
    await chat.react("wanda", 2, "👍")
    await chat.say("carol", "Moin")  # 3
    await chat.say("mod", "/warn @wanda Werbung für den eigenen Laden")
    await chat.say("mod", "/note @wanda Wanda meint es gut")
    async with chat.engine.db.session() as session:
        store = Store(session)
        await store.members.ensure(LINKED, "Wanda W.", "wandaw", False, START)
        await session.execute(
            update(models.Member)
            .where(col(models.Member.key).in_(["console:wanda", LINKED]))
            .values(person="person:console:wanda")
        )
        case = await store.cases.open(
            models.Case(
                community="demo",
                kind="promo",
                subject="console:wanda",
                chat="console:general",
                message_id="1",
                summary="wanda advertises",
                evidence={"messages": [{"chat": "console:general", "message_id": "1"}]},
                opened_at=START,
            )
        )
        for row in (
            ledger("console:bob", "console:wanda", 1.0),
            ledger("console:wanda", "console:bob", 0.5),
            ledger("console:mod", "console:wanda", 2.0, reason="moderator"),
            ledger("console:bob", "console:carol", 1.0),
            ledger("console:carol", LINKED, 1.5),
        ):
            await store.karma.add(**row)
        session.add_all(
            [
                models.Flag(
                    community="demo",
                    case_id=case.id,
                    member="console:wanda",
                    chat="console:general",
                    message_id="1",
                    score=0.7,
                    signals=["link"],
                    at=START,
                ),
                models.Complaint(
                    community="demo",
                    member=LINKED,
                    chat="telegram:-1001",
                    message_id="5",
                    score=0.9,
                    severity="high",
                    at=START,
                ),
                models.TrainingSample(
                    feature="promo",
                    community="demo",
                    label="spam",
                    text="Hallo, ich bin Wanda und repariere Räder",
                    case_id=case.id,
                    at=START,
                ),
                models.TrainingSample(
                    feature="promo", community="demo", label="ham", text="Moin", at=START
                ),
            ]
        )
        await store.state.set("promo", "demo", "bonus:console:wanda", 0.2, START)
        await store.state.set("promo", "demo", "allow", ["console:wanda", "console:bob"], START)
        await store.state.set("karma", "demo", "link:K7Q", {"creator": "console:wanda"}, START)
    await chat.say("mod", f"/case {case.id} close Wanda hat sich entschuldigt")
    return chat


def ledger(giver: str, receiver: str, points: float, reason: str = "thanks") -> dict[str, Any]:
    return {
        "community": "demo",
        "giver": giver,
        "receiver": receiver,
        "points": points,
        "reason": reason,
        "chat": "console:general",
        "message_id": "2",
        "event_key": f"test:{giver}:{receiver}",
        "at": START,
    }


async def tables_naming_wanda(chat: ConsoleChat) -> dict[str, list[str]]:
    """Every table with a row that still contains her key, an id or a name."""
    found: dict[str, list[str]] = {}
    async with chat.engine.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                text = str(tuple(row)).lower()
                if any(needle in text for needle in NEEDLES):
                    found.setdefault(table.name, []).append(text)
    return found


async def totals(chat: ConsoleChat) -> dict[str, float]:
    """Karma per account from the ledger, checked against the kept balances."""
    async with chat.engine.db.session() as session:
        karma = Store(session).karma
        ledger, balances = await karma.totals("demo"), await karma.balances("demo")
    assert {k: round(v, 2) for k, v in balances.items()} == ledger
    return ledger


# --- /mydata ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "sent"),
    [
        ("de", "Ich habe dir deine Daten privat geschickt. 📬"),
        ("en", "I have sent you your data privately. 📬"),
    ],
)
async def test_mydata_sends_everything_about_the_member(
    make_chat: MakeChat, language: str, sent: str
) -> None:
    chat = await community(make_chat, language)
    actions = await said(chat, "wanda", "/mydata")
    assert replies(actions) == [sent]
    [private] = [a for a in actions if isinstance(a, DirectMessage)]
    assert (private.chat, private.member, private.filename) == (
        "console:general",
        "console:wanda",
        "leumund-data.json",
    )
    assert private.text == t(language, "privacy.mydata_text", days=30, messages=1)
    assert private.attachment is not None
    data: dict[str, Any] = json.loads(private.attachment)
    assert sorted(a["key"] for a in data["accounts"]) == ["console:wanda", LINKED]
    assert [m["text"] for m in data["messages"]] == ["Hallo, ich bin Wanda und repariere Räder"]
    assert sorted((e["giver"], e["points"]) for e in data["karma_received"]) == [
        ("console:bob", 1.0),
        ("console:carol", 1.5),
        ("console:mod", 2.0),
    ]
    assert [(e["receiver"], e["points"]) for e in data["karma_given"]] == [("console:bob", 0.5)]
    assert [f["signals"] for f in data["promo_flags"]] == [["link"]]
    assert [c["severity"] for c in data["complaints"]] == ["high"]
    [case] = data["cases"]
    assert (case["kind"], case["status"]) == ("promo", "resolved")
    assert "closed_by" not in case and "assignee" not in case
    assert [(h["action"], h["note"]) for h in case["history"]] == [
        ("opened", None),
        ("resolved", "Wanda hat sich entschuldigt"),
    ]
    # Warnings and notes about her are hers to see; who wrote them is not.
    assert [(e["action"], e["detail"]) for e in data["moderation_about_you"]] == [
        ("warn", "Werbung für den eigenen Laden"),
        ("note", "Wanda meint es gut"),
        ("case_close", "Wanda hat sich entschuldigt"),
    ]
    assert all("actor" not in e for e in data["moderation_about_you"])
    assert data["your_moderator_actions"] == []
    assert [(s["feature"], s["key"]) for s in data["feature_state"]] == [
        ("promo", "bonus:console:wanda")
    ]
    assert {d["kind"] for d in data["decisions"]} == {"mod_action"}
    assert data["generated_at"].startswith("2026-11-16T")
    # Nothing of bob's or carol's own.
    assert "Moin" not in private.attachment.decode()


async def test_mydata_of_a_member_without_data(make_chat: MakeChat) -> None:
    chat = await make_chat(features=features(), language="en")
    actions = await said(chat, "dora", "/mydata")
    [private] = [a for a in actions if isinstance(a, DirectMessage)]
    assert private.attachment is not None
    data = json.loads(private.attachment)
    assert [a["key"] for a in data["accounts"]] == ["console:dora"]
    assert all(data[k] == [] for k in data if k not in ("accounts", "generated_at"))
    assert [d.data for d in chat.decisions if d.kind == "privacy"] == [
        {"action": "mydata", "member": "console:dora", "bytes": len(private.attachment)}
    ]


async def test_mydata_names_no_moderator(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[*features(), PromoFeature(), KarmaFeature()], language="en")
    chat.moderators = frozenset({"mod", "mod2"})
    await chat.say("alice", "hi")
    await chat.say("mod2", "hi")
    await chat.say("mod", "/note @alice watch her")
    for number in (1, 2, 3):
        await chat.say("mod", f"/warn @alice spam {number}")  # the third opens case 1
    await chat.say("mod", "/case 1 assign @mod2")
    await chat.say("mod", "/case 1 close handled")
    await chat.say("alice", "/appeal 1 unfair")
    await chat.say("mod", "/trust @alice")
    await chat.say("mod", "/karma give @alice 5 helpful")
    actions = await said(chat, "alice", "/mydata")
    [private] = [a for a in actions if isinstance(a, DirectMessage)]
    assert private.attachment is not None
    data: dict[str, Any] = json.loads(private.attachment)
    # Ledger rows keep their giver: /karma why shows it to everyone (see the test above).
    rest = json.dumps({k: v for k, v in data.items() if k != "karma_received"})
    assert "console:mod" not in rest  # nor console:mod2
    # What was done about her stays, and so does what she did herself.
    [case] = data["cases"]
    assert [(h["action"], h["note"]) for h in case["history"]] == [
        ("opened", None),
        ("assigned", None),
        ("resolved", "handled"),
        ("appealed", "unfair"),
    ]
    assert [a["by"] for a in case["evidence"]["appeals"]] == ["console:alice"]
    assert ("case_assign", "") in [(e["action"], e["detail"]) for e in data["moderation_about_you"]]
    decisions = [(d["kind"], d["data"]) for d in data["decisions"]]
    assert (
        "mod_action",
        {"action": "appeal", "actor": "console:alice", "target": "console:alice", "case": 1},
    ) in decisions
    assert ("promo_trust", {"member": "console:alice", "trusted": True}) in decisions
    restrict = next(d for k, d in decisions if k == "mod_action" and d["action"] == "restrict")
    assert restrict["actor"] is None  # the bot acted on its own
    karma = [d for k, d in decisions if k == "karma"]
    assert [(d["receiver"], d["points"], "giver" in d) for d in karma] == [
        ("console:alice", 5.0, False)
    ]
    # A moderator's own export keeps what they did, not the colleague they handed a case to.
    actions = await said(chat, "mod", "/mydata")
    [private] = [a for a in actions if isinstance(a, DirectMessage)]
    assert private.attachment is not None
    mine: dict[str, Any] = json.loads(private.attachment)
    assert "console:mod2" not in private.attachment.decode()
    assert ("case_assign", "console:mod", "") in [
        (e["action"], e["actor"], e["detail"]) for e in mine["your_moderator_actions"]
    ]


# --- /forgetme --------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "en"])
async def test_forgetme_erases_the_member_from_every_table(
    make_chat: MakeChat, language: str
) -> None:
    chat = await community(make_chat, language)
    await chat.say("wanda", "Frag mal @bob, der kennt sich mit Naben aus")
    before = await tables_naming_wanda(chat)
    # The scan sees her everywhere first, so its silence afterwards means something.
    assert set(before) >= {
        "members",
        "messages",
        "message_mentions",
        "karma_ledger",
        "decisions",
        "cases",
        "case_events",
        "flags",
        "complaints",
        "mod_log",
        "feature_state",
        "training_samples",
        "processed_events",
    }
    asked = await said(chat, "wanda", "/forgetme")
    assert replies(asked) == [t(language, "privacy.forgetme_ask", minutes=10)]
    done = await said(chat, "wanda", "/forgetme confirm")
    assert replies(done) == [t(language, "privacy.forgetme_done")]
    assert await tables_naming_wanda(chat) == {}
    # Whom her messages mentioned went with them; bob's mention of her stays, renamed.
    async with chat.engine.db.session() as session:
        mentions = list((await session.execute(select(models.Mention))).scalars())
    kept = {(m.chat, m.message_id) for m in await all_rows(chat, models.Message)}
    assert [(m.message_id, m.member.startswith("forgotten:")) for m in mentions] == [("2", True)]
    assert all((m.chat, m.message_id) in kept for m in mentions)

    anonymous = [m for m in await all_rows(chat, models.Member) if m.forgotten]
    assert [(m.name, m.username, m.person, m.opted_out) for m in anonymous] == [
        (DELETED_NAME, None, None, True),
        (DELETED_NAME, None, None, True),
    ]
    first, second = sorted(m.key for m in anonymous)
    assert first.startswith("forgotten:") and second.startswith("forgotten:")
    # Others keep what they were given; her points move to the anonymous accounts.
    got = await totals(chat)
    assert {k: v for k, v in got.items() if not k.startswith("forgotten:")} == {
        "console:bob": 0.5,
        "console:carol": 1.0,
    }
    assert sorted(v for k, v in got.items() if k.startswith("forgotten:")) == [1.5, 3.0]
    texts = {m.message_id: m.text for m in await all_rows(chat, models.Message)}
    assert texts == {"2": f"danke @{DELETED_NAME} für den Tipp", "3": "Moin"}
    [bobs] = [m for m in await all_rows(chat, models.Message) if m.message_id == "2"]
    assert bobs.reply_to_author in (first, second)
    assert await all_rows(chat, models.Flag) == []
    assert await all_rows(chat, models.Complaint) == []
    assert [s.text for s in await all_rows(chat, models.TrainingSample)] == ["Moin"]
    state = {(s.feature, s.key): s.value for s in await all_rows(chat, models.FeatureState)}
    assert state[("promo", "allow")] == ["console:bob"]
    assert ("promo", "bonus:console:wanda") not in state
    assert state[("karma", "link:K7Q")]["creator"] in (first, second)
    [case] = await all_rows(chat, models.Case)
    assert case.subject in (first, second) and case.summary == f"{DELETED_NAME} advertises"
    assert [d.data for d in chat.decisions if d.kind == "privacy"][-1] == {
        "action": "forgotten",
        "accounts": 2,
    }
    assert (await log_actions(chat))[-1][0] == "forgotten"


@pytest.mark.parametrize(
    ("wait", "forgotten"),
    [(timedelta(minutes=9), True), (timedelta(minutes=11), False)],
)
async def test_forgetme_must_be_confirmed_in_time(
    make_chat: MakeChat, wait: timedelta, forgotten: bool
) -> None:
    chat = await make_chat(features=features(), language="de")
    await chat.say("wanda", "hallo")
    await chat.say("wanda", "/forgetme")
    clock(chat).advance(wait)
    actions = await said(chat, "wanda", "/forgetme confirm")
    expected = "privacy.forgetme_done" if forgotten else "privacy.forgetme_not_asked"
    assert replies(actions) == [t("de", expected, minutes=10)]
    assert (await tables_naming_wanda(chat) == {}) is forgotten


@pytest.mark.parametrize("language", ["de", "en"])
async def test_confirming_without_asking_does_nothing(make_chat: MakeChat, language: str) -> None:
    chat = await make_chat(features=features(), language=language)
    await chat.say("wanda", "hallo")
    actions = await said(chat, "wanda", "/forgetme confirm")
    assert replies(actions) == [t(language, "privacy.forgetme_not_asked", minutes=10)]
    # Another member's request does not count for her either.
    await chat.say("bob", "/forgetme")
    assert replies(await said(chat, "wanda", "/forgetme confirm")) == [
        t(language, "privacy.forgetme_not_asked", minutes=10)
    ]
    assert [m.text for m in await all_rows(chat, models.Message)] == ["hallo"]


# --- opt-out ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "out", "back"),
    [
        (
            "de",
            "Ab jetzt nenne ich dich nicht mehr in Zusammenfassungen und Bestenlisten. "
            "/optin macht das rückgängig.",
            "Du kannst wieder in Zusammenfassungen und Bestenlisten genannt werden.",
        ),
        (
            "en",
            "From now on you will not be named in summaries and leaderboards. /optin undoes this.",
            "You can be named in summaries and leaderboards again.",
        ),
    ],
)
async def test_optout_and_optin_cover_linked_accounts(
    make_chat: MakeChat, language: str, out: str, back: str
) -> None:
    chat = await community(make_chat, language)

    async def opted() -> dict[str, bool]:
        return {m.key: m.opted_out for m in await all_rows(chat, models.Member)}

    assert replies(await said(chat, "wanda", "/optout")) == [out]
    flags = await opted()
    assert (flags["console:wanda"], flags[LINKED], flags["console:bob"]) == (True, True, False)
    assert replies(await said(chat, "wanda", "/optin")) == [back]
    assert not any((await opted()).values())
    assert [d.data["action"] for d in chat.decisions if d.kind == "privacy"] == ["optout", "optin"]


# --- the daily purge --------------------------------------------------------------------


async def test_old_message_texts_are_purged_once_a_day(make_chat: MakeChat) -> None:
    chat = await make_chat(features=features(), language="de", step=timedelta(0))
    await chat.say("alice", "alt")
    clock(chat).advance(timedelta(days=20))
    await chat.say("alice", "mittel")
    clock(chat).advance(timedelta(days=10, minutes=1))
    await chat.say("alice", "neu")
    await chat.tick()
    assert [m.text for m in await all_rows(chat, models.Message)] == [None, "mittel", "neu"]
    assert [d.data for d in chat.decisions if d.kind == "mod_action"] == [
        {
            "action": "purge_texts",
            "actor": None,
            "target": None,
            "case": None,
            "count": 1,
            "days": 30,
        }
    ]
    clock(chat).advance(timedelta(days=21))
    await chat.tick()  # a later day: "mittel" is now older than 30 days
    clock(chat).advance(timedelta(hours=1))
    await chat.tick()  # the same day: nothing runs
    assert [m.text for m in await all_rows(chat, models.Message)] == [None, None, "neu"]
    assert await log_actions(chat) == [("purge_texts", None, None)] * 2
    assert [r.job for r in await all_rows_by_job(chat)] == [
        "privacy:purge:demo:2026-12-16",
        "privacy:purge:demo:2027-01-06",
    ]


async def all_rows_by_job(chat: ConsoleChat) -> list[models.SchedulerRun]:
    async with chat.engine.db.session() as session:
        stmt = select(models.SchedulerRun).order_by(col(models.SchedulerRun.job))
        return list((await session.execute(stmt)).scalars())


async def test_the_purge_can_be_switched_off(make_chat: MakeChat) -> None:
    chat = await make_chat(
        "[privacy]\npurge_texts = false\n", features=features(), language="en", step=timedelta(0)
    )
    await chat.say("alice", "old")
    clock(chat).advance(timedelta(days=40))
    await chat.tick()
    assert [m.text for m in await all_rows(chat, models.Message)] == ["old"]
    assert await log_actions(chat) == []


async def test_the_purge_posts_to_the_log_chat(make_chat: MakeChat) -> None:
    extra = 'log_chat = "console:modlog"\n'
    chat = await make_chat(extra, features=features(), language="en", step=timedelta(0))
    await chat.say("alice", "old")
    clock(chat).advance(timedelta(days=31))
    before = len(chat.sent)
    await chat.tick()
    assert replies(chat.sent[before:], "console:modlog") == [
        "📋 old message texts erased 🤖 automatic: 1 message texts older than 30 days"
    ]
