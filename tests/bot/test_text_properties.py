"""Properties of text normalisation that ``test_text.py`` does not state yet.

``test_text.py`` already checks that every helper accepts any text and that ``normalize``
and ``fold`` are idempotent. Here: what the output no longer holds (invisible, bidi and
control characters, lone surrogates), that ``well_formed`` makes any text storable without
moving Telegram's UTF-16 offsets, and that pings and Markdown stay defused. No database.
"""

from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import (
    _EMOJI_CONTEXT,
    analyse,
    defuse_mentions,
    escape_markdown_and_mentions,
    fold,
    normalize,
    well_formed,
)
from tests.bot.test_text import _any_text

PROPERTIES = settings(max_examples=150, deadline=None)

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) without the variation
# selectors (emoji need U+FE0E/U+FE0F; the others are combining marks a glyph needs) and
# the tag characters (flag sequences need them): none of these may survive normalize.
_IGNORABLE = [
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0080, 0xE00FF),
    (0xE01F0, 0xE0FFF),
]
IGNORABLE = frozenset(chr(c) for lo, hi in _IGNORABLE for c in range(lo, hi + 1))
ZWJ = "\u200d"

hostile = st.one_of(
    _any_text,
    st.text(st.sampled_from(sorted(IGNORABLE) + list("danke @x\n\t👍\ud800\x00"))),
)


def leftovers(text: str) -> list[str]:
    """Characters of a normalised text that should have gone."""
    found = []
    for i, char in enumerate(text):
        if char == ZWJ:
            # Only inside an emoji sequence.
            if 0 < i < len(text) - 1 and {text[i - 1], text[i + 1]} <= _EMOJI_CONTEXT:
                continue
            found.append(char)
        elif char != "\n" and (char in IGNORABLE or unicodedata.category(char) in ("Cs", "Cc")):
            found.append(char)
    return found


@PROPERTIES
@given(hostile)
def test_normalize_leaves_no_invisible_bidi_or_control_characters(text: str) -> None:
    for result in (normalize(text), fold(text), analyse(text).clean):
        assert leftovers(result) == [], ascii(result)
        assert result == result.strip()
        assert "  " not in result and "\t" not in result


@PROPERTIES
@given(hostile)
def test_an_invisible_flood_between_letters_changes_nothing(text: str) -> None:
    letters = "".join(c for c in text if c.isalpha())[:20] or "danke"
    flooded = "\u200b\u2066\U0001bca0".join(letters)
    assert fold(flooded) == fold(letters)


@PROPERTIES
@given(hostile)
def test_well_formed_makes_any_text_storable_without_moving_offsets(text: str) -> None:
    result = well_formed(text)
    result.encode("utf-8")  # no lone surrogate
    assert "\x00" not in result
    assert len(result) == len(text)
    assert len(result.encode("utf-16-le", "surrogatepass")) == len(
        text.encode("utf-16-le", "surrogatepass")
    )
    assert well_formed(result) == result
    kept = [a == b for a, b in zip(text, result, strict=True)]
    assert all(
        k or text[i] == "\x00" or 0xD800 <= ord(text[i]) <= 0xDFFF for i, k in enumerate(kept)
    )


pings = st.lists(
    st.one_of(
        hostile,
        st.sampled_from(["@everyone", "@here", "<@&123>", "<@!42>", "@@bob", "@\u200b@x", "*x*"]),
    ),
    max_size=6,
).map("".join)


@PROPERTIES
@given(pings)
def test_defused_text_holds_no_ping(text: str) -> None:
    for defused in (defuse_mentions(text), escape_markdown_and_mentions(text)):
        # Every "@" is followed by a zero-width space: no "@everyone", "<@&123>", "@name".
        assert all(defused[i + 1 : i + 2] == "\u200b" for i, c in enumerate(defused) if c == "@")
    # Escaping keeps the text: every character is still there, in order.
    assert escape_markdown_and_mentions(text).replace("\\", "").replace("\u200b", "") == (
        text.replace("\\", "").replace("\u200b", "")
    )


@pytest.mark.parametrize(
    "text",
    [
        "\u200b" * 100_000,
        "d\u200ba\u200bn\u200bk\u200be " * 10_000,
        "\u202eknad\u202c " * 14_000,
        "\U0001bca0" * 50_000,
        "\ufdfa" * 50_000,
        "a" + "\u0301" * 100_000,
        "👨\u200d" * 50_000,
        "@a" * 50_000,
    ],
    ids=["zero-width", "zero-width-words", "bidi", "shorthand", "nfkc", "combining", "zwj", "at"],
)
def test_analysing_100_kb_of_hostile_text_is_linear(text: str) -> None:
    started = time.perf_counter()
    analyse.__wrapped__(text)  # not the cached result
    # Generous: a guard against super-linear blow-ups, not a benchmark.
    assert time.perf_counter() - started < 2.0
