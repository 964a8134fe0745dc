"""Per-message promo signals and the formula that combines all signals into one score.

Every signal has a strength ``s`` in [0, 1] (how clearly it fired) and a fixed weight ``w``
in [0, 1] (how much it says about promotion on its own, see ``WEIGHTS``). Signals are
combined like independent pieces of evidence (a noisy-OR), then reduced by the member's
dismissal bonus ``b`` (earned when moderators dismissed earlier flags):

    score = (1 - prod_i (1 - w_i * s_i)) * (1 - b)

So one signal alone never scores more than its weight (an invite link alone: 0.45), each
further signal closes part of the remaining gap, and the score stays in [0, 1]. The
classifier's strength is ``max(0, 2p - 1)`` for its spam probability ``p``, so texts it
finds ham-like add nothing. Members with karma >= ``trusted_karma`` lose the link signals
(``LINK_SIGNALS``) and are flagged only at ``trusted_threshold``; moderators and members on
the allow-list are never flagged.

All text handling goes through ``bot.text.analyse`` (zero-width characters, look-alike
letters, spaced-out letters and percent-encoded hosts are undone there); word lists are
data in ``bot/locales/<lang>/promo.toml`` and are matched on folded tokens, German and
English lists together, because ads do not respect a community's language.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from bot.features.promo.settings import PromoSettings
from bot.locales import LANGUAGES, get_locale
from bot.text import Analysed, Link, caps_ratio, extract_links, fold, tokenize

WEIGHTS: Mapping[str, float] = {
    "invite_link": 0.45,
    "shortener": 0.35,
    "link_only": 0.25,
    "many_mentions": 0.4,
    "contact_handle": 0.35,
    "dm_call": 0.4,
    "promo_words": 0.45,
    "emoji_flood": 0.2,
    "caps_flood": 0.2,
    "classifier": 0.5,
    "monologue": 0.5,
    "cross_post": 0.5,
    "repeat": 0.35,
    "new_member_link": 0.25,
    "burst": 0.25,
}
# Signals that only say "this message carries a link": they do not count for trusted members.
LINK_SIGNALS = frozenset({"invite_link", "shortener", "link_only", "new_member_link"})
# A message is a promotional post (for the 9:1 rule) from this per-message score on.
PROMO_POST_SCORE = 0.3
# A link-only message has at most this many words besides its links.
LINK_ONLY_WORDS = 2
MEMO_SIZE = 100_000
_MASS_MENTIONS = frozenset({"@everyone", "@here", "@all", "@channel"})

_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|\b00|\b0)\d(?:[ ./()-]{0,2}\d){7,16}(?!\d)")
_PHONE_HINT_RE = re.compile(r"[+0]\d")  # every phone number starts so; cheap to look for
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_HANDLE_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{3,32}\b")
# A whitespace-separated chunk that is (part of) a link: a scheme, a path, an escape, a domain.
_URLISH_RE = re.compile(r"://|/|%[0-9a-f]{2}|[^\W_]\.[^\W_]", re.IGNORECASE)
# Three capitals in a row: without that, no text is mostly capitals (a cheap pre-check).
_SHOUT_RE = re.compile(r"[A-ZÀ-ÖØ-Þ]{3}")
_SCHEME_TOKENS = frozenset({"http", "https", "www", "hxxp", "hxxps"})
_CONTACT_HOSTS = frozenset({"wa.me", "api.whatsapp.com", "m.me", "signal.me", "line.me"})


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal that fired: its name, strength in [0, 1] and what triggered it."""

    name: str
    strength: float = 1.0
    detail: str = ""

    @property
    def weight(self) -> float:
        """The signal's fixed weight from ``WEIGHTS``."""
        return WEIGHTS[self.name]

    @property
    def contribution(self) -> float:
        """``weight * strength``: the score this signal alone would give."""
        return self.weight * self.strength


def combine(signals: Iterable[Signal], bonus: float = 0.0) -> float:
    """The score in [0, 1]: noisy-OR of ``weight * strength``, times ``1 - bonus``."""
    remaining = 1.0
    for signal in signals:
        remaining *= 1.0 - signal.contribution
    return (1.0 - remaining) * (1.0 - bonus)


# --------------------------------------------------------------------------- lexicons


LEXICONS = ("promo_words", "promo_dm_calls", "promo_contact_words")
WORDS, DM_CALLS, CONTACT_WORDS = range(len(LEXICONS))
_PHRASE_START = 1 << len(LEXICONS)


