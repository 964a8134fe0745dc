"""Complaint detection: pure, stateless scoring over the lexicons in ``complaints.toml``.

A complaint says that reality fell short of what the member expected from the product,
the service or the community. Every message is matched against the lexicons of all
languages (people mix); each lexicon is a category with a weight (``WEIGHTS``), counted
at most once per message, and the score is their sum:

- problem categories: ``broken``, ``waiting``, ``blocked``, ``money``, ``repeat``, ``time``,
  ``outrage``, ``negative``, standalone ``sarcasm`` ("danke für nichts");
- a negation up to three words before a match in the same clause, with only fillers
  ("so", "wirklich", "that", "a") between, cancels it ("nicht schlecht", "not bad", "kein
  großes Problem"); a negated praise counts as ``negative`` ("nicht gut"), but a negated
  thanks (``polite``: "no thanks") only declines, and a negated resolution is no
  resolution ("immer noch nicht behoben");
- ``intensifier`` right before a problem word, ``target`` (the app, the support, "ihr"),
  ``punctuation`` ("!!", "?!"), ``caps`` and ``angry_emoji`` add a little, but only to a
  message that already has a problem signal;
- ``help`` questions ("wie kann ich…", "how do I…"), ``praise`` and ``resolved`` subtract;
  praise does not subtract when the message also names a concrete problem or a
  high-severity matter ("mixed": "thanks for everything, but a mod harassed me"), but
  outrage before the praise only intensifies it ("unglaublich gut", "fucking awesome");
  an ironic opener before a problem ("Toll, schon wieder kaputt") adds ``sarcasm``;
- venting about the ``weather`` or one's ``personal`` life (the train, a cold) is not a
  complaint unless the message also names the product, money, access or a high-severity
  matter: ``off_target`` cancels every problem signal;
- high-severity categories (``crisis``: thoughts of suicide or self-harm, ``safety``,
  ``legal``, ``data_loss``, ``harassment``, ``grief``, ``health``) add enough to make a
  complaint on their own; ``safety`` and ``health`` only count with a target or another
  problem signal, ``grief`` only with another problem signal (a funeral alone, or beside
  "the meetup" one will miss, is not a complaint about the community), while ``crisis``
  always counts: whatever it is about, a person must answer, not a joke;
- ``repeat`` and ``time`` alone ("mal wieder den ganzen Tag gezockt") make no complaint:
  they need a target or another problem signal;
- English messages may get a ``vader`` signal (vaderSentiment's compound score <= -0.5)
  when vaderSentiment is installed and the message already has a problem signal.

Severity: ``high`` with any high-severity category, ``medium`` with ``money``, ``blocked``
or ``repeat``, ``low`` otherwise. The feature raises it to at least medium when the same
member complained before (repetition needs history, so it is not decided here).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot import text as textlib
from bot.locales import LANGUAGES, Locale, get_locale

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")
DEFAULT_THRESHOLD = 0.4

HIGH = ("crisis", "safety", "legal", "data_loss", "harassment", "grief", "health")
# High-severity categories that need a target or another problem signal to count.
HIGH_NEEDS_CONTEXT = frozenset({"safety", "grief", "health"})
# Needs another problem signal: a target alone ("…, can't come to the meetup") is no case.
NEEDS_PROBLEM = frozenset({"grief"})
MEDIUM = frozenset({"money", "blocked", "repeat"})
# Concrete problems: they keep praise from cancelling a complaint and make irony sarcasm.
CONCRETE = frozenset({"broken", "waiting", "blocked", "outrage", "negative"})
# Problem categories matched in the text, in the order signals are listed.
PROBLEMS = (
    "broken",
    "waiting",
    "blocked",
    "money",
    "repeat",
    "time",
    "outrage",
    "negative",
    "sarcasm",
)
# "again" or "for hours" alone is no complaint ("mal wieder den ganzen Tag gezockt"): it
# needs a target or one of these.
CORE = frozenset(PROBLEMS) - {"repeat", "time"} | frozenset(HIGH)
# Categories whose matches a preceding negation cancels.
NEGATABLE = frozenset(
    {"broken", "waiting", "blocked", "outrage", "negative", "praise", "resolved", *HIGH}
)
# Categories an intensifier right before the match strengthens.
INTENSIFIABLE = frozenset({"broken", "outrage", "negative"})
# Categories that keep weather or personal venting from being off target.
ON_TARGET = frozenset({"target", "money", "blocked", "crisis", "legal", "harassment", "data_loss"})
# Regex lexicons (``complaints_<name>`` in the locale files).
_REGEX_LEXICONS = (
    *PROBLEMS,
    *HIGH,
    "target",
    "help",
    "praise",
    "resolved",
    "irony",
    "weather",
    "personal",
)

WEIGHTS: Mapping[str, float] = {
    "broken": 0.45,
    "waiting": 0.45,
    "blocked": 0.5,
    "money": 0.3,
    "repeat": 0.3,
    "time": 0.25,
    "outrage": 0.45,
    "negative": 0.25,
    "sarcasm": 0.45,
    "irony": 0.25,
    "crisis": 0.6,
    "safety": 0.6,
    "legal": 0.6,
    "data_loss": 0.6,
    "harassment": 0.6,
    "grief": 0.6,
    "health": 0.6,
    "target": 0.1,
    "intensifier": 0.1,
    "punctuation": 0.1,
    "caps": 0.15,
    "angry_emoji": 0.15,
    "vader": 0.1,
    "help": -0.3,
    "praise": -0.4,
    "resolved": -0.6,
}

_CLAUSE = re.compile(r"[.!?;:,\n]")
_PUNCTUATION = re.compile(r"!{2,}|\?!|!\?")
_CAPS = 0.6
_VADER_NEGATIVE = -0.5
_WINDOW = 3


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason in a score: a category, the text it matched and its weight."""

    name: str
    text: str
    weight: float

    @property
    def label(self) -> str:
        """``name:text`` for the decisions log (just the name when there is no text)."""
        return f"{self.name}:{self.text}" if self.text else self.name


