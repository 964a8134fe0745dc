"""The promo feature in a chat: flags, cases, review buttons, learning, trust and commands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlmodel import col

from adapters.console import ConsoleChat, TestClock
from bot.actions import Delete, Reply, ReviewRequest
from bot.app import App, default_config
from bot.events import ButtonPressed
from bot.features.moderation import ModerationFeature
from bot.features.promo import PromoFeature
from bot.features.promo.classifier import features
from bot.locales import get_locale
from bot.text import analyse
from storage import models
from storage.db import Database
from storage.inline_sqlite import InlineConnection
from storage.repositories import State, Store
from tests.conftest import START, MakeApp, MakeChat, introduce


@dataclass(frozen=True)
class Script:
    """One language's texts for the scenarios."""

    language: str
    ad: str
    ad_edited: str
    later_ad: str
    blatant: str
    question1: str
    answer1: str
    thanks1: str
    question2: str
    answer2: str
    question3: str
    answer3: str
    tip: str
    event1: str


DE = Script(
    language="de",
    ad="Neu: handgemachte Ledertaschen für Radler in meinem kleinen Laden, "
    "schaut gern vorbei auf www.leder-atelier.de",
    ad_edited="Neu: handgemachte Ledertaschen für Radler in meinem kleinen Laden, "
    "schaut mal vorbei auf www.leder-atelier.de",
    later_ad="Handgemachte Lenkertaschen aus Leder gibt es jetzt in meinem Laden, "
    "schaut vorbei: www.lenker-leder.de",
    blatant="🔥 MEGA RABATT nur heute! Jetzt kaufen: bit.ly/rad-deal 🔥 Mehr Infos per PN",
    question1="Weiß jemand, wie man in Python Duplikate aus einer Liste entfernt?",
    answer1="Am einfachsten mit dict.fromkeys, das behält die Reihenfolge: "
    "https://docs.python.org/3/library/stdtypes.html#dict.fromkeys",
    thanks1="Danke @helga, klappt!",
    question2="Wie bekomme ich bei Git einen gelöschten Commit zurück?",
    answer2="Mit git reflog findest du ihn wieder, steht hier: https://git-scm.com/docs/git-reflog",
    question3="Hat jemand Tipps für eine Radtour an der Ostsee?",
    answer3="Der Ostseeküsten-Radweg ist toll, die Etappen findest du hier: "
    "https://www.ostseekuestenradweg.de/etappen",
    tip="Kleiner Tipp für alle: Die Python-Doku gibt es auch auf Deutsch: https://docs.python.org/de/3/",
    event1="Am Samstag ist Fahrrad-Flohmarkt im Hof, alle Infos stehen auf www.flohmarkt-hof.de",
)
EN = Script(
    language="en",
    ad="New: handmade leather bags for riders from my small workshop, "
    "have a peek at www.leather-atelier.com",
    ad_edited="New: handmade leather bags for riders from my small workshop, "
    "have a quick peek at www.leather-atelier.com",
    later_ad="Leather handlebar bags, handmade in my workshop: www.handlebar-leather.com",
    blatant="🔥 HUGE DISCOUNT today only! Buy now: bit.ly/bike-deal 🔥 DM me for more",
    question1="Does anyone know how to remove duplicates from a list in Python?",
    answer1="Easiest with dict.fromkeys, it keeps the order: "
    "https://docs.python.org/3/library/stdtypes.html#dict.fromkeys",
    thanks1="Thanks @helga, that works!",
    question2="How do I get a deleted commit back in Git?",
    answer2="git reflog finds it again, it's explained here: https://git-scm.com/docs/git-reflog",
    question3="Any tips for a cycling tour along the coast?",
    answer3="The coast path is lovely, the stages are listed here: "
    "https://www.sustrans.org.uk/national-cycle-network",
    tip="A small tip for everyone: the Python docs have a great tutorial: "
    "https://docs.python.org/3/tutorial/",
    event1="Bike flea market this Saturday in the yard, all the details are on www.flea-yard.org",
)
SCRIPTS = [pytest.param(DE, id="de"), pytest.param(EN, id="en")]


def promo_decisions(chat: ConsoleChat) -> list[dict[str, Any]]:
    """The promo flags, without their scores (checked separately)."""
    return [
        {k: v for k, v in d.as_json().items() if k != "score"}
        for d in chat.decisions
        if d.kind == "promo"
    ]


