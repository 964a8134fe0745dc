"""Text normalisation shared by all features: clean, fold, tokenise and extract from messages.

Everything here runs on every chat message, so the expensive parts (the confusables
table, the emoji tables, all regular expressions) are built once at import through
``functools.cache``'d loaders and every function has an ASCII fast path.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote

import emoji

__all__ = [
    "Analysed",
    "Link",
    "analyse",
    "caps_ratio",
    "despace",
    "escape_markdown_and_mentions",
    "extract_emoji",
    "extract_links",
    "extract_mentions",
    "fold",
    "normalize",
    "strip_quotes_and_code",
    "tokenize",
    "well_formed",
]


@dataclass(frozen=True, slots=True)
class Link:
    """A link found in a message."""

    url: str
    host: str
    kind: str


@dataclass(frozen=True, slots=True)
class Analysed:
    """A message's text prepared for detection."""

    original: str
    clean: str
    folded: str
    body: str
    tokens: tuple[str, ...]
    links: tuple[Link, ...]
    mentions: tuple[str, ...]
    emoji: tuple[str, ...]


# --------------------------------------------------------------------------- tables


def _char_class(code_points: Iterable[int]) -> str:
    """A regex character class body for the given code points, compressed into ranges."""
    cps = sorted(set(code_points))
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        start, end = cps[i], cps[j]
        parts.append(f"\\U{start:08x}" if start == end else f"\\U{start:08x}-\\U{end:08x}")
        i = j + 1
    return "".join(parts)


# Ranges that hold Latin-script letters (checked by name below, so other scripts' letters
# that live in these blocks, e.g. Greek small capitals in U+1D00, are not counted).
_LATIN_BLOCKS = (
    (0x0041, 0x024F),
    (0x0250, 0x02AF),
    (0x1D00, 0x1DBF),
    (0x1E00, 0x1EFF),
    (0x2C60, 0x2C7F),
    (0xA720, 0xA7FF),
    (0xAB30, 0xAB6F),
    (0x1DF00, 0x1DFFF),
)


@functools.cache
def _latin_letters() -> frozenset[int]:
    """Code points of Latin-script letters."""
    found: set[int] = set()
    for lo, hi in _LATIN_BLOCKS:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN "):
                found.add(cp)
    return frozenset(found)


@functools.cache
def _confusables() -> Mapping[int, str]:
    """Non-Latin letters that look like one ASCII letter or digit, mapped to it (a translate table).

    Built from the ``confusables.json`` shipped in ``confusable_homoglyphs``: a character
    is taken when its homoglyph list holds exactly one ASCII letter/digit.  Only letters of
    other scripts are mapped, so Latin letters with diacritics, digits, punctuation and
    emoji never change.  Upper-case letters that the data pairs with ``l`` (Cyrillic ``І``,
    Greek ``Ι``, palochka ``Ӏ``) map to ``I``, which is what they stand for in practice.
    """
    data_file = importlib.resources.files("confusable_homoglyphs") / "confusables.json"
    data: dict[str, list[dict[str, str]]] = json.loads(data_file.read_text(encoding="utf-8"))
    latin = _latin_letters()
    table: dict[int, str] = {}
    for char, homoglyphs in data.items():
        if len(char) != 1 or char.isascii() or not char.isalpha() or ord(char) in latin:
            continue
        targets = {
            h["c"] for h in homoglyphs if len(h["c"]) == 1 and h["c"].isascii() and h["c"].isalnum()
        }
        if len(targets) != 1:
            continue
        (target,) = targets
        if target == "l" and char.isupper():
            target = "I"
        table[ord(char)] = target
    return MappingProxyType(table)


@functools.cache
def _emoji_chars() -> frozenset[int]:
    """Non-ASCII code points that occur in emoji sequences (ZWJ itself excluded)."""
    return frozenset(
        ord(c) for key in emoji.EMOJI_DATA for c in key if not c.isascii() and c != "\u200d"
    )


@functools.cache
def _emoji_bases() -> frozenset[int]:
    """Non-ASCII code points that start an emoji sequence (regional indicators excluded)."""
    return frozenset(
        ord(key[0])
        for key in emoji.EMOJI_DATA
        if not key[0].isascii() and not 0x1F1E6 <= ord(key[0]) <= 0x1F1FF
    )


