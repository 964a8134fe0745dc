"""Thanks detection and whom to credit: pure functions, no database."""

from __future__ import annotations

import pytest

from bot.features.karma import KarmaFeature, KarmaSettings, detect_thanks, giver_weight
from bot.features.karma.credit import Credit, Said, Target, whom_to_credit
from bot.features.karma.detect import explain_thanks, might_thank, normalize_emoji

# (text, the lexicon phrase that should match, or None for "no thanks")
GERMAN = [
    ("Danke!", "danke"),
    ("danke dir, hat geklappt", "danke"),
    ("Vielen Dank für die schnelle Hilfe", "vielen dank"),
    ("Dankeschön 😊", "dankeschön"),
    ("Danke schön, Bob", "danke schön"),
    ("Herzlichen Dank an euch alle", "herzlichen dank"),
    ("Tausend Dank!!!", "tausend dank"),
    ("Besten Dank für den Link", "besten dank"),
    ("Merci, das wars", "merci"),
    ("thx, probier ich gleich", "thx"),
    ("DANKE!!!", "danke"),
    ("Dankeeee", "danke"),
    ("Das hat geholfen!", "hat geholfen"),
    ("Hat mir geholfen.", "hat mir geholfen"),
    ("Läuft jetzt 🎉", "läuft jetzt"),
    ("jetzt läuft es!", "jetzt läuft es"),
    ("Klappt jetzt.", "klappt jetzt"),
    ("Funktioniert jetzt!", "funktioniert jetzt"),
    ("Ich bedanke mich herzlich", "bedanke"),
    ("Wir bedanken uns für die Hilfe", "bedanken"),
    ("Du hast meinen Tag gerettet", "du hast meinen tag gerettet"),
    ("Ehrenmann! 👍", "ehrenmann"),
    ("Bin dir so dankbar", "bin dir so dankbar"),
    ("🙏", "🙏"),
    ("🙏🏽 bob", "🙏"),
    ("D a n k e", "danke"),
    ("Lieben Dank, Bob", "lieben dank"),
    ("Vergelt's Gott", "vergelt's gott"),
    ("dank dir!", "dank dir"),
    ("Danke, hat geholfen", "danke"),
    ("ok danke", "danke"),
    ("Super, danke schön!", "danke schön"),
    ("Dankesehr", "dankesehr"),
    ("Danke an alle, die geantwortet haben", "danke"),
    ("Nochmal danke für gestern", "danke"),
    ("Vielen lieben Dank euch!", "vielen lieben dank"),
    ("Ihr seid die Besten", "ihr seid die besten"),
    ("> Wie geht das?\nDanke!", "danke"),
    ("Danke auch an Carol", "danke"),
    ("Das Problem war der Stecker. Danke!", "danke"),
    ("Danke im Voraus!", None),
    ("Vielen Dank im Voraus für eure Hilfe", None),
    ("Vorab danke!", None),
    ("Danke schon mal", None),
    ("Schonmal danke für eure Antworten", None),
    ("Danke euch schon mal im Voraus", None),
    ("Danke für nichts.", None),
    ("Nein danke, ich mach das selbst", None),
    ("Nee, danke", None),
    ("Gott sei Dank ist das vorbei", None),
    ("Danke trotzdem", None),
    ("Trotzdem danke", None),
    ("Ich wäre euch sehr dankbar für Tipps", None),
    ("Das läuft jetzt seit drei Stunden", None),
    ("Läuft jetzt?", None),
    ("Hat das geholfen?", None),
    ("Hat geholfen?", None),
    ("Na danke auch.", None),
    ("Toll, danke /s", None),
    ("Danke 🙄", None),
    ("> danke\nhm, geht immer noch nicht", None),
    ("```\necho danke\n```", None),
    ("Danker ist der Name des Servers", None),
    ("Die Party war gut", None),
    ("Ich bin undankbar", None),
    ("Danke der Nachfrage, mir geht's gut", None),
    ("@danke hat das geschrieben", None),
    ("Wer hat die Antwort?", None),
    ("danke für gar nichts", None),
    ("Dank des Updates geht nichts mehr", None),
    ("Danke, Merkel", None),
    ("Kann mir jemand helfen? 🙏", None),
    ("Wie viel Gepäck ist realistisch? Danke im Voraus für eure Tipps! 🙏", None),
    # A helper's wish, a doubt, or nothing worked: no success report.
    ("Versuch mal den Cache zu löschen. Hoffe, das hilft!", None),
    ("Probier mal X, keine Ahnung ob das hilft.", None),
    ("hoffe es läuft jetzt!", None),
    ("Hab alles probiert, nichts hat geholfen.", None),
    ("nix läuft jetzt!", None),
    ("Das hat geklappt!", "hat geklappt"),
    ("Hat es geklappt?", None),
    ("jetzt gehts!", "jetzt gehts"),
    # 🙏 as "please", refusals, and answers to wishes or to "how are you".
    ("bitte um hilfe 🙏", None),
    ("nö danke", None),
    ("Danke, kein Bedarf", None),
    ("danke, dir auch!", None),
    ("Danke dir auch, @anna!", "danke"),
    ("Danke, gleichfalls!", None),
    ("gut, danke und dir?", None),
    ("danke für nix", None),
    ("danke euch vorab", None),
    ("merci trotzdem", None),
    # Talking about thanks, or about the bot's thanks.
    ("er hat nicht mal danke gesagt", None),
    ("musst dich nicht bedanken 😊", None),
    ("Gibt es hier einen Danke-Button?", None),
    ("danke-schön!", "danke schön"),
    ("Ich wollte nur danke sagen!", "danke"),
    # Typographic apostrophes, dialect, and more ways to say it.
    ("Vergelt’s Gott!", "vergelt's gott"),
    ("Dankschön für die Hilfe", "dankschön"),
    ("Großen Dank an @bob!", "grossen dank"),
    ("Dank an @bob für die Hilfe", "dank an"),
    ("ich bin euch mega dankbar!", "mega dankbar"),
    ("Ich wäre echt dankbar für einen Tipp", None),
    # Stretched anywhere in the word.
    ("daaanke!", "danke"),
    ("Vieeelen Dank!", "vielen dank"),
    # A thanks right after a request thanks in advance.
    ("Hat jemand einen Tipp? Danke!", None),
    ("Mein Drucker spinnt. Hat jemand eine Idee? Danke und Gruß, Peter", None),
    ("Kannst du mir helfen? 🙏 Danke!", None),
    ("Ah, so geht das? Danke!", "danke"),
    ("Danke! Kann mir noch jemand sagen, wie das geht?", "danke"),
]