def scores(chat: ConsoleChat) -> list[float]:
    return [float(d.data["score"]) for d in chat.decisions if d.kind == "promo"]


def reviews(chat: ConsoleChat) -> list[ReviewRequest]:
    return [a for a in chat.sent if isinstance(a, ReviewRequest)]


_presses = iter(range(1, 10_000))


async def press(chat: ConsoleChat, custom_id: str, who: str = "mod") -> None:
    """A member presses a review button in the moderator chat."""
    await chat.send(
        ButtonPressed(
            key=f"console:mods:button:{next(_presses)}",
            community="demo",
            chat="console:mods",
            at=chat.clock(),
            custom_id=custom_id,
            user=chat.member(who),
            message_id="99",
        )
    )


async def rows(chat: ConsoleChat, model: Any, *where: Any) -> list[Any]:
    async with chat.engine.db.session() as session:
        stmt = select(model).where(*where).order_by(model.id)
        return list((await session.execute(stmt)).scalars())


async def cross_post(chat: ConsoleChat, who: str, text: str) -> list[int]:
    return [await chat.say(who, text, chat=room) for room in ("general", "help", "offtopic")]


# --------------------------------------------------------------------------- replay


@pytest.mark.parametrize("script", SCRIPTS)
async def test_a_cross_posting_broadcaster_is_flagged_a_helper_is_not(
    make_chat: MakeChat, script: Script
) -> None:
    chat = await make_chat(features=[PromoFeature()], language=script.language)
    q1 = await chat.say("alice", script.question1)
    a1 = await chat.say("helga", script.answer1, reply_to=q1)
    await chat.say("alice", script.thanks1, reply_to=a1)
    ad1 = await chat.say("otto", script.ad, chat="general")
    q2 = await chat.say("bob", script.question2, chat="help")
    await chat.say("helga", script.answer2, reply_to=q2, chat="help")
    ad2 = await chat.say("otto", script.ad_edited, chat="help")
    q3 = await chat.say("carla", script.question3, chat="offtopic")
    await chat.say("helga", script.answer3, reply_to=q3, chat="offtopic")
    ad3 = await chat.say("otto", script.ad, chat="offtopic")
    await chat.say("helga", script.tip, chat="general")

    assert promo_decisions(chat) == [
        {
            "kind": "promo",
            "message_id": str(ad2),
            "user": "console:otto",
            "signals": ["classifier", "cross_post", "new_member_link", "monologue"],
            "case": 1,
            "nudged": False,
        },
        {
            "kind": "promo",
            "message_id": str(ad3),
            "user": "console:otto",
            "signals": ["classifier", "cross_post", "new_member_link", "monologue"],
            "case": 1,
            "nudged": False,
        },
    ]
    assert all(score >= 0.6 for score in scores(chat))
    (review,) = reviews(chat)
    assert review.chat == "console:mods" and review.case_id == 1
    assert [b.custom_id for b in review.buttons] == [
        "case:1:confirm",
        "case:1:dismiss",
        "case:1:ignore",
    ]
    (case,) = await rows(chat, models.Case)
    assert (case.kind, case.subject, case.status) == ("promo", "console:otto", "open")
    assert [(m["chat"], m["message_id"]) for m in case.evidence["messages"]] == [
        ("console:general", str(ad1)),
        ("console:help", str(ad2)),
        ("console:offtopic", str(ad3)),
    ]
    flags = await rows(chat, models.Flag)
    assert [(f.member, f.message_id, f.case_id) for f in flags] == [
        ("console:otto", str(ad2), 1),
        ("console:otto", str(ad3), 1),
    ]
    fingerprints = await rows(chat, models.Message, col(models.Message.author) == "console:otto")
    assert all(m.fingerprint is not None for m in fingerprints)


@pytest.mark.parametrize("script", SCRIPTS)
async def test_a_helper_answering_with_links_in_every_chat_is_never_flagged(
    make_chat: MakeChat, script: Script
) -> None:
    chat = await make_chat(features=[PromoFeature()], language=script.language)
    for room in ("general", "help", "offtopic"):
        for question, answer in (
            (script.question1, script.answer1),
            (script.question2, script.answer2),
            (script.question3, script.answer3),
        ):
            asked = await chat.say("alice", question, chat=room)
            await chat.say("helga", answer, reply_to=asked, chat=room)
    await chat.say("helga", script.tip, chat="general")
    assert promo_decisions(chat) == []
    assert await rows(chat, models.Flag) == []


