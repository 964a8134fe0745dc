"""Tests for bot.text: normalisation, folding, extraction and escaping of chat messages."""

from __future__ import annotations

import re
import unicodedata

import emoji as emoji_lib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import (
    Analysed,
    Link,
    analyse,
    caps_ratio,
    despace,
    escape_markdown_and_mentions,
    extract_emoji,
    extract_links,
    extract_mentions,
    fold,
    normalize,
    strip_quotes_and_code,
    tokenize,
)

# --------------------------------------------------------------------------- normalize / fold


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("ｄａｎｋｅ ｓｃｈöｎ", "danke schön", id="fullwidth"),
        pytest.param("𝐃𝐚𝐧𝐤𝐞", "Danke", id="math-bold"),
        pytest.param("𝓣𝓱𝓪𝓷𝓴𝓼", "Thanks", id="math-script"),
        pytest.param("dan\u200bke", "danke", id="zero-width-space"),
        pytest.param("th\u200canks \u2060a\ufefflot", "thanks alot", id="zwnj-word-joiner-bom"),
        pytest.param("dan\u200dke", "danke", id="zwj-between-letters"),
        pytest.param("dan\u00adke", "danke", id="soft-hyphen"),
        pytest.param("\u202edanke\u202c", "danke", id="rtl-override"),
        pytest.param("\u2066free\u2069 nitro", "free nitro", id="bidi-isolates"),
        pytest.param("fr\x00ee\x07", "free", id="control-chars"),
        pytest.param("d\u034fanke", "danke", id="combining-grapheme-joiner"),
        pytest.param("\u3164\u3164", "", id="hangul-filler-blank-name"),
        pytest.param("dаnke", "danke", id="cyrillic-a-in-latin-word"),
        pytest.param("frее", "free", id="cyrillic-e-in-latin-word"),
        pytest.param("Ноw аrе уоu", "How are you", id="cyrillic-lookalike-words-latin-message"),
        pytest.param("рауpal lоgin", "paypal login", id="mixed-words"),
        pytest.param("ѕеlf һоѕt", "self host", id="dze-shha"),
        pytest.param("Gοοgle", "Google", id="greek-omicron-in-latin-word"),
        pytest.param("FREE ІPHONE", "FREE IPHONE", id="cyrillic-capital-i"),
        pytest.param("Grüße, Straße, ÄÖÜ äöü é ñ", "Grüße, Straße, ÄÖÜ äöü é ñ", id="diacritics"),
        pytest.param("Спасибо за помощь", "Спасибо за помощь", id="russian"),
        pytest.param("Ευχαριστώ πολύ για τη βοήθεια", "Ευχαριστώ πολύ για τη βοήθεια", id="greek"),
        pytest.param("Danke спасибо", "Danke спасибо", id="russian-word-next-to-german"),
        pytest.param(
            "Vielen Dank für die Hilfe, спасибо!",
            "Vielen Dank für die Hilfe, спасибо!",
            id="genuine-russian-word-in-german-message",
        ),
        pytest.param("  viel   zu\t\tviel  Platz  ", "viel zu viel Platz", id="whitespace"),
        pytest.param("eins  \n\n  zwei\r\ndrei\rvier", "eins\n\nzwei\ndrei\nvier", id="newlines"),
        pytest.param("a\u00a0b\u2003c\u3000d", "a b c d", id="unicode-spaces"),
        pytest.param("1.2.3 v2 ½ 42 €", "1.2.3 v2 1⁄2 42 €", id="digits-punctuation"),
        pytest.param(
            "👍🏽 👨\u200d👩\u200d👧 🙏 🇩🇪", "👍🏽 👨\u200d👩\u200d👧 🙏 🇩🇪", id="emoji-kept"
        ),
        pytest.param("a\ud800b\udfff", "ab", id="lone-surrogates"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Grüße", "grüsse"),
        ("grüsse", "grüsse"),
        ("STRASSE Straße", "strasse strasse"),
        ("𝐃𝐀𝐍𝐊𝐄", "danke"),
        ("ᎠᎪNKE", "danke"),  # Cherokee look-alikes inside a Latin word
        ("please say ΤΗΑΝΚ ΥΟU to everyone", "please say thank you to everyone"),
        ("ΤΗΑΝΚ ΥΟU", "τηανκ you"),  # mostly Greek: only the mixed word is folded
        ("Спасибо", "спасибо"),
        ("Thanks!", "thanks!"),
    ],
)
def test_fold(raw: str, expected: str) -> None:
    assert fold(raw) == expected


