"""The config loader on random and hostile files: a Config or a ConfigError, nothing else.

``parse_config`` documents one failure, ``ConfigError`` with every problem's key path and
line. The inputs: random text, the example config cut, spliced and garbled, and TOML
documents with the right section and key names but values of every type and shape. The
tests at the end pin inputs that once raised something else.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import feature_models
from bot.config import BotSection, CommunitySection, Config, ConfigError, parse_config

MODELS = feature_models(None)
EXAMPLE = (Path(__file__).parents[2] / "config.example.toml").read_text(encoding="utf-8")
SETTINGS = settings(max_examples=150, deadline=None)


def load(text: str) -> Config | ConfigError:
    """The config, or the ConfigError it raised; any other exception fails the test."""
    try:
        return parse_config(text, MODELS, source="<hostile>")
    except ConfigError as exc:
        # TOML breaks lines at "\n" only, not at U+2028 and the like.
        lines = text.count("\n") + 1
        assert exc.problems, "a ConfigError names at least one problem"
        for problem in exc.problems:
            assert problem.path and problem.message
            assert problem.line is None or 1 <= problem.line <= lines, problem
        assert str(exc).startswith("<hostile>: ")
        return exc


# --- TOML documents from Python values ----------------------------------------------------


def toml_value(value: Any) -> str:
    """A TOML value (inline tables and arrays); strings escaped like JSON, which TOML reads."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a lone surrogate becomes "\ud800", which TOML refuses
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level tables as [headers] and arrays of tables as [[headers]], the rest inline."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(key)} = {toml_value(value)}")
    for key, value in tables:
        for table in value if isinstance(value, list) else [value]:
            lines.append("")
            lines.append(f"[[{json.dumps(key)}]]" if isinstance(value, list) else f"[{key}]")
            lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


# --- documents with the right names and wrong values -----------------------------------------

_scalar = st.one_of(
    st.just(""),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(st.characters(exclude_categories=()), max_size=20),
    st.sampled_from(
        [
            "de",
            "en",
            "Europe/Berlin",
            "UTC",
            "sqlite+aiosqlite:///x.db",
            "postgresql+asyncpg://u@h/db",
            "telegram:-1001",
            "discord:1",
            "console:general",
            "telegram: spaces",
            "ha",
            "../../etc/passwd",
            "\x00",
            "'; DROP TABLE member; --",
            "${HOME}",
            "€",
        ]
    ),
)
_values = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def section(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A table with some of a model's keys (and now and then an unknown one), any values."""
    keys = st.one_of(st.sampled_from(fields), st.text(max_size=8)) if fields else st.text()
    return st.dictionaries(keys, _values, max_size=6)


_FEATURES = sorted(MODELS)
_chat_keys = st.one_of(
    st.sampled_from(["telegram:-1001", "discord:7", "console:x"]), st.text(max_size=12)
)
_chats = st.dictionaries(
    _chat_keys,
    st.dictionaries(
        st.one_of(st.sampled_from(_FEATURES), st.text(max_size=6)),
        st.one_of(section(list(MODELS["karma"].model_fields)), _values),
        max_size=2,
    ),
    max_size=2,
)
_community = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["radler", "radler", "a b", ""]), _scalar),
        "chats": st.one_of(_chats, _values),
        **{key: _values for key in CommunitySection.model_fields if key != "name"},
        **{
            name: st.one_of(section(list(MODELS[name].model_fields)), _values) for name in _FEATURES
        },
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "bot": st.one_of(section(list(BotSection.model_fields)), _values),
        "telegram": section(["enabled", "token_env", "api_base_url", "mode", "webhook_port"]),
        "discord": section(["enabled", "shard_ids", "shard_count", "moderator_roles"]),
        "communities": st.one_of(st.lists(_community, max_size=3), _values),
        **{
            name: st.one_of(section(list(MODELS[name].model_fields)), _values) for name in _FEATURES
        },
        "unknown": _values,
    },
)


# Generating these documents costs more than checking them: fewer, richer examples.
@settings(max_examples=60, deadline=None)
@given(documents)
def test_documents_with_wrong_values(doc: dict[str, Any]) -> None:
    load(toml_document(doc))


@SETTINGS
@given(st.text(st.characters(exclude_categories=()), max_size=400))
def test_random_text(text: str) -> None:
    load(text)


@st.composite
def garbled_example(draw: st.DrawFn) -> str:
    text = EXAMPLE
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        roll = draw(st.integers(0, 3))
        if roll == 0:
            text = text[:at]
        elif roll == 1:
            text = (
                text[:at]
                + draw(st.sampled_from(['"', "[", "]", "=", "\n", "[[", "#", "\ud800"]))
                + text[at:]
            )
        elif roll == 2:
            lines = text.splitlines()
            if lines:
                del lines[draw(st.integers(0, len(lines) - 1))]
            text = "\n".join(lines)
        else:
            text = text[:at] + draw(st.text(max_size=10)) + text[at:]
    return text


@SETTINGS
@given(garbled_example())
def test_example_config_cut_and_garbled(text: str) -> None:
    load(text)


def test_the_generated_documents_reach_a_config() -> None:
    # The generator is not only noise: its plausible end is a valid config.
    doc = {
        "bot": {"language": "en", "timezone": "UTC"},
        "karma": {"pair_cooldown_minutes": 15},
        "communities": [
            {
                "name": "radler",
                "telegram_chats": [-1001],
                "chats": {"telegram:-1001": {"karma": {"daily_cap_giver": 5.0}}},
            }
        ],
    }
    config = load(toml_document(doc))
    assert isinstance(config, Config)
    assert [c.name for c in config.communities] == ["radler"]


# --- inputs that once crashed the loader: each a ConfigError now ----------------------------


@pytest.mark.parametrize(
    "text",
    [
        '[[communities]]\nname = "a"\n[communities.chats]\n"telegram:1" = 5\n',
        '[[communities]]\nname = "a"\n[communities.chats."telegram:1"]\nkarma = 5\n',
        '[[communities]]\nname = "a"\n[communities.chats."telegram:1"]\nkarma = [1]\n',
    ],
)
def test_chat_overrides_that_are_no_table(text: str) -> None:
    assert isinstance(load(text), ConfigError)


@pytest.mark.parametrize("zone", ["Europe", "x" * 300])
def test_time_zones_that_are_no_zone_file(zone: str) -> None:
    assert isinstance(load(f'[bot]\ntimezone = "{zone}"\n'), ConfigError)


def test_line_numbers_count_only_newlines() -> None:
    error = load("a = 1 # x\u2028y\n[bot]\nlanguage = 5\n")
    assert isinstance(error, ConfigError)
    assert sorted((p.path, p.line) for p in error.problems) == [("a", 1), ("bot.language", 3)]


def test_deeply_nested_toml() -> None:
    assert isinstance(load("a = " + "[" * 5000 + "]" * 5000 + "\n"), ConfigError)


@pytest.mark.parametrize(
    "text",
    ["[bot]\nretention_days = 10000000000\n", "[karma]\npair_cooldown_minutes = 10000000000000\n"],
)
def test_durations_beyond_the_calendar(text: str) -> None:
    assert isinstance(load(text), ConfigError)