@pytest.mark.parametrize(
    ("answers", "flagged"),
    [
        pytest.param(
            [
                "Feel free to DM me the full traceback if you don't want to paste it here.",
                "Hit me up if you get stuck again, happy to help.",
                "Check your DMs, I sent you the config file.",
                "Schreib mir privat, dann schick ich dir die Zugangsdaten fürs Vereins-WLAN.",
            ],
            False,
            id="helper-offering-a-private-chat",
        ),
        pytest.param(
            [
                "DM me for crypto signals, guaranteed profit every week 🚀",
                "Make money from home, DM me for details 💰",
                "Passive income with crypto, DM me now 🚀🚀",
                "Guaranteed profit with my trading signals, DM me 💰",
            ],
            True,
            id="spammer-answering-with-ads",
        ),
    ],
)
async def test_answers_count_by_what_they_say_besides_a_dm_offer(
    make_chat: MakeChat, answers: list[str], flagged: bool
) -> None:
    # Four answers to four questions: a helper who offers a private chat takes part in the
    # dialogue; a spammer who answers with ads is still a promoter.
    chat = await make_chat(features=[PromoFeature()], language="en")
    for number, answer in enumerate(answers):
        asked = await chat.say(f"asker{number}", "My script crashes, how do I fix it?")
        await chat.say("helga", answer, reply_to=asked)
    assert bool(promo_decisions(chat)) is flagged


@pytest.mark.parametrize(
    "links",
    [
        pytest.param(
            [
                "Für alle, die es suchen: die Python-Doku https://docs.python.org/3/",
                "Die Git-Anleitung ist übrigens sehr gut: https://git-scm.com/book/de/v2",
                "Die Regeln für Radwege stehen hier: https://www.adfc.de/artikel/radwege",
            ],
            id="de",
        ),
        pytest.param(
            [
                "For everyone looking for it: the Python docs https://docs.python.org/3/",
                "The Git book is really good by the way: https://git-scm.com/book/en/v2",
                "The highway code rules for cyclists: https://www.gov.uk/guidance/the-highway-code",
            ],
            id="en",
        ),
    ],
)
async def test_a_new_member_sharing_documentation_is_not_flagged(
    make_chat: MakeChat, links: list[str]
) -> None:
    chat = await make_chat(features=[PromoFeature()])
    for text, room in zip(links, ("general", "help", "offtopic"), strict=True):
        await chat.say("nina", text, chat=room)
    assert promo_decisions(chat) == []


async def test_the_communitys_own_links_never_count(make_chat: MakeChat) -> None:
    # A new member posts the club's invite in every chat: a cross-post with an invite link,
    # until the moderators allow the club's links at run time.
    chat = await make_chat(features=[PromoFeature(), ModerationFeature()])
    invite = "Kommt alle zur Ausfahrt am Sonntag, Infos im Vereinschat: discord.gg/radler"
    await cross_post(chat, "nina", invite)
    assert {d["user"] for d in promo_decisions(chat)} == {"console:nina"}
    allow = "/config set --community promo.allowed_links [radler.de, discord.gg/radler]"
    await chat.say("mod", allow)
    await cross_post(chat, "otto", invite)
    await cross_post(chat, "otto", "Das Vereinsforum: https://forum.radler.de/t/ausfahrt")
    assert {d["user"] for d in promo_decisions(chat)} == {"console:nina"}
    # Another server's invite still counts.
    await cross_post(chat, "paul", "Kommt alle auf meinen Server: discord.gg/radler-deals")
    assert {d["user"] for d in promo_decisions(chat)} == {"console:nina", "console:paul"}


# --------------------------------------------------------------------------- learning


# Every candidate is flagged (and so its score logged), to compare scores below threshold.
LOW = "[promo]\nflag_threshold = 0.1\n"


def score_of(chat: ConsoleChat, message: int) -> float:
    (score,) = [
        d.data["score"]
        for d in chat.decisions
        if d.kind == "promo" and d.message_id == str(message)
    ]
    return float(score)