ENGLISH = [
    ("Thanks!", "thanks"),
    ("thank you so much", "thank you"),
    ("Thank you, Bob", "thank you"),
    ("thx", "thx"),
    ("ty!", "ty"),
    ("tysm 😊", "tysm"),
    ("Many thanks for the link", "thanks"),
    ("Thanks a lot, that fixed it", "thanks"),
    ("cheers mate", "cheers"),
    ("That worked!", "that worked"),
    ("it works now.", "it works now"),
    ("Works now 🎉", "works now"),
    ("That did the trick", "that did the trick"),
    ("You saved my day", "you saved my day"),
    ("you're a lifesaver", "you're a lifesaver"),
    ("Much appreciated!", "much appreciated"),
    ("I really appreciate it", "appreciate it"),
    ("Thanks to you it runs again", "thanks to you"),
    ("THANK YOU!!!", "thank you"),
    ("thanksss", "thanks"),
    ("thankyou", "thankyou"),
    ("thank u", "thank u"),
    ("🙏", "🙏"),
    ("Kudos to Bob", "kudos"),
    ("Problem solved!", "problem solved"),
    ("That helped.", "that helped"),
    ("Merci!", "merci"),
    ("thanks, that worked", "thanks"),
    ("So grateful for this community", "so grateful"),
    ("You rock", "you rock"),
    ("T H A N K S", "thanks"),
    ("> how do I reset it?\nthanks!", "thanks"),
    ("thanks to everyone who answered", "thanks to everyone"),
    ("Thanks again for yesterday", "thanks"),
    ("Big thanks to Bob", "big thanks to"),
    ("Thanks to @bob for the fix", "thanks to @"),
    ("Thanks everyone", "thanks"),
    ("No idea why, but thank you", "thank you"),
    ("thx m8", "thx"),
    ("Thanks in advance!", None),
    ("Thank you in advance for any help", None),
    ("thx in advance", None),
    ("Thanks so much in advance", None),
    ("Thanks for nothing.", None),
    ("No thanks, I'm good", None),
    ("No, thank you.", None),
    ("Thank god it's Friday", None),
    ("Thank goodness that's over", None),
    ("Thanks to the update, nothing works", None),
    ("Thanks anyway", None),
    ("Any help is greatly appreciated", None),
    ("I would appreciate any pointers", None),
    ("Would be grateful for help", None),
    ("Gee, thanks.", None),
    ("great, thanks /s", None),
    ("thanks 🙄", None),
    ("Thanks Obama", None),
    ("> thanks\nstill broken", None),
    ("`thanks` is a string in my code", None),
    ("```python\nprint('thank you')\n```", None),
    ("The party starts at 8", None),
    ("thankful is my username", None),
    ("Happy Thanksgiving!", None),
    ("Is it working now?", None),
    ("It worked before the update", None),
    ("That worked?", None),
    ("@thanks can you check?", None),
    ("Thanks for asking, I'm fine", None),
    ("I'd be grateful for any help", None),
    ("Tyler said hi", None),
    ("thanks but no thanks", None),
    ("Any idea what this noise is? 🙏", None),
    ("Thanks in advance 🙏", None),
    # A helper's wish, a doubt, or nothing worked: no success report.
    ("hope that helped!", None),
    ("try clearing the cache, hope it works now!", None),
    ("glad it worked!", None),
    ("not sure if it worked.", None),
    ("none of that worked.", None),
    ("I think it worked!", "it worked"),
    ("that fixed it!", "that fixed it"),
    ("hope this helps!", None),
    ("Thanks @bob, that helps!", "thanks"),
    # 🙏 as "please", refusals, answers to wishes or to "how are you".
    ("please help 🙏", None),
    ("nah, I'm good, thanks", None),
    ("thanks, but I'll pass", None),
    ("thanks, you too!", None),
    ("fine thanks, you?", None),
    ("ok good, thanks!", "thanks"),
    ("thx anyways", None),
    ("thx in adv!", None),
    ("thanks, I'll try it anyway", "thanks"),
    # Talking about thanks.
    ("he didn't even say thanks", None),
    ("remember to say thanks when someone helps you!", None),
    ("no need for thanks 😊", None),
    ("help would be appreciated, appreciate it if someone looks", None),
    # Typographic apostrophes, styled letters and more ways to say it.
    ("you’re the best!", "you're the best"),
    ("I’d appreciate it if someone could help", None),
    ("ＴＨＸ", "thx"),
    ("𝐭𝐡𝐚𝐧𝐤𝐬", "thanks"),
    ("much obliged", "much obliged"),
    ("i owe you one 🍺", "owe you one"),
    ("worked like a charm", "worked like a charm"),
    # Stretched anywhere in the word, or a doubled letter written once.
    ("thaaanks!", "thanks"),
    ("much apreciated", "much appreciated"),
    # A thanks right after a request thanks in advance.
    ("anyone know how to flash the firmware? thanks", None),
    ("Can someone review my PR? Thanks!", None),
    ("Any idea what's wrong here? Cheers, Bob", None),
    ("Oh wow, it works?! Thanks so much @bob", "thanks"),
    ("Does anyone know? Never mind, found it. Thanks!", "thanks"),
]