def test_every_emoji_survives_normalize_and_is_extracted_whole() -> None:
    for sequence in emoji_lib.EMOJI_DATA:
        if unicodedata.normalize("NFKC", sequence) != sequence:
            continue  # e.g. "™" and "㊗" have compatibility decompositions
        assert normalize(sequence) == sequence
        assert extract_emoji(f"x {sequence} y") == (sequence,)


# --------------------------------------------------------------------------- despace


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("d a n k e", "danke"),
        ("D A N K E schön", "DANKE schön"),
        ("f.r.e.e nitro", "free nitro"),
        ("b u y  n o w", "buy now"),
        ("t h a n k s  a lot", "thanks a lot"),
        ("t h a n k s a lot", "thanksa lot"),  # without the double space "a" joins the run
        ("I a m", "I a m"),  # three single letters are too few
        ("e.g. z.B. u.s.w. d.h.", "e.g. z.B. u.s.w. d.h."),
        ("a b c d5", "a b c d5"),
        ("ganz normaler Satz", "ganz normaler Satz"),
        ("ä ö ü ß", "äöüß"),
    ],
)
def test_despace(raw: str, expected: str) -> None:
    assert despace(raw) == expected


def test_analyse_sees_spaced_out_words() -> None:
    result = analyse("b u y  n o w and d a n k e")
    assert result.clean == "b u y n o w and d a n k e"
    assert result.folded == "buy now and danke"
    assert "danke" in result.tokens
    assert result.tokens[:2] == ("buy", "now")


# --------------------------------------------------------------------------- links