@pytest.mark.parametrize("script", SCRIPTS)
async def test_confirming_makes_similar_ads_score_higher(
    make_chat: MakeChat, script: Script
) -> None:
    feature = PromoFeature()
    chat = await make_chat(LOW, features=[feature], language=script.language)
    first = await chat.say("otto", script.ad, chat="general")
    second = await chat.say("otto", script.ad_edited, chat="help")
    before_feature = await chat.say("paula", script.later_ad, chat="offtopic")
    model = feature.classifier("demo")
    assert model is not None
    later = features(analyse(script.later_ad))
    odds = model.log_odds(later)

    await press(chat, "case:1:confirm")
    deletes = [a for a in chat.sent if isinstance(a, Delete)]
    assert [(d.chat, d.message_id) for d in deletes] == [
        ("console:general", str(first)),
        ("console:help", str(second)),
    ]
    review = [d.as_json() for d in chat.decisions if d.kind == "promo_review"]
    assert review == [
        {
            "kind": "promo_review",
            "message_id": str(first),
            "case": 1,
            "action": "confirm",
            "user": "console:mod",
            "member": "console:otto",
        }
    ]
    samples = await rows(chat, models.TrainingSample)
    assert sorted((s.label, s.text) for s in samples) == sorted(
        [("spam", script.ad), ("spam", script.ad_edited)]
    )
    # A new member in the same situation as paula, after the moderator's decision.
    after_feature = await chat.say("rita", script.later_ad, chat="offtopic")
    model = feature.classifier("demo")
    assert model is not None
    assert model.log_odds(later) > odds
    assert score_of(chat, after_feature) > score_of(chat, before_feature)


@pytest.mark.parametrize("script", SCRIPTS)
async def test_dismissing_lowers_later_scores_of_that_member(
    make_chat: MakeChat, script: Script
) -> None:
    feature = PromoFeature()
    chat = await make_chat(LOW, features=[feature], language=script.language)
    frank = [await chat.say("frank", script.event1, chat=room) for room in ("general", "help")]
    gina = [await chat.say("gina", script.event1, chat=room) for room in ("general", "help")]
    assert score_of(chat, frank[1]) == score_of(chat, gina[1])
    model = feature.classifier("demo")
    assert model is not None
    odds = model.log_odds(features(analyse(script.event1)))

    await press(chat, "case:1:dismiss")
    (case, other) = await rows(chat, models.Case)
    assert (case.subject, case.status, case.closed_by) == (
        "console:frank",
        "dismissed",
        "console:mod",
    )
    assert (other.subject, other.status) == ("console:gina", "open")
    async with chat.engine.db.session() as session:
        assert await State(session).get("promo", "demo", "bonus:console:frank") == 0.2
    samples = await rows(chat, models.TrainingSample)
    assert [(s.label, s.text) for s in samples] == [("ham", script.event1)]

    frank_later = await chat.say("frank", script.event1, chat="offtopic")
    gina_later = await chat.say("gina", script.event1, chat="offtopic")
    model = feature.classifier("demo")
    assert model is not None
    assert model.log_odds(features(analyse(script.event1))) < odds
    assert score_of(chat, frank_later) < score_of(chat, gina_later)


# --------------------------------------------------------------------------- buttons


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "de",
            "Danke fürs Mitdenken, alice! Über Fälle entscheiden aber die Moderatorinnen und "
            "Moderatoren.",
        ),
        (
            "en",
            "Thanks for keeping an eye out, alice! Cases are decided by the moderators, though.",
        ),
    ],
)
async def test_a_member_who_is_no_moderator_cannot_decide(
    make_chat: MakeChat, language: str, text: str
) -> None:
    chat = await make_chat(features=[PromoFeature()], language=language)
    await chat.say("otto", DE.blatant)
    await press(chat, "case:1:confirm", who="alice")
    assert chat.sent[-1] == Reply(chat="console:mods", text=text, reply_to="99")
    refused = [d.as_json() for d in chat.decisions if d.kind == "refused"]
    assert refused == [
        {
            "kind": "refused",
            "message_id": "1",
            "custom_id": "case:1:confirm",
            "user": "console:alice",
            "case": 1,
        }
    ]
    assert not any(isinstance(a, Delete) for a in chat.sent)
    (case,) = await rows(chat, models.Case)
    assert case.status == "open"
    (log,) = await rows(chat, models.ModLogEntry)
    assert (log.actor, log.action, log.case_id) == ("console:alice", "refused", 1)


async def test_a_decided_case_is_not_decided_twice(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[PromoFeature()], language="en")
    await chat.say("otto", EN.blatant)
    await press(chat, "case:1:confirm")
    await press(chat, "case:1:dismiss")
    assert chat.sent[-1] == Reply(
        chat="console:mods", text="Case #1 has already been decided (confirmed).", reply_to="99"
    )
    assert [d.data["action"] for d in chat.decisions if d.kind == "promo_review"] == ["confirm"]