@dataclass(frozen=True, slots=True)
class ComplaintResult:
    """Whether a text is a complaint, its score, severity and the signals behind them."""

    is_complaint: bool
    score: float
    severity: Severity | None
    signals: tuple[Signal, ...] = ()
    # The message's language when its wording says so clearly, else None.
    language: str | None = None

    def has(self, name: str) -> bool:
        """True if a signal of that category counts (weight other than zero)."""
        return any(s.name == name and s.weight != 0 for s in self.signals)

    @property
    def labels(self) -> list[str]:
        """The signals that count, as ``name:text`` labels."""
        return [s.label for s in self.signals if s.weight != 0]


NOT_A_COMPLAINT = ComplaintResult(is_complaint=False, score=0.0, severity=None)


@dataclass(frozen=True, slots=True)
class _Lexicons:
    """Compiled lexicons of all languages."""

    patterns: Mapping[str, re.Pattern[str]]
    trigger: _Trigger
    intensifiers: frozenset[str]
    negations: frozenset[str]
    fillers: frozenset[str]
    stopwords: Mapping[str, frozenset[str]]
    angry_emoji: frozenset[str]
    angry_trigger: re.Pattern[str]
    # Thanks words: a negated one ("no thanks") declines, it says nothing is bad.
    polite: re.Pattern[str]


def _entries(name: str) -> list[str]:
    """One lexicon of every language, folded like the text, without duplicates."""
    seen: dict[str, None] = {}
    for language in LANGUAGES:
        for entry in get_locale(language).lexicon(f"complaints_{name}"):
            folded = entry.strip().casefold().replace("’", "'")
            if folded:
                seen[folded] = None
    return list(seen)


def _widen(entry: str) -> str:
    """A lexicon entry with its spaces matching any whitespace ("a ?b" allows none)."""
    return entry.replace(" ?", r"\s*").replace(" ", r"\s+")


def _compile(entries: Iterable[str]) -> re.Pattern[str]:
    """Whole-word alternation, longest entries first; a space matches any whitespace."""
    ordered = sorted(entries, key=lambda e: (-len(e), e))
    body = "|".join(f"(?:{_widen(e)})" for e in ordered)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.MULTILINE)


# --- a cheap pre-check ----------------------------------------------------------------
#
# The lexicons are regular expressions with 1,000+ alternatives; searching them costs tens
# of microseconds per message. Every entry needs certain words to match: its match must
# contain a word that starts with one of a few literal prefixes ("down" in
# "(?:ist|sind|war) (?:\w+ ){0,4}down", "kaputt" in "kaputt\w*"). Looking the message's
# words up in a set of those prefixes rules out most ordinary messages in a few
# microseconds. The parser below reads the subset of regex syntax the lexicons use; an
# entry it cannot reduce to prefixes of three or more characters is searched as a regex.