@functools.cache
def _emoji_set() -> frozenset[str]:
    """All emoji sequences the ``emoji`` library knows."""
    return frozenset(emoji.EMOJI_DATA)


_MAX_ZWJ_ELEMENTS = 1 + max(key.count("\u200d") for key in _emoji_set())
_LIBRARY_SPLIT_LIMIT = 32


# Top-level domains accepted for bare (scheme-less) links.  Deliberately without the
# ccTLDs that are common file extensions (py, rs, md, sh, pl, ml, so, ps, pm, am) and the
# gTLDs zip and mov, so "main.py", "README.md", "config.toml" are not links.
_TLD_LIST = """
    com net org info biz xyz top shop app dev online site store club live pro tech cloud
    blog news space website icu vip link click email page win bet casino games market money
    finance trade ltd gmbh berlin wien hamburg koeln bayern nrw swiss gov edu mobi asia lol
    wtf fyi xxx sex porn onion
    de at ch uk eu io me gg ly co ru fr it es nl be lu li dk se no fi is cz sk hu ro bg gr
    pt ie us ca au nz jp cn kr in br mx ar tv fm ai cc gl gd gy to ws su ua by kz tk ga cf
    gq pw ms vc tr il ae sg hk tw za
"""
_TLDS = frozenset(_TLD_LIST.split())

_SHORTENER_LIST = """
    bit.ly tinyurl.com t.co goo.gl ow.ly is.gd buff.ly cutt.ly rebrand.ly shorturl.at rb.gy
    tiny.cc lnkd.in
"""
_SHORTENERS = frozenset(_SHORTENER_LIST.split())

# --------------------------------------------------------------------------- regexes


_LINEBREAK_RE = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Control characters except \t \n, zero-width and other invisible format characters,
# bidi controls, Hangul fillers (used for "blank" names) and lone surrogates.  ZWJ and
# tag characters are handled after NFKC, because emoji sequences need them.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff"
    "\uffa0\ufff0-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\ud800-\udfff"
    # Unassigned default-ignorable code points: invisible whatever they become.
    "\U000e0080-\U000e00ff\U000e01f0-\U000e0fff]+"
)
_ASCII_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f]+")
_ZWJ_RE = re.compile("\u200d")
_EMOJI_CONTEXT = frozenset(chr(cp) for cp in _emoji_chars() | {0xFE0F, 0xE007F})
# Group 1 keeps well-formed tag sequences (subdivision flags); stray tag characters go.
_TAG_RE = re.compile("(\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f)|[\U000e0000-\U000e007f]")