@pytest.mark.parametrize(
    "custom_id", ["case:1:confirm", "case:2:dismiss", "case:x:confirm", "other"]
)
async def test_buttons_of_other_features_cases_are_left_alone(
    make_chat: MakeChat, custom_id: str
) -> None:
    chat = await make_chat(features=[PromoFeature()])
    async with chat.engine.db.session() as session:
        session.add(
            models.Case(
                community="demo", kind="complaint", subject="console:alice", opened_at=START
            )
        )
        await session.commit()
    before = len(chat.sent)
    await press(chat, custom_id)
    assert chat.sent[before:] == []
    assert [d for d in chat.decisions if d.kind != "reply"] == []


async def test_ignore_member_puts_them_on_the_allow_list(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[PromoFeature()])
    await chat.say("otto", DE.blatant)
    await press(chat, "case:1:ignore")
    assert chat.sent[-1] == Reply(
        chat="console:mods",
        text="Fall #1 geschlossen: otto steht jetzt auf der Vertrauensliste.",
        reply_to="99",
    )
    await chat.say("otto", DE.blatant, chat="help")
    assert [d["message_id"] for d in promo_decisions(chat)] == ["1"]


# --------------------------------------------------------------------------- trust


@pytest.mark.parametrize("script", SCRIPTS)
async def test_trust_prevents_a_flag_and_untrust_brings_it_back(
    make_chat: MakeChat, script: Script
) -> None:
    chat = await make_chat(features=[PromoFeature()], language=script.language)
    await chat.say("otto", "Hallo zusammen!")
    command = await chat.say("mod", "/trust @otto")
    trusted = get_locale(script.language).t("promo.trusted", name="otto")
    assert chat.sent[-1] == Reply(chat="console:general", text=trusted, reply_to=str(command))
    await cross_post(chat, "otto", script.blatant)
    assert promo_decisions(chat) == []
    command = await chat.say("mod", "/untrust otto")
    untrusted = get_locale(script.language).t("promo.untrusted", name="otto")
    assert chat.sent[-1] == Reply(chat="console:general", text=untrusted, reply_to=str(command))
    flagged = await chat.say("otto", script.blatant)
    assert [d["message_id"] for d in promo_decisions(chat)] == [str(flagged)]
    kinds = [(d.kind, d.data.get("trusted")) for d in chat.decisions if d.kind == "promo_trust"]
    assert kinds == [("promo_trust", True), ("promo_trust", False)]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("/trust", "So geht's: /trust @member"),
        ("/trust @niemand", "Ich kenne @\u200bniemand hier noch nicht."),
        ("/untrust @otto", "otto stand nicht auf der Vertrauensliste."),
    ],
)
async def test_trust_commands_explain_what_is_wrong(
    make_chat: MakeChat, command: str, reply: str
) -> None:
    chat = await make_chat(features=[PromoFeature()])
    await chat.say("otto", "Hallo!")
    await chat.say("mod", command)
    assert chat.sent[-1] == Reply(chat="console:general", text=reply, reply_to="2")


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "de",
            [
                "📋 auf die Vertrauensliste gesetzt mod → otto: /trust",
                "📋 von der Vertrauensliste genommen mod → otto: /untrust",
            ],
        ),
        (
            "en",
            [
                "📋 put on the allow-list mod → otto: /trust",
                "📋 taken off the allow-list mod → otto: /untrust",
            ],
        ),
    ],
)
async def test_trust_and_untrust_go_through_the_mod_log(
    make_chat: MakeChat, language: str, lines: list[str]
) -> None:
    chat = await make_chat(
        'log_chat = "console:modlog"\n', features=[PromoFeature()], language=language
    )
    await chat.say("otto", "Hallo!")
    await chat.say("mod", "/trust @otto")
    await chat.say("mod", "/untrust @otto")
    posted = [a.text for a in chat.sent if isinstance(a, Reply) and a.chat == "console:modlog"]
    assert posted == lines
    assert [d.data for d in chat.decisions if d.kind == "mod_action"] == [
        {"action": action, "actor": "console:mod", "target": "console:otto", "case": None}
        for action in ("promo_trust", "promo_untrust")
    ]
    log = await rows(chat, models.ModLogEntry)
    assert [(e.actor, e.action, e.target, e.detail) for e in log] == [
        ("console:mod", "promo_trust", "console:otto", "/trust"),
        ("console:mod", "promo_untrust", "console:otto", "/untrust"),
    ]


