"""Thanks detection: pure functions over the lexicons in ``bot/locales/<lang>/karma.toml``.

Every message is checked against the lexicons of all languages (people mix), the
community's language first. The lexicons are compiled once into one regular expression
with one group per phrase, longest phrases first, so at any position the longest phrase
wins ("danke im voraus" beats "danke", "thanks to you" beats "thanks to").

Lexicon entries (folded with ``bot.text.fold`` like the text they are matched against):

- ``thanks``: phrases that thank. A phrase ending in ``$`` only counts at the end of a
  clause ("läuft jetzt$" matches "läuft jetzt!" but not "läuft jetzt seit gestern" and
  not "läuft jetzt?"). Any letter may repeat ("daaanke", "thxxx").
- ``not_thanks``: phrases that contain a thanks word but do not thank ("thanks in
  advance", "nein danke", "gott sei dank"); they cancel the thanks they overlap.
- ``thanks_cancel_after``: words that cancel a thanks when they follow it in the same
  clause ("thanks so much in advance").
- ``thanks_sarcasm``: markers that cancel every thanks in the message ("/s", "🙄").
- ``thanks_request``: words of a request ("jemand", "kannst", "anyone", "help"); a thanks
  right after a question with one of them thanks in advance ("Hat jemand einen Tipp?
  Danke!"): it thanks nobody yet, and would credit whoever spoke last.

A thanks made only of symbols (🙏) is weak: it also means "please", so it counts only
in a message without a question mark and without a cancelled thanks.

Whole words only: a phrase that starts with a letter must not follow a letter, digit,
``@`` or ``/`` (so "party" has no "ty" and "@danke" is a name), and a phrase that ends
with a letter must not be followed by one ("Danker", "thanksgiving").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from bot import text as textlib
from bot.locales import LANGUAGES, get_locale

THANKS, NOT_THANKS, SARCASM = "thanks", "not_thanks", "sarcasm"
_KINDS = ((THANKS, "thanks"), (NOT_THANKS, "not_thanks"), (SARCASM, "thanks_sarcasm"))
# Horizontal separators allowed between the words of a phrase ("nein, danke", "thank-you").
_GAP = r"[ \t,\-]+"
# A clause ends at sentence punctuation or a line break; a "$" phrase must be followed by
# one of those (or an emoji or the end), but not by "?" (a question) or "," (it goes on).
_FINAL = r"(?=[ \t]*(?:\Z|\n|[^\w\s?,]))"
_CLAUSE_END = re.compile(r"[.!?;\n]")
_VARIATION = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
# Tokens: runs of letters and digits, or one other visible character (emoji, "/", "#").
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")
_WORD = re.compile(r"[^\W_]+")
_REPEAT = re.compile(r"([^\W\d_])\1+")
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'"})


@dataclass(frozen=True, slots=True)
class ThanksMatch:
    """A thanks found in a message: the lexicon phrase, the text it matched, its language."""

    phrase: str
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class ThanksScan:
    """Everything the lexicons found in a message body, for detection and explanation."""

    match: ThanksMatch | None
    cancelled_by: str | None = None
    sarcasm: str | None = None
    # An emoji thanks (🙏) that did not count because the message asks something.
    weak: str | None = None

    @property
    def is_thanks(self) -> bool:
        """A thanks that nothing cancels."""
        return self.match is not None and self.sarcasm is None


@dataclass(frozen=True, slots=True)
class _Phrase:
    """One compiled lexicon entry."""

    pattern: re.Pattern[str]
    kind: str
    phrase: str
    language: str


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """The compiled lexicons of an ordered set of languages.

    ``index`` maps the first token (see ``_key``) of every phrase to its phrases, longest
    first, so a scan tries only the few phrases that can start at a token. ``words`` and
    ``symbols`` hold one token every thanks phrase needs, for the cheap pre-check.
    """

    index: dict[str, tuple[_Phrase, ...]]
    words: frozenset[str]
    symbols: tuple[str, ...]
    cancel_after: re.Pattern[str] | None
    request: re.Pattern[str] | None
    # The first and last letter of every word in ``words``, for stretched words.
    ends: frozenset[str]


@functools.cache
def _languages(language: str | None) -> tuple[str, ...]:
    first = language if language in LANGUAGES else None
    return ((first,) if first else ()) + tuple(lang for lang in LANGUAGES if lang != first)


@functools.lru_cache(maxsize=16_384)  # common words come again and again
def _key(token: str) -> str:
    """A token with every run of a repeated letter cut to one ("daaankeee" -> "danke",
    "appreciate" -> "apreciate"): the lookup key, the same for phrases and messages."""
    if _REPEAT.search(token) is None:
        return token
    return _REPEAT.sub(r"\1", token)


def _phrase_pattern(phrase: str) -> str:
    """A regex for one folded phrase with whole-word edges."""
    final = phrase.endswith("$")
    words = phrase.removesuffix("$").split()
    parts = []
    for word in words:
        # Stretched words ("daaanke", "thxxx"): every letter may repeat, and a doubled
        # letter may be written once ("apreciate"), as the lookup key has it.
        part = "".join(re.escape(c) + "+" if c.isalpha() else re.escape(c) for c in _key(word))
        parts.append(part)
    body = _GAP.join(parts)
    first, last = words[0][0], words[-1][-1]
    if first.isalnum():
        body = r"(?<![\w@/])" + body
    elif first.isascii():
        body = r"(?<!\S)" + body  # "/s" only as a marker of its own, not inside a link
    if last.isalnum():
        # Not inside a hyphenated compound either: "Danke-Button" names no thanks.
        body += r"(?!\w|-\w)"
    if final:
        body += _FINAL
    return body


def _fold_entry(entry: str) -> str:
    final = entry.rstrip().endswith("$")
    folded = textlib.fold(entry.rstrip().removesuffix("$"))
    return folded + ("$" if final else "")


@functools.cache
def _lexicon(languages: tuple[str, ...]) -> _Lexicon:
    """Compile the lexicons of ``languages`` (earlier languages win for shared phrases)."""
    seen: dict[str, tuple[str, str, str]] = {}
    cancels: set[str] = set()
    requests: set[str] = set()
    for language in languages:
        locale = get_locale(language)
        for kind, name in _KINDS:
            for entry in locale.lexicon(name):
                phrase = _fold_entry(entry)
                if phrase.removesuffix("$").strip():
                    seen.setdefault(phrase, (kind, phrase, language))
        cancels.update(_fold_entry(e) for e in locale.lexicon("thanks_cancel_after"))
        requests.update(_fold_entry(e) for e in locale.lexicon("thanks_request"))
    index: dict[str, list[_Phrase]] = {}
    words: set[str] = set()
    symbols: set[str] = set()
    for kind, phrase, language in sorted(
        seen.values(), key=lambda e: (-len(e[1].removesuffix("$")), e[1], e[2])
    ):
        text = phrase.removesuffix("$")
        tokens = _TOKEN.findall(text)
        compiled = _Phrase(re.compile(_phrase_pattern(phrase)), kind, text, language)
        index.setdefault(_key(tokens[0]), []).append(compiled)
        if kind == THANKS:
            letters = [t for t in tokens if t[0].isalnum()]
            if letters:  # the longest word is the rarest: the best pre-check
                words.add(_key(max(reversed(letters), key=len)))
            else:
                symbols.add(text)
    cancel_after = None
    if cancels:
        ordered = sorted(cancels, key=lambda c: (-len(c), c))
        cancel_after = re.compile("|".join(_phrase_pattern(c) for c in ordered))
    return _Lexicon(
        index={k: tuple(v) for k, v in index.items()},
        words=frozenset(words),
        ends=frozenset(w[0] + w[-1] for w in words),
        symbols=tuple(sorted(symbols)),
        cancel_after=cancel_after,
        request=(
            re.compile("|".join(_phrase_pattern(r) for r in sorted(requests))) if requests else None
        ),
    )


def _hits(lexicon: _Lexicon, body: str) -> Iterator[tuple[re.Match[str], _Phrase]]:
    """Non-overlapping phrase matches, left to right, the longest phrase at each start."""
    resume = 0
    for token in _TOKEN.finditer(body):
        if token.start() < resume:
            continue
        for entry in lexicon.index.get(_key(token.group()), ()):
            hit = entry.pattern.match(body, token.start())
            if hit is not None:
                resume = hit.end()
                yield hit, entry
                break


def scan_thanks(body: str, language: str | None) -> ThanksScan:
    """Scan a folded message body (quotes and code removed) for thanks and what cancels it."""
    lexicon = _lexicon(_languages(language))
    # Phones type a typographic apostrophe ("you’re the best"); the lexicons have "'".
    body = body.translate(_APOSTROPHES)
    found: ThanksMatch | None = None
    weak: ThanksMatch | None = None
    cancelled: str | None = None
    # Searching the rest of the clause afresh for every thanks made a long text full of
    # thanks quadratic (100 kB of "danke " took minutes). Hits come left to right, so the
    # clause end and the first cancelling phrase found stay valid for the next hits of the
    # same clause; and once the result is settled, later thanks need no clause at all.
    clause_end = -1
    after: re.Match[str] | None = None
    searched = False
    for hit, entry in _hits(lexicon, body):
        if entry.kind == SARCASM:
            return ThanksScan(match=found, sarcasm=hit.group())
        if entry.kind == NOT_THANKS:
            cancelled = cancelled or hit.group()
            continue
        is_weak = not any(c.isalnum() for c in entry.phrase)
        if found is not None or (is_weak and weak is not None and cancelled is not None):
            continue  # this hit cannot change the result; only sarcasm still could
        if lexicon.cancel_after is not None:
            start = hit.end()
            if start > clause_end:
                end = _CLAUSE_END.search(body, start)
                clause_end = end.start() if end else len(body)
                searched = False
            if not searched or (after is not None and after.start() < start):
                # In place (pos, endpos), not on a slice, so nothing is copied per thanks.
                # A cancelling phrase's look-behind then sees the thanks' last character
                # instead of the slice start. No match changes: these phrases start with
                # a letter, a thanks ending in a letter may not be followed by one
                # ("(?!\w)"), and any other last character passes the look-behind.
                after = lexicon.cancel_after.search(body, start, clause_end)
                searched = True
            if after is not None:
                cancelled = cancelled or body[hit.start() : after.end()]
                continue
        if not is_weak and (asked := _request_before(body, hit.start(), lexicon)) is not None:
            cancelled = cancelled or f"{asked} {hit.group()}"
            continue
        match = ThanksMatch(phrase=entry.phrase, text=hit.group(), language=entry.language)
        if is_weak:
            weak = weak or match
        elif found is None:
            found = match
    if found is not None:
        return ThanksScan(match=found)
    if weak is not None:
        # 🙏 alone also means "please": in a question or after "thanks in advance" it asks.
        if cancelled is None and "?" not in body:
            return ThanksScan(match=weak)
        return ThanksScan(match=None, cancelled_by=cancelled, weak=weak.text)
    return ThanksScan(match=None, cancelled_by=cancelled)


def _request_before(body: str, start: int, lexicon: _Lexicon) -> str | None:
    """The question asking for something right before ``start``, if there is one."""
    if lexicon.request is None:
        return None
    end = start
    while end and not body[end - 1].isalnum() and body[end - 1] not in ".!?\n":
        end -= 1  # spaces, commas, emoji between the question and the thanks
    if not end or body[end - 1] != "?":
        return None
    while end and body[end - 1] in "?!":
        end -= 1
    begin = max(body.rfind(c, 0, end) for c in ".!?\n") + 1
    question = body[begin:end].strip()
    return question + "?" if lexicon.request.search(question) else None


def might_thank(text: str, language: str | None) -> bool:
    """A cheap pre-check without the full text analysis: False means surely no thanks."""
    lexicon = _lexicon(_languages(language))
    # Styled letters ("𝐭𝐡𝐚𝐧𝐤𝐬", "ＴＨＸ") as the full analysis reads them.
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        folded = text.casefold()
    else:
        folded = textlib.fold(text)
    words = _WORD.findall(folded)
    if not lexicon.words.isdisjoint(words):
        return True
    if not folded.isascii() and any(symbol in folded for symbol in lexicon.symbols):
        return True
    single = 0
    ends = lexicon.ends
    for word in words:
        if len(word) == 1:
            single += 1
            if single >= 4:  # spelled out ("d a n k e"): only the full analysis reads it
                return True
            continue
        single = 0
        # Stretched ("daaanke"): a key keeps the first and the last letter of its word.
        if word[0] + word[-1] in ends and _key(word) in lexicon.words:
            return True
    return False


def detect_thanks(text: str, language: str | None) -> ThanksMatch | None:
    """The thanks in a message, or None (quotes, code blocks and cancelling phrases count)."""
    if not might_thank(text, language):
        return None
    scan = scan_thanks(textlib.analyse(text).body, language)
    return scan.match if scan.is_thanks else None


def explain_thanks(text: str, language: str | None) -> str:
    """One line saying whether a text thanks someone, and why (in ``language``)."""
    t = get_locale(language or "en").t
    analysed = textlib.analyse(text)
    scan = scan_thanks(analysed.body, language)
    if scan.sarcasm is not None:
        return t("karma.explain_sarcasm", marker=scan.sarcasm)
    if scan.match is not None:
        return t("karma.explain_yes", match=scan.match.text)
    if scan.cancelled_by is not None:
        return t("karma.explain_cancelled", phrase=scan.cancelled_by)
    if scan.weak is not None:
        return t("karma.explain_please", weak=scan.weak)
    if analysed.body != analysed.folded and scan_thanks(analysed.folded, language).is_thanks:
        return t("karma.explain_quoted")
    return t("karma.explain_none")


def normalize_emoji(emoji: str) -> str:
    """An emoji without variation selectors and skin tones ("❤️" -> "❤", "👍🏽" -> "👍")."""
    return _VARIATION.sub("", emoji.strip())