_Item = tuple[str, object, bool]  # kind ("lit", "space", "group", "other"), value, optional
_WORDS = re.compile(r"\w+")


def _skip_class(pattern: str, i: int) -> int:
    """The index after a ``[...]`` class starting at ``i``."""
    i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _quantifier(pattern: str, i: int) -> tuple[int, bool, bool]:
    """Skip a quantifier at ``i``: (next index, may match zero times, has one)."""
    if i >= len(pattern) or pattern[i] not in "?*+{":
        return i, False, False
    if pattern[i] == "{":
        end = pattern.index("}", i)
        zero = pattern[i + 1 : end].split(",")[0].strip() in ("", "0")
        i = end + 1
    else:
        zero = pattern[i] in "?*"
        i += 1
    if i < len(pattern) and pattern[i] == "?":  # lazy
        i += 1
    return i, zero, True


def _parse(pattern: str, i: int = 0) -> tuple[list[list[_Item]], int]:
    """Alternatives of items from ``i`` up to a closing parenthesis or the end."""
    alternatives: list[list[_Item]] = [[]]
    while i < len(pattern):
        char = pattern[i]
        if char == ")":
            return alternatives, i + 1
        if char == "|":
            alternatives.append([])
            i += 1
            continue
        value: object = None
        if char == "(":
            lookaround = pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i)
            if lookaround:
                start = i + (4 if pattern.startswith("(?<", i) else 3)
            else:
                start = i + 3 if pattern.startswith("(?:", i) else i + 1
            value, i = _parse(pattern, start)
            kind = "lookaround" if lookaround else "group"
        elif char == "[":
            kind, i = "other", _skip_class(pattern, i)
        elif char == "\\":
            escaped = pattern[i + 1]
            kind = {"s": "space"}.get(escaped, "other" if escaped.isalnum() else "lit")
            value, i = escaped, i + 2
        elif char == " ":
            kind, i = "space", i + 1
        elif char in ".^$":
            kind, i = "other", i + 1
        else:
            kind, value, i = "lit", char, i + 1
        i, zero, quantified = _quantifier(pattern, i)
        if kind != "lookaround":  # consumes nothing
            alternatives[-1].append((kind, value, zero))
            if quantified and kind == "lit" and not zero:
                alternatives[-1].append(("other", None, False))  # "a+": the run ends there
    return alternatives, i


def _ends_with_space(alternatives: list[list[_Item]]) -> bool:
    """True if every alternative of a group ends with whitespace."""
    return all(alt and alt[-1][0] == "space" and not alt[-1][2] for alt in alternatives)


def _prefixes(
    items: list[_Item], word_start: bool, common: frozenset[str]
) -> frozenset[str] | None:
    """Word prefixes one of which every match of ``items`` has, the most selective set.

    Only literal runs that begin a word count (after whitespace or at the start), and a
    run stops at the first character that is not a word character ("reicht's" gives
    "reicht"), because the message is looked up word by word. Sets without ``common``
    words win, then longer prefixes, then smaller sets.
    """
    candidates: list[frozenset[str]] = []
    run, run_start = "", word_start
    for kind, value, optional in items:
        if kind == "lit" and not optional:
            if not run:
                run_start = word_start
            run += str(value)
            word_start = False
            continue
        if run and run_start:
            candidates.append(frozenset({run}))
        run = ""
        if kind == "group":
            assert isinstance(value, list)
            if not optional:
                found = [_prefixes(alternative, word_start, common) for alternative in value]
                if all(f is not None for f in found):
                    candidates.append(frozenset().union(*(f for f in found if f is not None)))
            # After an optional group of words ("(?:\w+ ){0,3}") the word start stays.
            word_start = _ends_with_space(value) and (word_start or not optional)
        else:
            word_start = kind == "space" and not optional
    if run and run_start:
        candidates.append(frozenset({run}))
    cleaned = []
    for candidate in candidates:
        heads = frozenset(_word_head(s) for s in candidate)
        if all(len(h) >= 3 for h in heads):
            cleaned.append(heads)
    if not cleaned:
        return None
    return max(cleaned, key=lambda c: (not c & common, min(map(len, c)), -len(c)))