def test_tables_are_large_enough() -> None:
    assert len(GERMAN) >= 60 and len(ENGLISH) >= 60
    assert sum(1 for _, p in GERMAN if p is None) >= 25
    assert sum(1 for _, p in ENGLISH if p is None) >= 25


@pytest.mark.parametrize(("text", "phrase"), GERMAN)
def test_german(text: str, phrase: str | None) -> None:
    found = detect_thanks(text, "de")
    assert (found.phrase if found else None) == phrase


@pytest.mark.parametrize(("text", "phrase"), ENGLISH)
def test_english(text: str, phrase: str | None) -> None:
    found = detect_thanks(text, "en")
    assert (found.phrase if found else None) == phrase


@pytest.mark.parametrize(
    ("text", "language", "phrase"),
    [
        ("thanks, läuft jetzt!", "de", "thanks"),  # English word in a German community
        ("danke, that worked", "en", "danke"),  # and the other way round
        ("Danke im Voraus, thanks in advance", "en", None),
    ],
)
def test_both_languages_count_everywhere(text: str, language: str, phrase: str | None) -> None:
    found = detect_thanks(text, language)
    assert (found.phrase if found else None) == phrase


@pytest.mark.parametrize(
    ("text", "line", "zeile"),
    [
        (
            "Vielen Dank!",
            'thanks: yes — matched "vielen dank"',
            "Dank: ja – erkannt: „vielen dank“",
        ),
        (
            "Danke im Voraus",
            'thanks: no — "danke im voraus" cancels it',
            "Dank: nein – „danke im voraus“ hebt ihn auf",
        ),
        (
            "Thanks so much in advance",
            'thanks: no — "thanks so much in advance" cancels it',
            "Dank: nein – „thanks so much in advance“ hebt ihn auf",
        ),
        ("danke /s", 'thanks: no — sarcasm marker "/s"', "Dank: nein – Ironie-Zeichen „/s“"),
        (
            "Hilft mir jemand? 🙏",
            'thanks: no — "🙏" in a question means please',
            "Dank: nein – „🙏“ heißt in einer Frage „bitte“",
        ),
        ("Danke? 🙏", 'thanks: yes — matched "danke"', "Dank: ja – erkannt: „danke“"),
        (
            "> danke\nok",
            "thanks: no — only inside a quote or code block",
            "Dank: nein – nur in einem Zitat oder Codeblock",
        ),
        ("Wie spät ist es?", "thanks: no — no thanks phrase", "Dank: nein – keine Dankesformel"),
    ],
)
def test_explain_in_the_language_asked(text: str, line: str, zeile: str) -> None:
    assert KarmaFeature().explain(text, "en") == [line]
    assert explain_thanks(text, "en") == line
    assert explain_thanks(text, None) == line
    assert KarmaFeature().explain(text, "de") == [zeile]
    assert explain_thanks(text, "de") == zeile