@dataclass(frozen=True, slots=True)
class Lexicons:
    """Word lists matched together on folded tokens: words, ``prefix*``, ``*suffix``, phrases.

    One pass over the tokens serves every list: a memo maps each token seen to a bit mask
    (bit i: a word of list i; a high bit: some phrase starts here), so most tokens cost a
    single dict lookup.
    """

    words: tuple[frozenset[str], ...]
    prefixes: tuple[tuple[str, ...], ...]
    suffixes: tuple[tuple[str, ...], ...]
    phrases: Mapping[str, tuple[tuple[tuple[str, ...], int], ...]]
    memo: dict[str, int] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, lists: Sequence[Iterable[str]]) -> Lexicons:
        """Fold and tokenise each entry once; a ``*`` marks a prefix or suffix entry."""
        words: list[frozenset[str]] = []
        prefixes: list[tuple[str, ...]] = []
        suffixes: list[tuple[str, ...]] = []
        phrases: dict[str, set[tuple[tuple[str, ...], int]]] = {}
        for index, entries in enumerate(lists):
            single: set[str] = set()
            starts: set[str] = set()
            ends: set[str] = set()
            for entry in entries:
                tokens = tokenize(fold(entry.strip("*")))
                if len(tokens) > 1:
                    phrases.setdefault(tokens[0], set()).add((tokens[1:], index))
                elif tokens and entry.endswith("*"):
                    starts.add(tokens[0])
                elif tokens and entry.startswith("*"):
                    ends.add(tokens[0])
                elif tokens:
                    single.add(tokens[0])
            words.append(frozenset(single))
            prefixes.append(tuple(sorted(starts)))
            suffixes.append(tuple(sorted(ends)))
        return cls(
            tuple(words),
            tuple(prefixes),
            tuple(suffixes),
            {first: tuple(sorted(rests)) for first, rests in phrases.items()},
        )

    def hits(self, tokens: Sequence[str]) -> tuple[list[str], ...]:
        """Per list, the matched words and phrases in order."""
        found: tuple[list[str], ...] = tuple([] for _ in self.words)
        memo = self.memo
        for i, token in enumerate(tokens):
            mask = memo.get(token)
            if mask is None:
                mask = self._mask(token)
                if len(memo) < MEMO_SIZE:
                    memo[token] = mask
            if not mask:
                continue
            for index, hits in enumerate(found):
                if mask >> index & 1:
                    hits.append(token)
            if mask & _PHRASE_START:
                for rest, index in self.phrases[token]:
                    if tuple(tokens[i + 1 : i + 1 + len(rest)]) == rest:
                        found[index].append(" ".join((token, *rest)))
        return found

    def _mask(self, token: str) -> int:
        mask = _PHRASE_START if token in self.phrases else 0
        for index, words in enumerate(self.words):
            prefixes, suffixes = self.prefixes[index], self.suffixes[index]
            if (
                token in words
                or (prefixes and token.startswith(prefixes))
                or (suffixes and token.endswith(suffixes))
            ):
                mask |= 1 << index
        return mask


@functools.cache
def lexicons() -> Lexicons:
    """The lists of ``bot/locales/*/promo.toml``, German and English merged, built once."""
    lists: list[list[str]] = []
    for name in LEXICONS:
        entries: list[str] = []
        for language in LANGUAGES:
            entries.extend(get_locale(language).lexicon(name))
        lists.append(entries)
    return Lexicons.build(lists)


# --------------------------------------------------------------------------- links


def links_of(analysed: Analysed) -> tuple[Link, ...]:
    """The message's links, also those whose whole URL is percent-encoded (``https%3A%2F%2F``)."""
    links = analysed.links
    if "%" in analysed.clean:
        extra = extract_links(unquote(analysed.clean))
        if extra:
            seen = {link.url for link in links}
            links = links + tuple(link for link in extra if link.url not in seen)
    return links


def link_tokens(links: Sequence[Link]) -> frozenset[str]:
    """The tokens the links' URLs consist of."""
    found = {"http", "https", "www"}
    for link in links:
        found.update(tokenize(fold(link.url)))
    return frozenset(found)


def text_tokens(analysed: Analysed, links: Sequence[Link]) -> tuple[str, ...]:
    """Tokens outside links: URL-like chunks are cut out of the body first.

    A link spelt out with spaces leaves pieces behind ("https", "discord"); when a
    scheme token is left over, every token of the links' URLs is dropped as well.
    """
    if not links:
        return analysed.tokens
    search = _URLISH_RE.search
    tokens = tokenize(" ".join(c for c in analysed.body.split() if search(c) is None))
    if not _SCHEME_TOKENS.isdisjoint(tokens):
        skip = link_tokens(links)
        tokens = tuple(t for t in tokens if t not in skip)
    return tokens


def words_of(analysed: Analysed, links: Sequence[Link]) -> list[str]:
    """Tokens of two or more characters outside links."""
    return [t for t in text_tokens(analysed, links) if len(t) > 1]