async def test_trust_names_the_username_and_never_guesses(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[PromoFeature()], language="en")
    await introduce(chat, "console:222", "otto", "mallory")  # copied otto's name
    await introduce(chat, "console:111", "Otto Real", "otto")
    await introduce(chat, "console:301", "Anna", None)
    await introduce(chat, "console:302", "anna", None)
    await chat.say("mod", "/trust @otto")
    command = await chat.say("mod", "/trust @Anna")
    ambiguous = (
        "Several members here are called @\u200bAnna. Please use the username of the one you"
        " mean (@…), or send the command as a reply to one of their messages."
    )
    assert chat.sent[-1] == Reply(chat="console:general", text=ambiguous, reply_to=str(command))
    trusted = [d.data.get("member") for d in chat.decisions if d.kind == "promo_trust"]
    assert trusted == ["console:111"]


async def test_members_with_high_karma_are_not_flagged_for_links(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[PromoFeature()], language="en")
    async with chat.engine.db.session() as session:
        for member in ("console:kim", "console:lena"):
            await Store(session).karma.add(
                community="demo",
                receiver=member,
                points=25.0 if member == "console:kim" else 5.0,
                reason="moderator",
                event_key=f"seed:{member}",
                at=START,
            )
        await session.commit()
    invite = "Our riders' meetup group has a chat now, join here: t.me/+RidersMeetup"
    await cross_post(chat, "kim", invite)
    await cross_post(chat, "lena", invite)
    assert {d["user"] for d in promo_decisions(chat)} == {"console:lena"}
    spam = await chat.say("kim", EN.blatant + " Crypto signals with guaranteed profit, 100x!")
    assert [d["message_id"] for d in promo_decisions(chat) if d["user"] == "console:kim"] == [
        str(spam)
    ]


# --------------------------------------------------------------------------- actions


async def test_auto_delete_is_logged_and_a_dismiss_restores(make_chat: MakeChat) -> None:
    chat = await make_chat("[promo]\nauto_delete_threshold = 0.8\n", features=[PromoFeature()])
    mild = await chat.say("otto", DE.ad)
    blatant = await chat.say("otto", DE.blatant)
    deletes = [a for a in chat.sent if isinstance(a, Delete)]
    assert [(d.chat, d.message_id) for d in deletes] == [("console:general", str(blatant))]
    assert mild != blatant
    (review,) = reviews(chat)
    assert review.text.endswith(
        "Die Nachricht wurde automatisch gelöscht; „Fehlalarm“ stellt sie wieder her."
    )
    (log,) = await rows(chat, models.ModLogEntry)
    assert (log.actor, log.action, log.target, log.case_id) == (
        None,
        "promo_auto_delete",
        "console:otto",
        1,
    )
    (case,) = await rows(chat, models.Case)
    assert case.status == "open"
    await press(chat, "case:1:dismiss")
    restored = [a for a in chat.sent if isinstance(a, Reply) and a.chat == "console:general"]
    assert restored == [
        Reply(
            chat="console:general",
            text="Wiederhergestellt (Nachricht von otto): 🔥 MEGA RABATT nur heute! Jetzt "
            "kaufen: bit.ly/rad-deal 🔥 Mehr Infos per PN",
        )
    ]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_the_nudge_is_friendly_and_in_the_community_language(
    make_chat: MakeChat, script: Script
) -> None:
    chat = await make_chat(
        "[promo]\nnudge = true\n", features=[PromoFeature()], language=script.language
    )
    message = await chat.say("otto", script.blatant)
    (nudge,) = [a for a in chat.sent if isinstance(a, Reply)]
    options = [v.format(name="otto") for v in get_locale(script.language).variants("promo.nudge")]
    assert nudge.chat == "console:general" and nudge.reply_to == str(message)
    assert nudge.text in options
    assert [d["nudged"] for d in promo_decisions(chat)] == [True]


async def test_without_a_moderator_chat_the_case_is_still_recorded(make_app: MakeApp) -> None:
    app = await make_app(
        config_text=(
            '[bot]\nlanguage = "en"\n\n[[communities]]\nname = "demo"\n'
            'console_chats = ["general"]\n'
        ),
        features=[PromoFeature()],
    )
    chat = ConsoleChat(app.engine, community="demo", clock=TestClock(START, timedelta(minutes=1)))
    await chat.say("otto", EN.blatant)
    assert reviews(chat) == []
    assert [d["case"] for d in promo_decisions(chat)] == [1]
    async with app.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(models.Case))
    assert count == 1