@pytest.mark.parametrize(
    ("text", "expected"), [("Danke!", True), ("thanks in advance", False), ("hallo", False)]
)
def test_analyse(text: str, expected: bool) -> None:
    assert KarmaFeature().analyse(text, None) == {"thanks": {"is": expected}}


@pytest.mark.parametrize(
    ("text", "candidate"),
    [
        ("Wie starte ich den Router neu?", False),
        ("The server is down again", False),
        ("d a n k e", True),  # spelled out: needs the full analysis
        ("Danke!", True),
        ("thanks in advance", True),  # a candidate; the analysis cancels it
        ("daaankeee", True),  # stretched
        ("Das Wetter wird besser, alle warten", False),  # doubled letters, no thanks
        ("𝐭𝐡𝐚𝐧𝐤𝐬", True),  # styled letters, as the analysis reads them
    ],
)
def test_cheap_precheck(text: str, candidate: bool) -> None:
    assert might_thank(text, "de") is candidate


@pytest.mark.parametrize(
    ("emoji", "normal"),
    [("❤️", "❤"), ("❤", "❤"), ("👍🏽", "👍"), ("👍🏿", "👍"), ("⭐", "⭐"), ("😂", "😂")],
)
def test_normalize_emoji(emoji: str, normal: str) -> None:
    assert normalize_emoji(emoji) == normal


@pytest.mark.parametrize(
    ("karma", "new", "weight"),
    [
        (0, False, 0.5),
        (4, False, 0.7),
        (25, False, 1.0),
        (400, False, 1.0),
        (-5, False, 0.5),
        (0, True, 0.25),
        (25, True, 0.5),
    ],
)
def test_giver_weight(karma: float, new: bool, weight: float) -> None:
    assert giver_weight(KarmaSettings(), karma, new_member=new) == weight


# --- whom to credit ------------------------------------------------------------------------

A, B, C, D, E = (f"telegram:{n}" for n in ("alice", "bob", "carol", "dave", "erin"))
ME = frozenset({A})


def said(author: str, mid: str, **kw: object) -> Said:
    return Said(author=author, message_id=mid, **kw)  # type: ignore[arg-type]


def ctx(member: str, mid: str, via: str = "context") -> Target:
    return Target(member, mid, via)


