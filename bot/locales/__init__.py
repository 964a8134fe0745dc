"""Texts and lexicons per language, loaded from the TOML files beside this module."""

from __future__ import annotations

import functools
import random
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

LANGUAGES = ("de", "en")


class Locale:
    """Texts (``t``), text variants (``variants``) and word lists (``lexicon``) of a language."""

    def __init__(self, language: str, data: Mapping[str, Any], fallback: Locale | None) -> None:
        self.language = language
        self._texts: Mapping[str, Any] = data.get("texts", {})
        self._lexicon: Mapping[str, Any] = data.get("lexicon", {})
        self._fallback = fallback

    def _raw(self, key: str) -> Any:
        node: Any = self._texts
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None if self._fallback is None else self._fallback._raw(key)
            node = node[part]
        return node

    def t(self, key: str, **values: object) -> str:
        """The text for ``key`` with ``{placeholders}`` filled; the key itself if missing."""
        raw = self._raw(key)
        if isinstance(raw, list):
            raw = raw[0]
        if not isinstance(raw, str):
            return key
        return raw.format(**values) if values else raw

    def counted(self, key: str, count: float) -> str:
        """The key of a text about ``count`` things: ``key_one`` for one, when the
        language has it ("1 Fall", not "1 Fälle"), else ``key``."""
        one = f"{key}_one"
        return one if count == 1 and self._raw(one) is not None else key

    def variants(self, key: str) -> tuple[str, ...]:
        """All variants of a text (a list in the locale file), unformatted."""
        raw = self._raw(key)
        if isinstance(raw, str):
            return (raw,)
        if isinstance(raw, list):
            return tuple(str(v) for v in raw)
        return ()

    def pick(self, key: str, rng: random.Random, **values: object) -> str:
        """One variant of a text, chosen with ``rng``, formatted."""
        options = self.variants(key) or (key,)
        return rng.choice(options).format(**values)

    def lexicon(self, name: str) -> tuple[str, ...]:
        """A word or phrase list; the fallback language's list is not mixed in."""
        value = self._lexicon.get(name, [])
        return tuple(str(v) for v in value)


def _merge(into: dict[str, Any], new: Mapping[str, Any], where: str) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, where)
        elif key in into:
            raise ValueError(f"{where}: {key!r} is defined twice for this language")
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


@functools.cache
def _data(language: str) -> Mapping[str, Any]:
    """Merge every ``locales/<language>/*.toml`` (one file per feature) into one tree."""
    merged: dict[str, Any] = {}
    folder = resources.files(__package__).joinpath(language)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            _merge(merged, tomllib.loads(entry.read_text("utf-8")), f"{language}/{entry.name}")
    return merged


@functools.cache
def get_locale(language: str) -> Locale:
    """The locale of a language, falling back to English for missing texts."""
    return _locale(language if language in LANGUAGES else "en")


@functools.cache
def _locale(language: str) -> Locale:
    # One per language: asked for by every feature for every event; a Locale is read-only.
    fallback = None if language == "en" else _locale("en")
    return Locale(language, _data(language), fallback)