@pytest.mark.parametrize("script", SCRIPTS)
async def test_an_edit_into_an_ad_is_rescored(make_chat: MakeChat, script: Script) -> None:
    chat = await make_chat(features=[PromoFeature()], language=script.language)
    message = await chat.say("otto", script.question1)
    assert promo_decisions(chat) == []
    await chat.edit("otto", message, script.blatant)
    assert [d["message_id"] for d in promo_decisions(chat)] == [str(message)]


@pytest.mark.parametrize(
    ("language", "empty", "title", "line"),
    [
        (
            "de",
            "Keine offenen Werbe-Fälle. 🎉",
            "Offene Werbe-Fälle (1):",
            "#1 otto – Score 0.90 – 1 Nachricht(en) – Textklassifikator, „schreib mir privat“, "
            "neues Mitglied mit Link, Werbewörter, Kurzlink",
        ),
        (
            "en",
            "No open promo cases. 🎉",
            "Open promo cases (1):",
            "#1 otto – score 0.90 – 1 message(s) – text classifier, “DM me”, "
            "new member with a link, promo wording, link shortener",
        ),
    ],
)
async def test_flags_lists_open_cases(
    make_chat: MakeChat, language: str, empty: str, title: str, line: str
) -> None:
    chat = await make_chat(features=[PromoFeature()], language=language)
    await chat.say("mod", "/flags")
    assert chat.sent[-1] == Reply(chat="console:general", text=empty, reply_to="1")
    await chat.say("otto", EN.blatant)
    await chat.say("mod", "/flags")
    reply = chat.sent[-1]
    assert isinstance(reply, Reply)
    assert reply.text.split("\n") == [title, line]


# --------------------------------------------------------------------------- restart, cost


async def test_a_restart_rebuilds_the_window_from_the_messages(make_app: MakeApp) -> None:
    first = await make_app(features=[PromoFeature()])
    clock = TestClock(START, timedelta(minutes=1))
    chat = ConsoleChat(first.engine, community="demo", clock=clock)
    await chat.say("otto", DE.ad, chat="general")
    assert promo_decisions(chat) == []
    second = await make_app(features=[PromoFeature()])  # same database, fresh memory
    again = ConsoleChat(second.engine, community="demo", clock=clock, lines=list(chat.lines))
    copy = await again.say("otto", DE.ad_edited, chat="help")
    assert promo_decisions(again) == [
        {
            "kind": "promo",
            "message_id": str(copy),
            "user": "console:otto",
            "signals": ["classifier", "cross_post", "new_member_link", "monologue"],
            "case": 1,
            "nudged": False,
        }
    ]


@contextlib.contextmanager
def statements_seen(db: Database, seen: list[str]) -> Iterator[None]:
    """Every statement the driver runs, also those handed to the driver past SQLAlchemy."""
    engine = db.engine.sync_engine
    active = [True]

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    def traced(statement: str) -> None:
        if active[0]:
            seen.append(statement)

    def logged(query: Any) -> None:
        traced(query.query)

    def trace(dbapi_connection: Any, *_args: Any) -> None:
        if db.is_sqlite:
            dbapi_connection.driver_connection._conn.set_trace_callback(traced)
        else:  # asyncpg: what storage.direct runs (SQLAlchemy's statements are counted below)
            dbapi_connection.driver_connection.add_query_logger(logged)

    listeners = [("checkout", trace)]
    if not db.is_sqlite:
        listeners.append(("before_cursor_execute", count))
    for name, listener in listeners:
        sa_event.listen(engine, name, listener)
    try:
        yield
    finally:
        active[0] = False
        for name, listener in listeners:
            sa_event.remove(engine, name, listener)


async def test_ordinary_messages_cost_no_extra_queries(make_chat: MakeChat) -> None:
    plain = await make_chat(features=[])
    promo = await make_chat(features=[PromoFeature()])
    counts = []
    for chat, room in ((plain, "general"), (promo, "help")):
        await chat.say("alice", "Guten Morgen zusammen!", chat=room)  # warms the caches
        seen: list[str] = []
        with statements_seen(chat.engine.db, seen):
            for n in range(5):
                await chat.say("bob", f"Wer kommt heute Abend mit zur Runde Nummer {n}?", chat=room)
        counts.append(len(seen))
    assert counts[0] > 0
    assert counts[1] == counts[0]