def _word_head(literal: str) -> str:
    """The leading word characters of a literal."""
    match = _WORDS.match(literal)
    return match.group() if match else ""


@dataclass(frozen=True, slots=True)
class _Trigger:
    """Tells fast whether any entry of a set of lexicons matches a folded text.

    Each entry is filed under the word prefixes one of which its matches need; only the
    entries filed under a prefix of a word in the text are searched. Entries without
    such prefixes (numbers with "€") form one small regex searched every time.
    """

    by_prefix: Mapping[str, tuple[re.Pattern[str], ...]]
    heads: frozenset[str]  # the first three characters of every prefix
    lengths: tuple[int, ...]
    rest: re.Pattern[str] | None

    def search(self, folded: str) -> bool:
        """True if an entry matches ``folded``."""
        heads, by_prefix = self.heads, self.by_prefix
        tried: set[str] = set()
        for word in _WORDS.findall(folded):
            if word[:3] not in heads:
                continue
            for length in self.lengths:
                if length > len(word):
                    break
                prefix = word[:length]
                if prefix in by_prefix and prefix not in tried:
                    tried.add(prefix)
                    if any(p.search(folded) for p in by_prefix[prefix]):
                        return True
        return self.rest is not None and self.rest.search(folded) is not None


def _trigger(entries: Iterable[str], common: frozenset[str]) -> _Trigger:
    """Build the trigger for lexicon entries (folded, spaces not yet widened)."""
    by_prefix: dict[str, list[re.Pattern[str]]] = {}
    rest: list[str] = []
    for entry in entries:
        found = [_prefixes(alternative, True, common) for alternative in _parse(entry)[0]]
        if not all(f is not None for f in found):
            rest.append(entry)
            continue
        compiled = _compile([entry])
        for prefix in frozenset().union(*(f for f in found if f is not None)):
            by_prefix.setdefault(prefix, []).append(compiled)
    return _Trigger(
        by_prefix={p: tuple(patterns) for p, patterns in by_prefix.items()},
        heads=frozenset(p[:3] for p in by_prefix),
        lengths=tuple(sorted({len(p) for p in by_prefix})),
        # A superset is enough here, and without the look-behind the re module can skip
        # ahead to the first digit or currency sign.
        rest=re.compile("|".join(_run_start(_widen(e)) for e in rest)) if rest else None,
    )


def _run_start(pattern: str) -> str:
    """A leading ``\\d+`` tried only where a run of digits starts, not at each digit."""
    # Tried at every digit, "\d+\s*€" read each run to its end again: 100 kB of digits
    # took minutes. The look-behind after the first digit keeps the skip-ahead above.
    return r"\d(?<!\d\d)\d*" + pattern[3:] if pattern.startswith(r"\d+") else pattern


@functools.cache
def _lexicons() -> _Lexicons:
    """Compile every lexicon once."""
    patterns = {name: _compile(_entries(name)) for name in _REGEX_LEXICONS}
    # Everything that can add to a score: a message matching none of it is no complaint.
    trigger_entries = [e for name in (*PROBLEMS, *HIGH) for e in _entries(name)]
    angry = {_bare_emoji(e) for e in _entries("angry_emoji")}
    stopwords = {
        language: frozenset(
            e.casefold().replace("’", "'")
            for e in get_locale(language).lexicon("complaints_stopwords")
        )
        for language in LANGUAGES
    }
    return _Lexicons(
        patterns=patterns,
        trigger=_trigger(trigger_entries, frozenset().union(*stopwords.values())),
        intensifiers=frozenset(_entries("intensifiers")),
        negations=frozenset(_entries("negations")),
        fillers=frozenset(_entries("fillers")) | frozenset(_entries("intensifiers")),
        stopwords=stopwords,
        angry_emoji=frozenset(angry),
        angry_trigger=re.compile("|".join(re.escape(e) for e in sorted(angry))),
        polite=_compile(_entries("polite")),
    )


_VARIATION = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff\u2640\u2642]")


def _bare_emoji(emoji: str) -> str:
    """An emoji without variation selectors, skin tones and gender signs."""
    return _VARIATION.sub("", emoji)