def _link(url: str, host: str, kind: str) -> Link:
    return Link(url=url, host=host, kind=kind)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "join discord.gg/abc now",
            [_link("https://discord.gg/abc", "discord.gg", "invite")],
            id="discord.gg",
        ),
        pytest.param(
            "https://discord.com/invite/xyz",
            [_link("https://discord.com/invite/xyz", "discord.com", "invite")],
            id="discord.com-invite",
        ),
        pytest.param(
            "discordapp.com/invite/q1",
            [_link("https://discordapp.com/invite/q1", "discordapp.com", "invite")],
            id="discordapp-invite",
        ),
        pytest.param(
            "https://discord.com/channels/1/2",
            [_link("https://discord.com/channels/1/2", "discord.com", "web")],
            id="discord-channel-not-invite",
        ),
        pytest.param(
            "komm in t.me/+AbCdEf",
            [_link("https://t.me/+AbCdEf", "t.me", "invite")],
            id="t.me-plus",
        ),
        pytest.param(
            "t.me/joinchat/xyz",
            [_link("https://t.me/joinchat/xyz", "t.me", "invite")],
            id="t.me-joinchat",
        ),
        pytest.param(
            "telegram.me/somegroup",
            [_link("https://telegram.me/somegroup", "telegram.me", "invite")],
            id="telegram.me",
        ),
        pytest.param(
            "https://chat.whatsapp.com/AbC123",
            [_link("https://chat.whatsapp.com/AbC123", "chat.whatsapp.com", "invite")],
            id="whatsapp",
        ),
        pytest.param(
            "folgt t.me/leumund_news",
            [_link("https://t.me/leumund_news", "t.me", "telegram")],
            id="telegram-channel",
        ),
        pytest.param(
            "bit.ly/3xYz tinyurl.com/abc https://t.co/q",
            [
                _link("https://bit.ly/3xYz", "bit.ly", "shortener"),
                _link("https://tinyurl.com/abc", "tinyurl.com", "shortener"),
                _link("https://t.co/q", "t.co", "shortener"),
            ],
            id="shorteners",
        ),
        pytest.param(
            "Doku: https://docs.python.org/3/library/re.html",
            [_link("https://docs.python.org/3/library/re.html", "docs.python.org", "web")],
            id="web",
        ),
        pytest.param(
            "siehe www.foo.de und example.com/path",
            [
                _link("https://www.foo.de", "foo.de", "web"),
                _link("https://example.com/path", "example.com", "web"),
            ],
            id="bare-domains",
        ),
        pytest.param(
            "HTTPS://Example.COM/Path",
            [_link("https://example.com/Path", "example.com", "web")],
            id="lowercase-host-keeps-path",
        ),
        pytest.param(
            "h t t p s : / / bit . ly / x",
            [_link("https://bit.ly/x", "bit.ly", "shortener")],
            id="spaced-out",
        ),
        pytest.param(
            "g o o g l e . c o m",
            [_link("https://google.com", "google.com", "web")],
            id="spaced-out-bare",
        ),
        pytest.param(
            "hxxps://evil.example/x",
            [_link("https://evil.example/x", "evil.example", "web")],
            id="hxxps",
        ),
        pytest.param(
            "example[.]com and evil(dot)ru/x",
            [
                _link("https://example.com", "example.com", "web"),
                _link("https://evil.ru/x", "evil.ru", "web"),
            ],
            id="defanged-dots",
        ),
        pytest.param(
            "https://%62it.ly/abc",
            [_link("https://bit.ly/abc", "bit.ly", "shortener")],
            id="percent-encoded-host",
        ),
        pytest.param(
            "https://t.me/%2Bsecret",
            [_link("https://t.me/+secret", "t.me", "invite")],
            id="percent-encoded-path",
        ),
        pytest.param(
            "bіt.ly/x",  # Cyrillic і
            [_link("https://bit.ly/x", "bit.ly", "shortener")],
            id="confusable-host",
        ),
        pytest.param(
            "Schau mal (https://example.com/a), ok? https://example.org!",
            [
                _link("https://example.com/a", "example.com", "web"),
                _link("https://example.org", "example.org", "web"),
            ],
            id="trailing-punctuation",
        ),
        pytest.param(
            "https://en.wikipedia.org/wiki/Foo_(bar).",
            [_link("https://en.wikipedia.org/wiki/Foo_(bar)", "en.wikipedia.org", "web")],
            id="balanced-parentheses",
        ),
        pytest.param(
            "[Docs](https://example.com/docs)",
            [_link("https://example.com/docs", "example.com", "web")],
            id="markdown-link",
        ),
        pytest.param(
            "Visit example.com.",
            [_link("https://example.com", "example.com", "web")],
            id="full-stop-after-domain",
        ),
    ],
)
def test_extract_links(raw: str, expected: list[Link]) -> None:
    assert extract_links(raw) == tuple(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "Version 1.2.3 ist raus",
        "z.B. so, e.g. like this, u.s.w.",
        "config.toml und main.py und README.md",
        "schreib an bob@example.com",
        "logger.info(x) and os.path.join",
        "Das war gut.Me too",
        "Danke. Bis morgen!",
        "pi is 3.14",
        "",
    ],
)
def test_not_links(raw: str) -> None:
    assert extract_links(raw) == ()