async def test_a_rebuilt_window_counts_each_answer_once_through_the_indexes(
    make_app: MakeApp, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await make_app(features=[PromoFeature()])
    clock = TestClock(START, timedelta(minutes=1))
    chat = ConsoleChat(first.engine, community="demo", clock=clock)
    hello = await chat.say("otto", "Hallo zusammen, ich bin neu hier", chat="general")
    await chat.say("bob", "Willkommen!", reply_to=hello, chat="general")  # a reply
    await chat.say("carl", "@otto was fährst du so?", chat="general")  # a mention
    await chat.say("dora", "@otto schau mal in #help", reply_to=hello, chat="general")  # both
    await chat.say("otto", "@carl ein Gravelbike", chat="general")  # his own: not an answer

    promo = PromoFeature()
    answers: list[list[Any]] = []
    read = promo._answers

    async def recorded(*args: Any) -> list[Any]:
        answers.append(await read(*args))
        return answers[-1]

    promo._answers = recorded  # type: ignore[method-assign]
    second = await make_app(features=[promo])  # same database, fresh memory
    again = ConsoleChat(second.engine, community="demo", clock=clock, lines=list(chat.lines))
    statements: list[tuple[str, Any]] = []
    run = InlineConnection.run

    async def capture(conn: InlineConnection, sql: str, params: Any, **kw: Any) -> Any:
        if "reply_to_author" in sql and "ORDER BY" in sql:
            statements.append((sql, params))
        return await run(conn, sql, params, **kw)

    # On SQLite the searches go to the driver directly.
    monkeypatch.setattr(InlineConnection, "run", capture)
    await again.say("otto", DE.ad, chat="general")  # a watched message: the window is read
    monkeypatch.undo()
    # bob, carl and dora answered (dora's reply with a mention counts once), oldest first.
    assert answers == [[START + timedelta(minutes=m) for m in (1, 2, 3)]]

    if not db_url.startswith("sqlite"):
        return
    # On SQLite the two reads are index searches, not a walk through the week.
    plans = []
    async with second.db.engine.connect() as conn:
        for sql, params in statements:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(params))
            plans.append(" ".join(str(row[-1]) for row in rows))
    assert any("ix_messages_community_reply_author_at" in plan for plan in plans), plans
    assert any("ix_message_mentions_member_at" in plan for plan in plans), plans
    # Which members are bots is an index search too, not a walk through every member.
    assert not any("SCAN members" in plan for plan in plans), plans


async def test_a_window_after_a_restart_counts_the_same_answers(tmp_path: Path) -> None:
    """An answer that is itself promotional (a mention with a shop link) counts for nobody,
    whether the window was kept in memory or read again after a restart (SQLite: one
    process keeps windows in memory)."""

    async def answers_seen(restart: bool) -> list[Any]:
        url = f"sqlite+aiosqlite:///{tmp_path / f'restart-{restart}.db'}"
        promo = PromoFeature()
        app = await App.create(default_config(url), database_url=url, features=[promo])
        clock = TestClock(START, timedelta(minutes=1))
        chat = ConsoleChat(app.engine, community="demo", clock=clock)
        await chat.say("yvonne", "Hallo, ich bin neu hier", chat="general")
        helper = await chat.say("bob", "Willkommen, frag einfach!", chat="general")
        await chat.say("yvonne", "Danke!", reply_to=helper, chat="general")
        await chat.say("bob", "@yvonne gern, schau mal in die Anleitung", chat="general")
        await chat.say(
            "xaver",
            "@yvonne schau mal https://shop-example.com/angebot super Rabatt",
            chat="general",
        )
        if restart:
            await app.close()
            promo = PromoFeature()
            app = await App.create(default_config(url), database_url=url, features=[promo])
            chat = ConsoleChat(app.engine, community="demo", clock=clock, lines=list(chat.lines))
        try:
            await chat.say("yvonne", DE.ad, chat="general")  # watched: her window is judged
            state = promo._windows.peek("demo", "console:yvonne")
            return [] if state is None else list(state.received)
        finally:
            await app.close()

    kept, rebuilt = await answers_seen(restart=False), await answers_seen(restart=True)
    assert kept == rebuilt
    assert kept == [START + timedelta(minutes=3)]  # bob's mention; xaver's advert is no answer