# Context lists are newest first, as the chat history query returns them.
WHOM: list[tuple[str, dict[str, object], Credit]] = [
    (
        "reply to the helper",
        {"reply_to": "7", "reply_to_author": B},
        Credit(targets=(Target(B, "7", "reply"),)),
    ),
    (
        "mentions, in order",
        {"mentions": (B, C)},
        Credit(targets=(Target(B, None, "mention"), Target(C, None, "mention"))),
    ),
    (
        "reply and a mention",
        {"reply_to": "7", "reply_to_author": B, "mentions": (C,)},
        Credit(targets=(Target(B, "7", "reply"), Target(C, None, "mention"))),
    ),
    (
        "reply and the same member mentioned",
        {"reply_to": "7", "reply_to_author": B, "mentions": (B,)},
        Credit(targets=(Target(B, "7", "reply"),)),
    ),
    (
        "at most three",
        {"mentions": (B, C, D, E)},
        Credit(
            targets=(
                Target(B, None, "mention"),
                Target(C, None, "mention"),
                Target(D, None, "mention"),
            ),
            dropped=(E,),
        ),
    ),
    (
        "a mention of oneself is kept for the self rule",
        {"mentions": (A,)},
        Credit(targets=(Target(A, None, "mention"),)),
    ),
    (
        "reply to own question: the context decides",
        {"reply_to": "1", "reply_to_author": A, "context": [said(B, "2"), said(A, "1")]},
        Credit(targets=(ctx(B, "2"),)),
    ),
    (
        "reply to a message never seen",
        {"reply_to": "0", "context": [said(B, "2")]},
        Credit(nobody="unknown_reply"),
    ),
    (
        "one member answered",
        {"context": [said(B, "2"), said(A, "1")]},
        Credit(targets=(ctx(B, "2"),)),
    ),
    (
        "two members answered at once",
        {"context": [said(C, "3"), said(B, "2"), said(A, "1")]},
        Credit(nobody="ambiguous", candidates=(B, C)),
    ),
    (
        "one answered, one replied to the thanker: the reply wins",
        {"context": [said(C, "3", reply_to="1", reply_to_author=A), said(B, "2"), said(A, "1")]},
        Credit(targets=(ctx(C, "3"),)),
    ),
    (
        "two replied to the thanker",
        {
            "context": [
                said(C, "3", reply_to="1", reply_to_author=A),
                said(B, "2", mentions=(A,)),
                said(A, "1"),
            ]
        },
        Credit(nobody="ambiguous", candidates=(B, C)),
    ),
    (
        "a side conversation is skipped",
        {
            "context": [
                said(B, "4", reply_to="3", reply_to_author=C),
                said(C, "3"),
                said(A, "1"),
            ]
        },
        Credit(targets=(ctx(C, "3"),)),
    ),
    (
        "the same member twice is not ambiguous",
        {"context": [said(B, "3"), said(B, "2", mentions=(A,)), said(A, "1")]},
        Credit(targets=(ctx(B, "2"),)),
    ),
    (
        "an older turn counts when the newest has nobody",
        {"context": [said(A, "3"), said(B, "2"), said(A, "1")]},
        Credit(targets=(ctx(B, "2"),)),
    ),
    (
        "the newest turn wins over older ones",
        {"context": [said(C, "4"), said(A, "3"), said(B, "2"), said(A, "1")]},
        Credit(targets=(ctx(C, "4"),)),
    ),
    (
        "bots are not context",
        {"context": [said("telegram:helperbot", "2", is_bot=True), said(A, "1")]},
        Credit(nobody="no_receiver"),
    ),
    (
        "nothing said in the window",
        {"context": []},
        Credit(nobody="no_receiver"),
    ),
    (
        "other threads are not context",
        {"context": [said(C, "3", thread="9"), said(B, "2"), said(A, "1")]},
        Credit(targets=(ctx(B, "2"),)),
    ),
]


@pytest.mark.parametrize(("case", "kwargs", "expected"), WHOM, ids=[w[0] for w in WHOM])
def test_whom_to_credit(case: str, kwargs: dict[str, object], expected: Credit) -> None:
    assert whom_to_credit(ME, **kwargs) == expected  # type: ignore[arg-type]


def test_linked_accounts_of_the_thanker_end_a_turn() -> None:
    thanker = frozenset({A, "discord:alice"})
    context = [said(C, "4"), said("discord:alice", "3"), said(B, "2")]
    assert whom_to_credit(thanker, context=context) == Credit(targets=(ctx(C, "4"),))
    assert whom_to_credit(ME, context=context) == Credit(
        nobody="ambiguous", candidates=("discord:alice", B, C)
    )