@functools.cache
def _vader() -> Callable[[str], float] | None:
    """vaderSentiment's compound score, or None when the library is not installed."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:  # an optional signal: detection works without it
        return None
    with warnings.catch_warnings():
        # It reads its lexicon with codecs.open, which newer Pythons deprecate.
        warnings.simplefilter("ignore", DeprecationWarning)
        analyzer = SentimentIntensityAnalyzer()

    def compound(text: str) -> float:
        scores: dict[str, Any] = analyzer.polarity_scores(text)
        return float(scores["compound"])

    return compound


def guess_language(tokens: Iterable[str]) -> str | None:
    """The language of a message when its function words say so clearly, else None.

    Clearly means at least two function words of one language and at least twice as many
    as of every other language.
    """
    counts = dict.fromkeys(LANGUAGES, 0)
    stopwords = _lexicons().stopwords
    for token in tokens:
        token = token.replace("’", "'")
        for language, words in stopwords.items():
            if token in words:
                counts[language] += 1
    best = max(counts, key=lambda lang: counts[lang])
    others = max((n for lang, n in counts.items() if lang != best), default=0)
    if counts[best] >= 2 and counts[best] >= 2 * others:
        return best
    return None


def _window(body: str, start: int) -> tuple[str, ...]:
    """The words right before a match, within its clause."""
    before = body[max(0, start - 80) : start]
    clause = _CLAUSE.split(before)[-1]
    return textlib.tokenize(clause)[-_WINDOW:]


def _negation(window: tuple[str, ...], lexicons: _Lexicons) -> str | None:
    """The negation that governs a match: only fillers may stand between ("nicht so gut")."""
    for word in reversed(window):
        if word in lexicons.negations:
            return word
        if word not in lexicons.fillers:
            return None
    return None


@dataclass(slots=True)
class _Scan:
    """What the lexicons found in one message body."""

    hits: dict[str, str]
    negated: list[str]
    intensifier: str | None
    starts: dict[str, int]  # where each hit begins in the body


def _scan(body: str, lexicons: _Lexicons) -> _Scan:
    """First counting match of each category; negated matches go to ``negated``."""
    hits: dict[str, str] = {}
    starts: dict[str, int] = {}
    negated: list[str] = []
    intensifier: str | None = None
    for name, pattern in lexicons.patterns.items():
        for match in pattern.finditer(body):
            window = _window(body, match.start())
            negation = _negation(window, lexicons) if name in NEGATABLE else None
            if negation is not None:
                negated.append(match.group())
                # "nicht so richtig gut" is a complaint word; "no thanks" is not.
                if name == "praise" and not lexicons.polite.fullmatch(match.group()):
                    hits.setdefault("negative", f"{negation} {match.group()}")
                continue
            hits.setdefault(name, match.group())
            starts.setdefault(name, match.start())
            if intensifier is None and name in INTENSIFIABLE:
                near = [w for w in window[-2:] if w in lexicons.intensifiers]
                if near:
                    intensifier = f"{near[-1]} {match.group()}"
            break
    return _Scan(hits, negated, intensifier, starts)


def detect(
    text: str, language: str | None = None, *, threshold: float = DEFAULT_THRESHOLD
) -> ComplaintResult:
    """Score a message as a complaint; ``language`` is the community's, used as a tiebreak."""
    lexicons = _lexicons()
    folded = text.casefold().replace("’", "'")
    # Cheap exit for ordinary messages, before the full text analysis.
    angry_hint = not folded.isascii() and lexicons.angry_trigger.search(folded) is not None
    if not angry_hint and not lexicons.trigger.search(folded):
        return NOT_A_COMPLAINT
    analysed = textlib.analyse(text)
    body = analysed.body.replace("’", "'")
    scan = _scan(body, lexicons)
    hits = scan.hits
    guessed = guess_language(analysed.tokens)
    signals: list[Signal] = []

    def add(name: str, match: str = "", weight: float | None = None) -> None:
        signals.append(Signal(name, match, WEIGHTS[name] if weight is None else weight))

    for name in PROBLEMS:
        if name in hits:
            add(name, hits[name])
    concrete = any(name in hits for name in CONCRETE)
    problem = bool(signals)
    for name in HIGH:
        if name not in hits:
            continue
        context = problem or ("target" in hits and name not in NEEDS_PROBLEM)
        if name in HIGH_NEEDS_CONTEXT and not context:
            add(name, hits[name], 0.0)  # shown by explain, but no complaint on its own
        else:
            add(name, hits[name])
    problem = any(s.weight > 0 for s in signals)
    for match in scan.negated:
        add("negated", match, 0.0)
    if problem:
        if "target" in hits:
            add("target", hits["target"])
        if scan.intensifier is not None:
            add("intensifier", scan.intensifier)
        punctuation = _PUNCTUATION.search(analysed.clean)
        if punctuation is not None:
            add("punctuation", punctuation.group())
        if textlib.caps_ratio(analysed.clean) >= _CAPS:
            add("caps")
    angry = [e for e in analysed.emoji if _bare_emoji(e) in lexicons.angry_emoji]
    if angry and (problem or "target" in hits):
        add("angry_emoji", angry[0])
    ironic = "irony" in hits and concrete and "resolved" not in hits
    if ironic:
        add("sarcasm", hits["irony"], WEIGHTS["irony"])
    if "praise" in hits and "sarcasm" not in hits and not ironic:
        serious = any(s.name in HIGH and s.weight > 0 for s in signals)
        # Outrage before praise intensifies it ("unglaublich gut", "fucking awesome").
        praising = "outrage" in hits and scan.starts["outrage"] < scan.starts["praise"]
        named = any(n in hits for n in CONCRETE if not (praising and n == "outrage"))
        if (named or serious) and "resolved" not in hits:
            add("mixed", hits["praise"], 0.0)  # praise does not cancel a named problem
        else:
            add("praise", hits["praise"])
    if "resolved" in hits:
        add("resolved", hits["resolved"])
    if "help" in hits:
        add("help", hits["help"])
    english = guessed == "en" or (guessed is None and language == "en")
    if problem and english:
        vader = _vader()
        if vader is not None:
            compound = vader(analysed.clean)
            if compound <= _VADER_NEGATIVE:
                add("vader", f"{compound:.2f}")
    for name in ("weather", "personal"):
        if name in hits and problem and not any(n in hits for n in ON_TARGET):
            # Not about the community at all: cancel every problem signal.
            positive = sum(s.weight for s in signals if s.weight > 0)
            add("off_target", f"{name}:{hits[name]}", -positive)
            break
    score = round(sum(s.weight for s in signals), 2)
    core = any(s.weight > 0 and s.name in CORE for s in signals)
    is_complaint = score >= threshold and (core or "target" in hits)
    severity: Severity | None = None
    if is_complaint:
        if any(s.name in HIGH and s.weight > 0 for s in signals):
            severity = "high"
        elif any(name in hits for name in MEDIUM):
            severity = "medium"
        else:
            severity = "low"
    return ComplaintResult(is_complaint, score, severity, tuple(signals), guessed)