_LATIN_CLASS = _char_class(_latin_letters())
_LATIN_RE = re.compile(f"[{_LATIN_CLASS}]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_NON_LATIN_LETTER_RE = re.compile(f"(?![{_LATIN_CLASS}])[^\\W\\d_]")
# Look-alikes in the BMP, or any astral character (mostly emoji, checked against the set).
_CONFUSABLE_OR_ASTRAL_RE = re.compile(
    f"[{_char_class(cp for cp in _confusables() if cp <= 0xFFFF)}\U00010000-\U0010ffff]"
)
_ASTRAL_CONFUSABLES = frozenset(chr(cp) for cp in _confusables() if cp > 0xFFFF)
_WORD_RE = re.compile(r"\w+")
# Words of negative circled or squared letters ("🅳🅼 🅼🅴") have no NFKC form; one such
# letter alone stays what it is (🅰️ 🅱️ 🅾️ 🅿️ are emoji).
_ENCLOSED = "[\U0001f150-\U0001f169\U0001f170-\U0001f189]\ufe0f?"
_ENCLOSED_WORD_RE = re.compile(f"(?:{_ENCLOSED}){{2,}}")
_ENCLOSED_LETTER_RE = re.compile(_ENCLOSED)
_SPACES_RE = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_DOUBLE_SPACE_RE = re.compile(" {2,}")
_NEWLINE_SPACES_RE = re.compile(r" ?\n ?")

_SPACED_HINT_RE = re.compile(r"[ .][^\W\d_](?: +|\.)[^\W\d_][ .]")
_SPACED_RUN_RE = re.compile(r"(?<![\w.])[^\W\d_](?:(?: +|\.)[^\W\d_](?![^\W\d_])){3,}(?!\w)")
_RUN_WORD_BREAK_RE = re.compile(r" {2,}")
_RUN_SEPARATOR_RE = re.compile(r"[ .]")

_TOKEN_RE = re.compile(r"[^\W_]+(?:['’_][^\W_]+)*")
# Fast path of _TOKEN_RE (see tokenize): bytes.translate turns ASCII punctuation except
# "'" into spaces and lets the UTF-8 bytes of other characters through.
_TOKEN_BYTES = bytes(i if i >= 0x80 or chr(i).isalnum() or i == 0x27 else 0x20 for i in range(256))
# ASCII fast path of _SPACED_HINT_RE: letters -> "a", space and dot -> " ", rest -> "#",
# then a byte pattern with a literal prefix, which re scans much faster.
_SPACED_BYTES = bytes(
    0x61 if chr(i).isalpha() and i < 128 else 0x20 if i in (0x20, 0x2E) else 0x23
    for i in range(256)
)
_SPACED_SHAPE_RE = re.compile(rb" a +a ")

_FENCE_RE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE_RE = re.compile(r"``.+?``|`[^`]+`", re.DOTALL)
_BLANK_LINES_RE = re.compile(r"\n{2,}")
_BLOCK_QUOTE_RE = re.compile(r"^[ \t]*>>>(?:[ \t]|$).*", re.DOTALL | re.MULTILINE)
_QUOTE_LINE_RE = re.compile(r"^[ \t]*>.*(?:\n|\Z)", re.MULTILINE)

_MENTION_RE = re.compile(r"<@[!&]?\d{1,20}>|@(?<![\w.+/:-]@)[A-Za-z0-9_]{2,32}(?![\w@])")

_DEFANG_RE = re.compile(
    r"\b(h)(?:xx|\*\*)(ps?)\b|[\[({](?:\.|dot)[\])}]|\[:\]", re.IGNORECASE | re.ASCII
)
_NETLOC_END_RE = re.compile("[/?#]")
_SPACED_SEPARATORS = frozenset({".", "/", ":", "//", ":/", "://"})
# A scheme URL, or a bare domain whose last label (checked against _TLDS afterwards) is
# letters only; not inside an e-mail address, not a call like "logger.info(".
_URL_RE = re.compile(
    r"(?P<scheme>\b(?:[hH][tT][tT][pP][sS]?|[fF][tT][pP]|[tT][gG])://[^\s<>\"'`]+)"
    r"|(?<![\w@.%+/:-])(?P<bare>(?:[^\W_][\w-]*+\.)+(?P<tld>[^\W\d_]{2,63}+)(?![\w-])"
    r"(?::\d{1,5})?(?P<path>/[^\s<>\"'`]*)?)(?![(@])"
)
_TRAILING_PUNCT = ".,!?;:'\"*~|>]}…"

# Every character an emoji match can start with (keycaps aside, see _emoji_in_clean): the
# exact BMP ones and whole astral blocks, which keeps the class a fast bitmap + 2 ranges.
_EMOJI_HINT_RE = re.compile(
    f"[{_char_class(cp for cp in _emoji_bases() if cp <= 0xFFFF)}"
    "\U0001f000-\U0001faff\U000e0000-\U000e007f]"
)
_EMOJI_ELEMENT = f"[{_char_class(_emoji_bases())}][\ufe0e\ufe0f]?[\U0001f3fb-\U0001f3ff]?\ufe0f?"
_EMOJI_RE = re.compile(
    "[\U0001f1e6-\U0001f1ff]{2}"
    "|[#*0-9]\ufe0f?\u20e3"
    "|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
    f"|{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*"
)

_MARKDOWN_RE = re.compile(r"([\\*_`~|>\[\]()])")
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")

# Mentions an adapter or importer passes on per message: more than anyone thanks or
# greets at once, and each one costs the engine a lookup (a hostile message held 10,000).
MAX_MENTIONS = 100


def first_mentions(keys: Iterable[str]) -> tuple[str, ...]:
    """The distinct mentions in order of appearance, at most MAX_MENTIONS of them."""
    return tuple(itertools.islice(dict.fromkeys(keys), MAX_MENTIONS))


# --------------------------------------------------------------------------- normalize


def _has_confusable(text: str) -> bool:
    match = _CONFUSABLE_OR_ASTRAL_RE.search(text)
    while match is not None:
        char = match.group()
        if char <= "\uffff" or char in _ASTRAL_CONFUSABLES:
            return True
        match = _CONFUSABLE_OR_ASTRAL_RE.search(text, match.end())
    return False


def _fold_confusables(text: str) -> str:
    """Fold look-alike letters of other scripts to Latin where that is an evasion signal."""
    if not _has_confusable(text):
        return text
    table = _confusables()
    letters = len(_LETTER_RE.findall(text))
    mostly_latin = 2 * len(_LATIN_RE.findall(text)) > letters

    def fold_word(match: re.Match[str]) -> str:
        word = match.group()
        if not _has_confusable(word):
            return word
        folded = word.translate(table)
        if _LATIN_RE.search(word) is not None:
            return folded  # a mixed-script word: the classic evasion
        if mostly_latin and _NON_LATIN_LETTER_RE.search(folded) is None:
            return folded  # a whole look-alike word inside a Latin message
        return word

    return _WORD_RE.sub(fold_word, text)


def _zwj(match: re.Match[str]) -> str:
    """Keep a zero-width joiner only between two emoji (inside a ZWJ sequence)."""
    text, i = match.string, match.start()
    if 0 < i < len(text) - 1 and text[i - 1] in _EMOJI_CONTEXT and text[i + 1] in _EMOJI_CONTEXT:
        return "\u200d"
    return ""


def _tag(match: re.Match[str]) -> str:
    return match.group(1) or ""


def _prepare(text: str) -> str:
    """Everything ``normalize`` does except collapsing whitespace."""
    if text.isascii():
        if text.isprintable():
            return text
        return _ASCII_CONTROL_RE.sub("", _LINEBREAK_RE.sub("\n", text))
    printable = text.isprintable()
    if not printable:
        text = _INVISIBLE_RE.sub("", _LINEBREAK_RE.sub("\n", text))
        text = _TAG_RE.sub(_tag, text)
    elif (
        "\u034f" in text
        or "\u115f" in text
        or "\u1160" in text
        or "\u17b4" in text
        or "\u17b5" in text
        or "\u3164" in text
        or "\uffa0" in text
    ):  # the invisible characters that str.isprintable() lets through
        text = _INVISIBLE_RE.sub("", text)
    if text and max(text) >= "\U0001f150" and _ENCLOSED_WORD_RE.search(text) is not None:
        text = _ENCLOSED_WORD_RE.sub(_enclosed_word, text)
    text = unicodedata.normalize("NFKC", text)
    for _ in range(8):
        changed = _ZWJ_RE.sub(_zwj, text) if "\u200d" in text else text
        changed = _fold_confusables(changed)
        if changed == text:
            break
        text = unicodedata.normalize("NFKC", changed)
    return text


def _enclosed_word(match: re.Match[str]) -> str:
    return _ENCLOSED_LETTER_RE.sub(
        lambda m: chr(ord("A") + (ord(m.group()[0]) - 0x1F150) % 0x20), match.group()
    )


def _collapse(text: str) -> str:
    """Collapse runs of horizontal whitespace to one space, trim around newlines and ends."""
    if text.isprintable():  # the only whitespace left is " "
        if "  " in text:
            text = _DOUBLE_SPACE_RE.sub(" ", text)
        return text.strip()
    text = _SPACES_RE.sub(" ", text)
    if "\n" in text:
        text = _NEWLINE_SPACES_RE.sub("\n", text)
    return text.strip()


def normalize(text: str) -> str:
    """NFKC, drop invisible/control characters, fold cross-script look-alikes, tidy whitespace."""
    return _collapse(_prepare(text))


def _fold_normalized(text: str) -> str:
    """Case-fold an already normalised text, re-normalising until stable."""
    if text.isascii():
        return text.lower()
    folded = text.casefold()
    if folded == text:
        return text
    # Case folding never adds invisible characters, whitespace or ZWJ context, so the
    # result is already normal unless it left NFKC or gained a look-alike letter.
    if unicodedata.is_normalized("NFKC", folded) and not _has_confusable(folded):
        return folded
    for _ in range(8):
        text = normalize(folded)
        folded = text.casefold()
        if folded == text:
            break
    return text


def fold(text: str) -> str:
    """``normalize`` then casefold (so "Grüße" and "grüsse" both become "grüsse")."""
    return _fold_normalized(normalize(text))


def _join_run(match: re.Match[str]) -> str:
    return " ".join(
        _RUN_SEPARATOR_RE.sub("", part) for part in _RUN_WORD_BREAK_RE.split(match.group())
    )


def despace(text: str) -> str:
    """Join runs of >= 4 single letters split by spaces or dots ("d a n k e" -> "danke")."""
    # Two or more spaces inside a run are a word break and become one space, so
    # "b u y  n o w" gives "buy now" (analyse applies this before collapsing whitespace).
    if text.isascii():
        if _SPACED_SHAPE_RE.search(text.encode().translate(_SPACED_BYTES)) is None:
            return text
    elif _SPACED_HINT_RE.search(text) is None:
        return text
    return _SPACED_RUN_RE.sub(_join_run, text)


# --------------------------------------------------------------------------- structure


def strip_quotes_and_code(text: str) -> str:
    """Remove quoted lines (``>``, ``>>>`` blocks), fenced code blocks and inline code spans."""
    if "`" not in text and ">" not in text:
        return text
    stripped = text
    if "`" in stripped:
        stripped = _FENCE_RE.sub("\n", stripped)
        stripped = _INLINE_CODE_RE.sub(" ", stripped)
    if ">" in stripped:
        stripped = _BLOCK_QUOTE_RE.sub("", stripped)
        stripped = _QUOTE_LINE_RE.sub("", stripped)
    if stripped == text:
        return text
    return _BLANK_LINES_RE.sub("\n", _collapse(stripped))


def tokenize(text: str) -> tuple[str, ...]:
    """Word tokens: letters/digits, apostrophes and underscores kept only inside words."""
    if "_" in text or "''" in text:
        return tuple(_TOKEN_RE.findall(text))
    # Fast path, same result as _TOKEN_RE: ASCII punctuation becomes space, then split.
    # Non-ASCII bytes pass through, so it only holds when every word is letters/digits.
    spaced = (
        text.encode(errors="surrogatepass").translate(_TOKEN_BYTES).decode(errors="surrogatepass")
    )
    words = spaced.split()
    if not text.isascii() and not "".join(words).replace("'", "").isalnum():
        kept = []
        for word in words:
            if word.replace("'", "").isalnum():
                kept.append(word)
            elif any(char.isalnum() for char in word):
                return tuple(_TOKEN_RE.findall(text))  # e.g. "geht’s", "danke👍"
            # else: no letters or digits at all (emoji, „ “ –), so no token either
        words = kept
    if "'" in spaced and (
        " '" in spaced
        or "' " in spaced
        or spaced[0] == "'"
        or spaced[-1] == "'"
        or not spaced.isascii()  # other whitespace may stand next to an apostrophe
    ):  # apostrophes at word edges are not part of the word
        return tuple(token for word in words if (token := word.strip("'")))
    return tuple(words)


# --------------------------------------------------------------------------- links


def _join_spaced(text: str) -> str:
    """Glue URLs written with spaces ("h t t p s : / / bit . ly / x") back together."""
    lines = []
    for line in text.split("\n"):
        tokens = line.split(" ")
        out = [tokens[0]]
        for prev, cur in itertools.pairwise(tokens):
            if (
                prev in _SPACED_SEPARATORS
                or cur in _SPACED_SEPARATORS
                or (len(prev) == 1 and len(cur) == 1 and prev.isalnum() and cur.isalnum())
            ):
                out[-1] += cur
            else:
                out.append(cur)
        lines.append(" ".join(out))
    return "\n".join(lines)


def _defang(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f"{match.group(1)}tt{match.group(2)}"
    return ":" if match.group() == "[:]" else "."


def _trim_url(url: str) -> str:
    """Drop trailing punctuation, and closing parentheses that have no opening partner."""
    opening, closing = url.count("("), url.count(")")
    end = len(url)
    while end:
        last = url[end - 1]
        if last == ")" and opening < closing:
            closing -= 1
        elif last not in _TRAILING_PUNCT:
            break
        end -= 1
    return url[:end]


def _classify(host: str, path: str, scheme: str) -> str:
    if scheme == "tg":
        return "invite" if host == "join" else "telegram"
    code = path.lstrip("/")
    if host == "discord.gg":
        return "invite" if code else "web"
    if host in {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}:
        return "invite" if code.startswith("invite/") and len(code) > len("invite/") else "web"
    if host == "t.me":
        if (code.startswith("+") and len(code) > 1) or (
            code.startswith("joinchat/") and len(code) > len("joinchat/")
        ):
            return "invite"
        return "telegram"
    if host in {"telegram.me", "chat.whatsapp.com"}:
        return "invite" if code else "web"
    if host in _SHORTENERS:
        return "shortener"
    return "web"


def _make_link(raw: str, bare: bool) -> Link | None:
    decoded = _trim_url(raw)
    if "%" in decoded:
        decoded = _INVISIBLE_RE.sub("", unquote(decoded))
    if bare:
        scheme, rest = "https", decoded
    else:
        scheme, _, rest = decoded.partition("://")
        scheme = scheme.lower()
    split = _NETLOC_END_RE.search(rest)
    end = len(rest) if split is None else split.start()
    netloc, tail = rest[:end].lower(), rest[end:]
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host = hostport.partition("]")[0] + "]"
    else:
        host = hostport.partition(":")[0]
    host = host.strip(".")
    if not host:
        return None
    if host.startswith("www."):
        host = host[4:]
    path = tail.partition("?")[0].partition("#")[0]
    return Link(f"{scheme}://{netloc}{tail}", host, _classify(host, path, scheme))


def _may_contain_link(text: str) -> bool:
    """Cheap pre-check: a scheme, a defanged/spaced dot, or a dot followed by a letter."""
    if "://" in text or "[" in text or "(" in text or "{" in text or " . " in text:
        return True
    dot = text.find(".")
    while dot != -1:
        if text[dot + 1 : dot + 2].isalpha():
            return True
        dot = text.find(".", dot + 1)
    return False


def _link_view(text: str) -> str:
    """The text with defanged and spaced-out URLs put back together (only for link search)."""
    lowered = text.lower()
    if "[" in text or "(" in text or "{" in text or "hxx" in lowered or "h**" in lowered:
        text = _DEFANG_RE.sub(_defang, text)
    if (
        " . " in text
        or " / " in text
        or " : " in text
        or " // " in text
        or " :/" in text
        or "h t t p" in lowered
    ):
        text = _join_spaced(text)
    return text


def _links_in_clean(text: str) -> tuple[Link, ...]:
    if not _may_contain_link(text):
        return ()
    links: list[Link] = []
    # URLs never contain whitespace, so matching word by word finds the same links as
    # matching the whole text, but only the few words with a dot are looked at.
    for word in _link_view(text).split():
        if "." not in word and "://" not in word:
            continue
        match = _URL_RE.search(word)
        while match is not None:
            bare = match.group("bare")
            if bare is None:
                link = _make_link(match.group("scheme"), bare=False)
            else:
                tld = match.group("tld")
                if tld.lower() not in _TLDS or (
                    match.group("path") is None
                    and not bare.lower().startswith("www.")
                    and tld[0].isupper()
                    and tld[1:].islower()
                ):  # not a known TLD, or "gut.Me": a missing space after a full stop
                    link = None
                else:
                    link = _make_link(bare, bare=True)
            if link is not None:
                links.append(link)
            match = _URL_RE.search(word, match.end())
    return tuple(links)


def extract_links(text: str) -> tuple[Link, ...]:
    """Links in order, including defanged (hxxp, [.]), spaced-out and bare-domain ones."""
    return _links_in_clean(normalize(text))


# --------------------------------------------------------------------------- mentions, emoji


def _mentions_in_clean(text: str) -> tuple[str, ...]:
    if "@" not in text:
        return ()
    return tuple(dict.fromkeys(_MENTION_RE.findall(text)))


def extract_mentions(text: str) -> tuple[str, ...]:
    """``@name`` mentions and Discord ``<@id>``/``<@!id>``/``<@&id>`` pings, in order, unique."""
    return _mentions_in_clean(normalize(text))


def _emoji_in_clean(text: str) -> tuple[str, ...]:
    if text.isascii():
        return ()
    if "\u20e3" in text:  # keycaps start with an ASCII character the hint does not cover
        found = _EMOJI_RE.findall(text)
    else:
        hint = _EMOJI_HINT_RE.search(text)
        if hint is None:
            return ()
        found = []
        while hint is not None:
            match = _EMOJI_RE.match(text, hint.start())
            pos = hint.start() + 1 if match is None else match.end()
            if match is not None:
                found.append(match.group())
            hint = _EMOJI_HINT_RE.search(text, pos)
    known = _emoji_set()
    if all(candidate in known for candidate in found):
        return tuple(found)
    result: list[str] = []
    for candidate in found:
        if candidate in known:
            result.append(candidate)
        elif len(candidate) <= _LIBRARY_SPLIT_LIMIT:  # non-RGI chain, doubled selector, ...
            result.extend(str(item["emoji"]) for item in emoji.emoji_list(candidate))
        else:  # a long (hostile) chain: the library would take milliseconds
            result.extend(_split_unknown_sequence(candidate, known))
    return tuple(result)


def _split_unknown_sequence(candidate: str, known: frozenset[str]) -> list[str]:
    """Split a ZWJ chain the emoji data does not know into the longest known sequences."""
    elements = candidate.split("\u200d")
    found: list[str] = []
    i = 0
    while i < len(elements):
        # RGI sequences have at most 4 elements, so this stays linear on long chains.
        for j in range(min(len(elements), i + _MAX_ZWJ_ELEMENTS), i, -1):
            sequence = "\u200d".join(elements[i:j])
            if sequence in known:
                found.append(sequence)
                i = j
                break
        else:  # e.g. an unqualified or odd element: let the library decide
            found.extend(str(item["emoji"]) for item in emoji.emoji_list(elements[i]))
            i += 1
    return found


def extract_emoji(text: str) -> tuple[str, ...]:
    """Emoji in order; ZWJ sequences, flags, keycaps and skin tones count as one."""
    return _emoji_in_clean(normalize(text))


# --------------------------------------------------------------------------- analyse


# Several features analyse the same message in one event; the result is immutable, so a
# small cache lets one computation serve them all.
@functools.lru_cache(maxsize=64)
def analyse(text: str) -> Analysed:
    """Normalise, fold, strip quotes/code, tokenise and extract links, mentions and emoji."""
    prepared = _prepare(text)
    clean = _collapse(prepared)
    despaced = despace(prepared)
    if despaced == prepared:
        folded = _fold_normalized(clean)
    else:
        folded = _fold_normalized(normalize(despaced))
    body = strip_quotes_and_code(folded)
    return Analysed(  # positional: keyword arguments cost a third more on this hot path
        text,
        clean,
        folded,
        body,
        tokenize(body),
        _links_in_clean(clean),
        _mentions_in_clean(clean),
        _emoji_in_clean(clean),
    )


# --------------------------------------------------------------------------- misc


def well_formed(text: str) -> str:
    """The text with lone surrogates and NUL characters as U+FFFD, so that it can be stored."""
    # A JSON escape such as "\ud800" or an undecodable byte read with surrogateescape
    # gives a str that UTF-8 cannot encode, and PostgreSQL text cannot hold "\u0000": the
    # database would refuse the whole event. One UTF-16 unit each, so Telegram's entity
    # offsets stay valid.
    if "\x00" not in text and (text.isascii() or _UNSTORABLE_RE.search(text) is None):
        return text
    return _UNSTORABLE_RE.sub("\ufffd", text)


def caps_ratio(text: str) -> float:
    """Share of upper-case letters among letters; 0.0 when there are fewer than 8 letters."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 8:
        return 0.0
    return sum(map(str.isupper, letters)) / len(letters)


def defuse_mentions(text: str) -> str:
    """Put U+200B after every "@" so a name or text the bot repeats pings nobody."""
    # A zero-width space (not a ZWJ, which emoji sequences use) breaks @everyone, @here,
    # @username and Discord <@123>/<@&123> on both platforms; the text reads the same.
    return text.replace("@", "@\u200b")


def escape_markdown_and_mentions(text: str) -> str:
    """Backslash-escape Markdown specials and put U+200B after every "@" so nothing pings."""
    # Escaped: \ * _ ` ~ | > [ ] ( ).  A zero-width space after each "@" (not a ZWJ, which
    # emoji sequences use) breaks @everyone, @here, @username and Discord <@123>/<@&123>
    # pings on both Discord and Telegram while the text still reads the same.
    return _MARKDOWN_RE.sub(r"\\\1", text).replace("@", "@\u200b")
