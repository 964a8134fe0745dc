"""Promo signals, evasion, the classifier, SimHash and the score formula (no database)."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.features.promo import PromoFeature, PromoSettings
from bot.features.promo.classifier import (
    Sample,
    community_model,
    features,
    load_seed,
    seed_model,
)
from bot.features.promo.feature import score_message
from bot.features.promo.monologue import (
    Entry,
    MemberState,
    Windows,
    _hash64,
    copies,
    hamming,
    monologue,
    shingles,
    simhash,
    stored_fingerprint,
)
from bot.features.promo.signals import (
    Signal,
    combine,
    links_of,
    message_signals,
    words_of,
)
from bot.text import analyse

SETTINGS = PromoSettings()
ZW = "\u200b"  # zero-width space
CYR_A, CYR_O, CYR_M = "\u0430", "\u043e", "\u041c"  # Cyrillic а, о, М


def names(text: str, *, is_reply: bool = False, mentions: int = 0) -> set[str]:
    """Per-message signal names (no classifier) of a text."""
    analysed = analyse(text)
    found = message_signals(
        analysed, links_of(analysed), SETTINGS, is_reply=is_reply, mentions=mentions
    )
    return {s.name for s in found}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # invite_link
        ("Kommt auf unseren Server: discord.gg/radler", {"invite_link"}),
        ("Join the group here: t.me/+AbCdEfGh12", {"invite_link"}),
        ("Die Doku liegt auf https://discord.com/developers/docs", set()),
        ("The FAQ explains it well: https://telegram.org/faq", set()),
        # shortener
        ("Hier die Infos zum Treffen: bit.ly/treffen-mai", {"shortener"}),
        ("Details about the meetup: tinyurl.com/meetup-may", {"shortener"}),
        ("Die Infos zum Treffen stehen auf radlergruppe.de/treffen", set()),
        ("The meetup details are on ridersgroup.org/meetup", set()),
        # link_only
        ("https://www.radteile-billig.shop", {"link_only"}),
        ("www.cheap-parts.shop/sale", {"link_only"}),
        ("Schau mal hier, das erklärt es: https://docs.python.org/3/howto/sorting.html", set()),
        ("This explains it nicely: https://docs.python.org/3/howto/sorting.html", set()),
        # many_mentions
        ("@anna @ben @carla @dora @emil schaut mal rein", {"many_mentions"}),
        ("@everyone come and have a look", {"many_mentions"}),
        ("@anna @ben danke euch beiden!", set()),
        ("@anna @ben thanks to you both!", set()),
        # contact_handle
        ("Ruf mich an: +49 151 2345 6789", {"contact_handle"}),
        ("Call me on 0044 7700 900123", {"contact_handle"}),
        ("Mail an info@radladen-beispiel.de", {"contact_handle"}),
        ("Write to hello@bike-example.com", {"contact_handle"}),
        ("Bin auf Telegram erreichbar: @radprofi", {"contact_handle"}),
        ("Treffen am 12.05.2026 um 10:30, Strecke 45 km", set()),
        ("Version 3.12.1 fixed it, see issue 4521", set()),
        # dm_call
        ("Mehr Infos per PN", {"dm_call"}),
        ("DM me for the price list", {"dm_call"}),
        ("Hat dich auch jemand per PN angeschrieben?", set()),
        ("Did anyone else get a DM from that account?", set()),
        # promo_words
        ("Mega Rabatt, nur heute gratis Versand", {"promo_words"}),
        ("Huge discount, buy now, free shipping", {"promo_words"}),
        ("Wann ist das nächste Treffen?", set()),
        ("When is the next ride?", set()),
        # ... and not for the same words in everyday and technical talk
        ("Danke, das spart mir echt viel Zeit!", set()),
        ("Die neue Version reduziert den Speicherverbrauch um die Hälfte", set()),
        ("Das war ganz allein dein Verdienst, super gemacht!", set()),
        ("Für die Kryptographie nimm lieber eine fertige Bibliothek", set()),
        ("Die API ist auf 60 Requests pro Stunde limitiert", set()),
        ("Hast du das Angebot vom Handwerker schon bekommen?", set()),
        ("Does anyone know if the library offers async support yet?", set()),
        ("Dict ordering is guaranteed since 3.7", set()),
        ("The cryptography library has a Fernet class for this", set()),
        ("If you want updates, subscribe to the issue on GitHub", set()),
        ("Those two options are mutually exclusive", set()),
        # ... while the spammers' phrases hit
        ("Casino bonus: 200 free spins without deposit!!", {"promo_words"}),
        ("Hot singles in your area want to meet tonight", {"promo_words"}),
        ("check my bio for more", {"promo_words"}),
        ("Best SEO services, quality backlinks for your site", {"promo_words"}),
        ("Gratis Bitcoin! Melde dich an und hol dir 100 € Startguthaben", {"promo_words"}),
        ("Heute im Sonderangebot, limitierte Stückzahl", {"promo_words"}),
        # ... also in a link's host name, when the text around it says nothing
        ("Schau dir das mal an, lohnt sich: onlyfans.com/sweetlena", {"promo_words"}),
        ("Have a look, worth it: https://free-spins-casino.bet/bonus", {"promo_words"}),
        ("Have a look, worth it: https://docs.python.org/3/library/", set()),
        # emoji_flood
        ("🔥🔥🔥🔥🔥🔥🔥🔥 Heute!", {"emoji_flood"}),
        ("🚀🚀🚀🚀🚀 wow", {"emoji_flood"}),
        ("Schöne Tour heute 🚴‍♀️☀️", set()),
        ("Lovely ride today 🚴‍♀️☀️", set()),
        # caps_flood
        ("ALLES MUSS RAUS HEUTE BEI UNS", {"caps_flood"}),
        ("EVERYTHING MUST GO TODAY AT OUR PLACE", {"caps_flood"}),
        ("Der ADFC und die DB haben eine neue Regel", set()),
        ("I love the new NASA photos of the moon", set()),
    ],
)
def test_each_signal_fires_and_stays_quiet(text: str, expected: set[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    ("text", "is_reply", "expected"),
    [
        ("https://docs.python.org/3/howto/sorting.html", True, set()),
        ("https://docs.python.org/3/howto/sorting.html", False, {"link_only"}),
        ("https://www.adfc.de/artikel/kette-wechseln", True, set()),
    ],
)
def test_a_bare_link_in_a_reply_is_an_answer(text: str, is_reply: bool, expected: set[str]) -> None:
    assert names(text, is_reply=is_reply) == expected


@pytest.mark.parametrize(
    ("mentions", "expected"), [(4, set()), (5, {"many_mentions"}), (9, {"many_mentions"})]
)
def test_mentions_the_platform_resolved_count(mentions: int, expected: set[str]) -> None:
    assert names("schaut mal / have a look", mentions=mentions) == expected


@pytest.mark.parametrize(
    ("clean", "evasion", "expected"),
    [
        # zero-width characters inside words
        (
            "Mega Rabatt, nur heute gratis Versand",
            f"Mega Ra{ZW}batt, nur he{ZW}ute gra{ZW}tis Versand",
            {"promo_words"},
        ),
        ("Huge discount, buy now", f"Huge dis{ZW}count, buy{ZW} now", {"promo_words"}),
        (
            "Kommt alle auf discord.gg/radler",
            f"Kommt alle auf disc{ZW}ord.gg/radler",
            {"invite_link"},
        ),
        # Cyrillic look-alike letters
        (
            "Mega Rabatt, nur heute gratis",
            f"Mega R{CYR_A}batt, nur heute gr{CYR_A}tis",
            {"promo_words"},
        ),
        ("Huge discount, buy now", f"Huge disc{CYR_O}unt, buy n{CYR_O}w", {"promo_words"}),
        ("DM me for details", f"D{CYR_M} me for details", {"dm_call"}),
        # negative circled and squared letters, which NFKC leaves as they are
        (
            "DM ME FOR CRYPTO SIGNALS",
            "🅳🅼 🅼🅴 🅵🅾🆁 🅲🆁🆈🅿🆃🅾 🆂🅸🅶🅽🅰🅻🆂",
            {"dm_call", "promo_words", "caps_flood"},
        ),
        ("RABATT NUR HEUTE", "🅡🅐🅑🅐🅣🅣 🅝🅤🅡 🅗🅔🅤🅣🅔", {"promo_words", "caps_flood"}),
        # spaced-out letters
        ("Rabatt nur heute", "R a b a t t  n u r  h e u t e", {"promo_words"}),
        ("buy now", "b u y  n o w", {"promo_words"}),
        (
            "https://bit.ly/rabatt",
            "h t t p s : / / b i t . l y / r a b a t t",
            {"shortener", "link_only"},
        ),
        (
            "https://discord.gg/radler",
            "h t t p s : / / d i s c o r d . g g / r a d l e r",
            {"invite_link", "link_only"},
        ),
        # percent-encoding
        ("https://bit.ly/angebot", "https%3A%2F%2Fbit.ly%2Fangebot", {"shortener", "link_only"}),
        ("https://discord.gg/riders", "https://%64iscord.gg/riders", {"invite_link", "link_only"}),
        (
            "Mehr dazu hier: https://bit.ly/deal",
            "Mehr dazu hier: https://%62%69%74.ly/deal",
            {"shortener"},
        ),
    ],
)
def test_evasion_does_not_hide_a_signal(clean: str, evasion: str, expected: set[str]) -> None:
    assert names(clean) == expected
    assert names(evasion) == expected


@pytest.mark.parametrize(
    ("clean", "evasion"),
    [
        (
            "MEGA RABATT nur heute! Jetzt kaufen: bit.ly/rad-deal, mehr Infos per PN",
            f"MEGA R{CYR_A}B{ZW}ATT nur h e u t e! Jetzt k{CYR_A}ufen: "
            "https%3A%2F%2Fbit.ly%2Frad-deal, mehr Infos per PN",
        ),
        (
            "Huge discount today only! Buy now: bit.ly/bike-deal and DM me for more",
            f"Huge dis{ZW}c{CYR_O}unt today only! B u y  n o w: "
            f"h t t p s : / / b i t . l y / b i k e - d e a l and D{CYR_M} me for more",
        ),
    ],
)
def test_an_evaded_ad_is_flagged_like_the_plain_one(clean: str, evasion: str) -> None:
    model = seed_model()
    plain = score_message(analyse(clean), SETTINGS, model)
    hidden = score_message(analyse(evasion), SETTINGS, model)
    assert {s.name for s in hidden.signals} == {s.name for s in plain.signals}
    assert plain.content >= SETTINGS.flag_threshold
    assert hidden.content >= SETTINGS.flag_threshold


def test_words_of_leaves_link_parts_out() -> None:
    analysed = analyse("docker logs -f name, siehe https://docs.docker.com/reference/logs/")
    assert words_of(analysed, links_of(analysed)) == ["docker", "logs", "name", "siehe"]


# --------------------------------------------------------------------------- formula


def test_combine_is_a_noisy_or_reduced_by_the_bonus() -> None:
    assert combine([]) == 0.0
    assert combine([Signal("invite_link")]) == pytest.approx(0.45)
    assert combine([Signal("invite_link"), Signal("shortener")]) == pytest.approx(1 - 0.55 * 0.65)
    assert combine([Signal("promo_words", 1 / 3)]) == pytest.approx(0.15)
    assert combine([Signal("invite_link")], bonus=0.2) == pytest.approx(0.36)


# --------------------------------------------------------------------------- classifier


def test_the_seed_corpus_is_big_enough_and_bilingual() -> None:
    samples = load_seed()
    counts = {
        (label, lang): sum(1 for s in samples if (s.label, s.lang) == (label, lang))
        for label in ("spam", "ham")
        for lang in ("de", "en")
    }
    assert sum(v for (label, _), v in counts.items() if label == "spam") >= 150
    assert sum(v for (label, _), v in counts.items() if label == "ham") >= 300
    assert min(counts.values()) >= 75
    assert len({s.text for s in samples}) == len(samples)


def test_seed_answers_with_documentation_links_are_not_flagged() -> None:
    model = seed_model()
    answers = [s for s in load_seed() if s.label == "ham" and "https://" in s.text]
    assert len(answers) >= 60
    scores = [score_message(analyse(s.text), SETTINGS, model).content for s in answers]
    assert max(scores) < SETTINGS.flag_threshold


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        (
            "Hier der Einladungslink für unseren Discord, den du wolltest: https://discord.gg/abc123",
            False,
        ),
        (
            "Klar, hier ist der Link zu unserer Telegram-Gruppe für die Radtour: https://t.me/+Ab12Cd34Ef",
            False,
        ),
        (
            "Here's the invite to the Python Discord you asked about: https://discord.gg/python",
            False,
        ),
        ("💰 Join our crypto pump group, 10x every week!! https://t.me/+pump2026 🚀🚀🚀", True),
        ("🔥 Nur heute -70 % Rabatt, mehr Deals in der Gruppe: https://t.me/dealz_bikeparts", True),
    ],
)
def test_an_invite_link_is_counted_once(text: str, flagged: bool) -> None:
    # The link has its signal (invite_link); the classifier does not count it a second time,
    # so a member who shares an invite they were asked for is not flagged for it.
    scored = score_message(analyse(text), SETTINGS, seed_model(), is_reply=True)
    assert (scored.content >= SETTINGS.flag_threshold) is flagged
    assert "invite_link" in {s.name for s in scored.signals}


@pytest.mark.parametrize(
    ("text", "spam"),
    [
        ("Nur diese Woche: Krypto-Kurs mit 40% Rabatt, Anmeldung per PN", True),
        ("Weekly crypto signals with guaranteed profit, join the channel now", True),
        ("Verdiene jeden Tag Geld von zu Hause, schreib mir für Infos", True),
        ("Make easy money from home every day, message me for info", True),
        ("Weiß jemand, ob die Werkstatt am Montag geöffnet hat?", False),
        ("Does anyone know if the workshop is open on Monday?", False),
        ("Danke dir, die Anleitung hat mir sehr geholfen!", False),
        ("Thanks, the guide helped me a lot!", False),
    ],
)
def test_the_seed_classifier_separates_new_texts(text: str, spam: bool) -> None:
    probability = seed_model().probability(features(analyse(text)))
    assert (probability > 0.5) is spam


def test_moderator_samples_move_the_classifier() -> None:
    text = "Frische Bio-Energieriegel aus meiner Backstube, probiert sie mal"
    feats = features(analyse(text))
    before = seed_model().probability(feats)
    spam = community_model([Sample(text, "spam")], weight=3.0).probability(feats)
    ham = community_model([Sample(text, "ham")], weight=3.0).probability(feats)
    assert ham < before < spam
    assert community_model([], weight=3.0) is seed_model()


def test_a_broken_seed_line_is_reported() -> None:
    with pytest.raises(ValueError, match="line 2"):
        load_seed('{"text": "a", "label": "ham"}\n{"text": "b", "label": "maybe"}\n')


# --------------------------------------------------------------------------- SimHash


def naive_simhash(feats: list[str]) -> int:
    """The textbook SimHash: a counter per bit."""
    counts = [0] * 64
    for feat in feats:
        h = _hash64(feat)
        for bit in range(64):
            counts[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if counts[bit] > 0)


@pytest.mark.parametrize(
    "text",
    [
        "Neu: handgemachte Ledertaschen für Radler in meinem kleinen Laden",
        "Fresh handmade leather bags for riders in my little store",
        "eins",
        "",
    ],
)
def test_simhash_matches_the_textbook_version(text: str) -> None:
    feats = shingles(analyse(text).tokens, ["<host:bit.ly>"])
    assert simhash(feats) == naive_simhash(feats)


@pytest.mark.parametrize(
    ("first", "second", "copy"),
    [
        (
            "Neu: handgemachte Ledertaschen für Radler in meinem kleinen Laden, schaut vorbei",
            "Neu: handgemachte Ledertaschen für Radler in meinem kleinen Laden, schaut mal vorbei",
            True,
        ),
        (
            "Fresh handmade leather bags for riders in my little store, have a look",
            "Fresh handmade leather bags for riders in my little store, come have a look!",
            True,
        ),
        (
            "Neu: handgemachte Ledertaschen für Radler in meinem kleinen Laden, schaut vorbei",
            "Weiß jemand, wann die Werkstatt in der Lindenstraße morgen öffnet?",
            False,
        ),
        (
            "Fresh handmade leather bags for riders in my little store, have a look",
            "Does anyone know when the repair shop on Linden Street opens tomorrow?",
            False,
        ),
    ],
)
def test_small_edits_stay_near_duplicates(first: str, second: str, copy: bool) -> None:
    a = score_message(analyse(first), SETTINGS, seed_model()).fingerprint()
    b = score_message(analyse(second), SETTINGS, seed_model()).fingerprint()
    assert (hamming(a, b) <= SETTINGS.duplicate_distance) is copy


@pytest.mark.parametrize(
    "fingerprint", [0, 1, (1 << 64) - 1, 0x8000_0000_0000_0000, 0x7FFF_FFFF_0000_0000]
)
def test_stored_fingerprints_fit_a_bigint_column(fingerprint: int) -> None:
    stored = stored_fingerprint(fingerprint)
    assert -(1 << 63) <= stored < 1 << 63
    assert stored & 0xFFFF_FFFF_FFFF_FFFF == fingerprint


# --------------------------------------------------------------------------- the window

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def window(*entries: Entry, received: int = 0) -> MemberState:
    return MemberState(deque(entries), deque([T0] * received), T0)


def entry(n: int, *, promo: bool = False, reply: bool = False, chat: str = "c:1") -> Entry:
    return Entry(chat, str(n), T0 + timedelta(minutes=n), reply_other=reply, promo=promo)


@pytest.mark.parametrize(
    ("state", "strength"),
    [
        (window(entry(1, promo=True)), 0.0),  # one post is not a monologue yet
        (window(entry(1, promo=True), entry(2, promo=True)), 1.0),
        (window(entry(1, promo=True), entry(2, promo=True), received=9), 0.5),
        (
            window(
                entry(1, promo=True),
                entry(2, promo=True),
                *(entry(n, reply=True) for n in range(3, 12)),
                received=9,
            ),
            0.0,
        ),
        # a promotional reply is not dialogue
        (window(entry(1, promo=True), entry(2, promo=True, reply=True)), 1.0),
    ],
)
def test_monologue_follows_the_nine_to_one_rule(state: MemberState, strength: float) -> None:
    assert monologue(state, ratio=0.1, min_posts=2).strength == pytest.approx(strength)


def test_copies_count_other_chats_and_the_same_chat() -> None:
    first, second, third = entry(1, chat="c:a"), entry(2, chat="c:b"), entry(3, chat="c:a")
    first.fingerprint, second.fingerprint, third.fingerprint = 0b1111, 0b1110, 1 << 40 | 0b1111
    found = copies(window(first, second, third), 0b1111, "c:a", distance=1)
    assert found.other_chats == ("c:b",)
    assert found.same_chat == 2


# --------------------------------------------------------------------------- analyse/explain


def test_analyse_scores_without_state() -> None:
    feature = PromoFeature()
    ad = "🔥 Nur heute 50% Rabatt! Jetzt kaufen: bit.ly/rad-deal 🔥 Infos per PN"
    result = feature.analyse(ad, "de")["promo"]
    assert result["is"] is True
    assert result["signals"] == ["shortener", "dm_call", "promo_words", "classifier"]
    assert result["score"] == round(score_message(analyse(ad), SETTINGS, seed_model()).content, 3)
    quiet = feature.analyse("Wann fahren wir morgen los?", "de")["promo"]
    assert quiet == {"is": False, "score": 0.0, "signals": []}


@pytest.mark.parametrize(
    ("language", "first", "signal_line"),
    [
        ("de", "Werbe-Score", "  Kurzlink (shortener): Stärke 1.00 × Gewicht 0.35 = 0.35 [bit.ly]"),
        (
            "en",
            "promo score",
            "  link shortener (shortener): strength 1.00 × weight 0.35 = 0.35 [bit.ly]",
        ),
    ],
)
def test_explain_lists_every_signal(language: str, first: str, signal_line: str) -> None:
    lines = PromoFeature().explain("Jetzt kaufen: bit.ly/rad-deal", language)
    assert lines[0].startswith(first)
    assert signal_line in lines
    assert len(lines) == 2 + len(
        PromoFeature().analyse("Jetzt kaufen: bit.ly/rad-deal", language)["promo"]["signals"]
    )


def test_windows_stay_bounded() -> None:
    windows = Windows(max_members=2)
    first = windows.get("demo", "console:a", 5, T0)
    windows.get("demo", "console:b", 5, T0)
    assert windows.get("demo", "console:a", 5, T0) is first  # a is now the most recent
    windows.get("demo", "console:c", 5, T0)
    assert len(windows) == 2
    assert windows.peek("demo", "console:b") is None
    assert windows.peek("demo", "console:a") is first


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("Kommt auf unseren Server: discord.gg/radler", False),
        ("Alles im Forum: https://forum.radler.de/t/123", False),
        ("Der Bot: https://github.com/radler-club/bot/issues/4", False),
        ("Kommt auf meinen Server: discord.gg/radlerdeals", True),
        ("Hier: https://github.com/radler-clubdeals/shop", True),
        ("Hier: https://radler.de.example.com/deal", True),
    ],
)
def test_allowed_links_do_not_count(text: str, counts: bool) -> None:
    own = ("https://www.Radler.de/", "discord.gg/radler", "github.com/radler-club")
    settings = PromoSettings(allowed_links=own)
    scored = score_message(analyse(text), settings, seed_model())
    assert bool(scored.links) is counts
    # Without the allow-list every one of these is a link the scoring looks at.
    assert score_message(analyse(text), SETTINGS, seed_model()).links


@pytest.mark.parametrize("entry", ["radler", "", "radler .de", "/path"])
def test_an_allowed_link_must_name_a_host(entry: str) -> None:
    with pytest.raises(ValidationError, match="no host or link"):
        PromoSettings(allowed_links=(entry,))