def explain(
    result: ComplaintResult, threshold: float = DEFAULT_THRESHOLD, locale: Locale | None = None
) -> list[str]:
    """Lines saying why a text scores as it does: verdict first, then each signal."""
    locale = locale or get_locale("en")
    t = locale.t
    head = t(
        "complaints.explain_head",
        verdict=t("complaints.explain_yes" if result.is_complaint else "complaints.explain_no"),
        score=f"{result.score:.2f}",
        threshold=f"{threshold:.2f}",
    )
    if result.severity is not None:
        severity = t(f"complaints.severity_{result.severity}")
        head += t("complaints.explain_severity", severity=severity)
    if not result.signals:
        return [t("complaints.explain_none", head=head)]
    lines = [head]
    for signal in result.signals:
        quoted = t("complaints.explain_quoted", text=signal.text) if signal.text else ""
        note = ""
        if signal.weight == 0:
            note = t(_ZERO_NOTES.get(signal.name, "complaints.explain_needs_target"))
        named = f"complaints.signal.{signal.name}"
        lines.append(
            t(
                "complaints.explain_signal",
                weight=f"{signal.weight:+.2f}",
                label=t(named) if locale.variants(named) else signal.name,
                name=signal.name,
                quoted=quoted,
                note=note,
            )
        )
    if result.language is not None:
        lines.append(t("complaints.explain_language", language=result.language))
    return lines


# Why a signal shown with weight 0 does not count (others need a target or another problem).
_ZERO_NOTES = {
    "negated": "complaints.explain_negated",
    "mixed": "complaints.explain_mixed",
    **{name: "complaints.explain_needs_problem" for name in NEEDS_PROBLEM},
}