# --------------------------------------------------------------------------- mentions


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("danke @alice und @bob_99!", ("@alice", "@bob_99")),
        ("<@123> and <@!456> and <@&789>", ("<@123>", "<@!456>", "<@&789>")),
        ("@alice @alice @Alice", ("@alice", "@Alice")),
        ("mail bob@example.com please", ()),
        ("@a is too short, @ab is fine", ("@ab",)),
        ("@" + "x" * 33, ()),
        ("@everyone look", ("@everyone",)),
        ("@\u200beveryone sneaky", ("@everyone",)),
        ("kein Mention", ()),
    ],
)
def test_extract_mentions(raw: str, expected: tuple[str, ...]) -> None:
    assert extract_mentions(raw) == expected


# --------------------------------------------------------------------------- emoji


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Danke 👍🏽", ("👍🏽",)),
        ("Familie 👨\u200d👩\u200d👧 ist da", ("👨\u200d👩\u200d👧",)),
        ("🙏🙏 danke", ("🙏", "🙏")),
        ("🇩🇪 vs 🇬🇧", ("🇩🇪", "🇬🇧")),
        ("#️⃣ 1️⃣", ("#️⃣", "1️⃣")),
        ("🏃🏽\u200d♂️ los", ("🏃🏽\u200d♂️",)),
        ("❤️ Grüße", ("❤️",)),
        ("kein emoji hier :)", ()),
        ("Schöne Grüße", ()),
    ],
)
def test_extract_emoji(raw: str, expected: tuple[str, ...]) -> None:
    assert extract_emoji(raw) == expected


# --------------------------------------------------------------------------- strip / tokenize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("> danke dir\nwas soll das?", "was soll das?", id="quote-line"),
        pytest.param("ok\n>>> thanks\nthanks again", "ok", id="block-quote"),
        pytest.param(
            "so:\n```\nprint('thanks')\n```\nklappt nicht", "so:\nklappt nicht", id="fence"
        ),
        pytest.param("schau:\n```py\nthanks = 1\n", "schau:", id="unterminated-fence"),
        pytest.param("nutze `thanks()` hier", "nutze hier", id="inline-code"),
        pytest.param("nutze ``a `b` c`` hier", "nutze hier", id="double-backtick"),
        pytest.param("danke dir!", "danke dir!", id="untouched"),
        pytest.param("3 > 2 stimmt", "3 > 2 stimmt", id="greater-than-mid-line"),
    ],
)
def test_strip_quotes_and_code(raw: str, expected: str) -> None:
    assert strip_quotes_and_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("danke, das hat geklappt!", ("danke", "das", "hat", "geklappt")),
        ("don't wie geht's geht’s", ("don't", "wie", "geht's", "geht’s")),
        ("'quoted' words", ("quoted", "words")),
        ("grüße straße über", ("grüße", "straße", "über")),
        ("snake_case _kursiv_ ___", ("snake_case", "kursiv")),
        ("v2 und 42 und 3.14", ("v2", "und", "42", "und", "3", "14")),
        ("danke👍super", ("danke", "super")),
        ("", ()),
    ],
)
def test_tokenize(raw: str, expected: tuple[str, ...]) -> None:
    assert tokenize(raw) == expected


# --------------------------------------------------------------------------- analyse


def test_analyse_german_thanks_with_quote_and_code() -> None:
    text = (
        "> Danke an alle\n𝐃𝐚𝐧𝐤𝐞 @Bob für `pip install -U x` 👍🏽 siehe https://docs.python.org/3/!"
    )
    result = analyse(text)
    assert isinstance(result, Analysed)
    assert result.original == text
    assert result.clean == normalize(text)
    assert result.folded == fold(text)
    assert result.body == "danke @bob für 👍🏽 siehe https://docs.python.org/3/!"
    assert result.tokens == ("danke", "bob", "für", "siehe", "https", "docs", "python", "org", "3")
    assert result.links == (_link("https://docs.python.org/3/", "docs.python.org", "web"),)
    assert result.mentions == ("@Bob",)
    assert result.emoji == ("👍🏽",)