# --------------------------------------------------------------------------- signals


def message_signals(
    analysed: Analysed,
    links: Sequence[Link],
    settings: PromoSettings,
    *,
    mentions: int = 0,
    is_reply: bool = False,
    tokens: Sequence[str] | None = None,
) -> list[Signal]:
    """Signals of one message on its own (no member history, no classifier).

    ``mentions`` is the number of other members the platform says were mentioned;
    ``is_reply`` says the message answers someone else's message, which makes a bare
    link an answer rather than an advertisement; ``tokens`` are ``text_tokens`` if the
    caller has them already.
    """
    found: list[Signal] = []
    if tokens is None:
        tokens = text_tokens(analysed, links)
    if links:
        invites = [link for link in links if link.kind == "invite"]
        channels = [link for link in links if link.kind == "telegram"]
        if invites or channels:
            shown = invites or channels
            found.append(
                Signal(
                    "invite_link",
                    1.0 if invites else 0.6,
                    ", ".join(dict.fromkeys(link.host for link in shown)),
                )
            )
        shorteners = [link.host for link in links if link.kind == "shortener"]
        if shorteners:
            found.append(Signal("shortener", 1.0, ", ".join(dict.fromkeys(shorteners))))
        if not is_reply and sum(len(t) > 1 for t in tokens) <= LINK_ONLY_WORDS:
            found.append(Signal("link_only", 1.0, str(len(links))))
    mass = [m for m in analysed.mentions if m.lower() in _MASS_MENTIONS]
    count = max(mentions, len(analysed.mentions))
    if mass or count >= settings.many_mentions:
        found.append(Signal("many_mentions", 1.0, mass[0] if mass else str(count)))
    hits = lexicons().hits(tokens)
    contact = _contact(analysed, links, hits[CONTACT_WORDS])
    if contact is not None:
        found.append(contact)
    calls = hits[DM_CALLS]
    if calls:
        # Said to everyone it invites to a private sale; in an answer it is often help
        # ("schreib mir privat, dann schick ich dir die Zugangsdaten"): less weight.
        strength = 0.6 if is_reply else 1.0
        found.append(Signal("dm_call", strength, ", ".join(dict.fromkeys(calls))))
    words = hits[WORDS] + _host_words(links)
    if words:
        distinct = list(dict.fromkeys(words))
        found.append(Signal("promo_words", min(1.0, len(distinct) / 3), ", ".join(distinct)))
    emoji = len(analysed.emoji)
    if emoji >= settings.emoji_flood or (emoji >= 4 and emoji > len(tokens)):
        found.append(Signal("emoji_flood", 1.0, str(emoji)))
    if _SHOUT_RE.search(analysed.clean) is not None and _enough_letters(analysed):
        ratio = caps_ratio(analysed.clean)
        if ratio >= settings.caps_flood:
            found.append(Signal("caps_flood", 1.0, f"{ratio:.2f}"))
    return found


def _host_words(links: Sequence[Link]) -> list[str]:
    """Promo words in the links' host names ("onlyfans.com", "free-spins-casino.bet"): the
    text around a link may say nothing, the name says what it sells."""
    found: list[str] = []
    for link in links:
        found.extend(_words_in_host(link.host))
    return found


@functools.lru_cache(maxsize=4_096)  # the same hosts are linked again and again
def _words_in_host(host: str) -> tuple[str, ...]:
    labels = host.removeprefix("www.").split(".")[:-1]  # without the top level
    if not labels:
        return ()
    return tuple(lexicons().hits(tokenize(" ".join(labels).replace("-", " ")))[WORDS])


def _enough_letters(analysed: Analysed) -> bool:
    """Shouting needs a dozen letters; "OK" or "FYI" is not a flood."""
    return sum(len(t) for t in analysed.tokens) >= 12


def _contact(analysed: Analysed, links: Sequence[Link], words: Sequence[str]) -> Signal | None:
    """Phone numbers, e-mail addresses, messenger links, or a messenger name with a handle."""
    for link in links:
        if link.host in _CONTACT_HOSTS:
            return Signal("contact_handle", 1.0, link.host)
    clean = analysed.clean
    if _PHONE_HINT_RE.search(clean) is not None:
        for match in _PHONE_RE.finditer(clean):
            digits = sum(ch.isdigit() for ch in match.group())
            if 9 <= digits <= 15:
                return Signal("contact_handle", 1.0, "phone")
    if "@" in clean:
        if _EMAIL_RE.search(clean) is not None:
            return Signal("contact_handle", 1.0, "e-mail")
        if words and _HANDLE_RE.search(clean) is not None:
            return Signal("contact_handle", 0.7, words[0])
    return None