def test_analyse_spam_with_evasions() -> None:
    result = analyse("FRЕЕ N\u200bITRO 🎁 h t t p s : / / bit . ly / fr33")
    assert result.clean.startswith("FREE NITRO 🎁")
    assert result.folded.startswith("free nitro 🎁 https")
    assert result.links == (_link("https://bit.ly/fr33", "bit.ly", "shortener"),)
    assert result.emoji == ("🎁",)


# --------------------------------------------------------------------------- caps / escape


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DAS IST JA UNGLAUBLICH", 1.0),
        ("Hallo Welt", 2 / 9),
        ("HALLO", 0.0),  # fewer than 8 letters
        ("ÄÖÜ ÄÖÜ ää", 0.75),
        ("12345678 !!!", 0.0),
    ],
)
def test_caps_ratio(raw: str, expected: float) -> None:
    assert caps_ratio(raw) == pytest.approx(expected)


def test_escape_neutralises_pings_and_markdown() -> None:
    escaped = escape_markdown_and_mentions("@everyone @here <@123> <@&9> *bold* _it_ `c` ~s~ ||x||")
    assert "@everyone" not in escaped
    assert "@here" not in escaped
    assert "<@123>" not in escaped
    assert "<@&9>" not in escaped
    assert escaped == (
        "@\u200beveryone @\u200bhere <@\u200b123\\> <@\u200b&9\\> \\*bold\\* \\_it\\_ "
        "\\`c\\` \\~s\\~ \\|\\|x\\|\\|"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[link](https://x.y)", "\\[link\\]\\(https://x.y\\)"),
        ("> quote", "\\> quote"),
        ("back\\slash", "back\\\\slash"),
        ("Jürgen", "Jürgen"),
    ],
)
def test_escape_markdown(raw: str, expected: str) -> None:
    assert escape_markdown_and_mentions(raw) == expected


# --------------------------------------------------------------------------- properties

_TRICKY = (
    list("\u200b\u200c\u200d\u200e\u200f\u2060\u2066\u2069\u202e\ufeff\u00ad\u034f\u180e\u3164")
    + list("аеорсхуіѕһԁΑΒΕΗΙΚΜΝΟΡΤΧαιονρσБбЗгꭰᏣ")
    + ["👍", "🏽", "👨", "👩", "🙏", "🏴", "\U000e0067", "\U000e007f", "\ufe0f", "\u20e3", "🇩"]
    + ["\ud800", "\udfff", "\x00", "\x85", "\r", "\n", "\t", "\u2028", "\u00a0", "\u2003"]
    + list("aeoxdgsT1 .:/@<>`'’_-ßäöüé\u0301\u0308\u0302´ﬁ²𝐃ｄ가가")
)
_mixed_text = st.text(
    alphabet=st.one_of(st.sampled_from(_TRICKY), st.characters(exclude_categories=()))
)
_any_text = st.one_of(st.text(), _mixed_text)
_TOKEN_REFERENCE = re.compile(r"[^\W_]+(?:['’_][^\W_]+)*")


@given(_any_text)
def test_normalize_never_raises_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(_any_text)
def test_fold_never_raises_and_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@given(_any_text)
def test_analyse_never_raises(text: str) -> None:
    result = analyse(text)
    assert result.clean == normalize(text)
    assert fold(result.folded) == result.folded


@given(_any_text)
def test_extract_links_never_raises(text: str) -> None:
    for link in extract_links(text):
        assert link.kind in {"invite", "telegram", "shortener", "web"}
        assert link.host == link.host.lower()


@given(_any_text)
def test_tokenize_matches_reference_regex(text: str) -> None:
    assert tokenize(text) == tuple(_TOKEN_REFERENCE.findall(text))


@given(_any_text)
def test_other_helpers_never_raise(text: str) -> None:
    extract_mentions(text)
    extract_emoji(text)
    strip_quotes_and_code(text)
    despace(text)
    assert 0.0 <= caps_ratio(text) <= 1.0
    assert "@" not in escape_markdown_and_mentions(text).replace("@\u200b", "")
