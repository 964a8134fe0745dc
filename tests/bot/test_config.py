"""Config loading: every problem with its key path and line; layering of feature settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from annotated_types import Le
from pydantic import BaseModel, Field

from bot.config import (
    BotSection,
    ConfigError,
    SettingsResolver,
    key_lines,
    load_config,
    parse_config,
)
from bot.features.base import FeatureSettings


class KarmaLike(FeatureSettings):
    """A stand-in feature settings model."""

    daily_cap_giver: int = Field(20, ge=0)
    pair_cooldown_minutes: int = Field(30, ge=0)


MODELS = {"karma": KarmaLike}

GOOD = """
[bot]
database_url = "sqlite+aiosqlite:///x.db"
language = "en"

[karma]
daily_cap_giver = 10

[[communities]]
name = "radler"
language = "de"
telegram_chats = [-1001234567890]
discord_guilds = [123456789012345678]
moderator_chat = "telegram:-1009876543210"

[communities.karma]
pair_cooldown_minutes = 15

[communities.chats."telegram:-1001234567890".karma]
daily_cap_giver = 3

[[communities]]
name = "stricker"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, MODELS)
    return [str(p) for p in info.value.problems]


def test_good_config_layers_settings() -> None:
    config = parse_config(GOOD, MODELS)
    resolver = SettingsResolver(config)
    assert [c.name for c in config.communities] == ["radler", "stricker"]
    radler = config.community("radler")
    assert radler is not None and radler.language == "de"
    assert config.community_for_chat("telegram:-1001234567890") is radler
    assert config.community_for_chat("discord-guild:123456789012345678") is radler
    chat = resolver.get(KarmaLike, "karma", "radler", "telegram:-1001234567890")
    assert (chat.daily_cap_giver, chat.pair_cooldown_minutes) == (3, 15)
    other_chat = resolver.get(KarmaLike, "karma", "radler", "telegram:-1")
    assert (other_chat.daily_cap_giver, other_chat.pair_cooldown_minutes) == (10, 15)
    stricker = resolver.get(KarmaLike, "karma", "stricker", None)
    assert (stricker.daily_cap_giver, stricker.pair_cooldown_minutes) == (10, 30)


def test_runtime_override_is_validated_before_it_applies() -> None:
    resolver = SettingsResolver(parse_config(GOOD, MODELS))
    resolver.set_override("karma", "stricker", None, {"daily_cap_giver": 5})
    assert resolver.get(KarmaLike, "karma", "stricker", None).daily_cap_giver == 5
    with pytest.raises(ValueError):
        resolver.set_override("karma", "stricker", None, {"daily_cap_giver": -1})
    assert resolver.get(KarmaLike, "karma", "stricker", None).daily_cap_giver == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[karma]\ndaily_cap_giver = -1\n", ["karma.daily_cap_giver: must be >= 0 (line 2)"]),
        ("[bot]\nshutdown_seconds = 0\n", ["bot.shutdown_seconds: must be > 0 (line 2)"]),
        ("[bot]\nshutdown_seconds = 301\n", ["bot.shutdown_seconds: must be <= 300 (line 2)"]),
        (
            "[karma]\ndaily_cap_giver = 'x'\n",
            ["karma.daily_cap_giver: must be an integer (line 2)"],
        ),
        ("[karma]\nnope = 1\n", ["karma.nope: unknown key (line 2)"]),
        ("[bot]\nlanguage = 'fr'\n", ["bot.language: must be 'de' or 'en' (line 2)"]),
        (
            "[bot]\ntimezone = 'Mars/Olympus'\n",
            ["bot.timezone: unknown time zone 'Mars/Olympus' (line 2)"],
        ),
        (
            "[bot]\ndatabase_url = 'mysql://x'\n",
            [
                "bot.database_url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
                " (line 2)"
            ],
        ),
        ("[weird]\n", ["weird: unknown section (line 1)"]),
        (
            "[[communities]]\nname = 'a b'\n",
            ["communities[0].name: must match ^[A-Za-z0-9_.-]{1,64}$ (line 2)"],
        ),
        ("[[communities]]\ntelegram_chats = [1]\n", ["communities[0].name: is required (line 1)"]),
        (
            "[[communities]]\nname = 'a'\nmoderator_chat = 'irc:#x'\n",
            [
                "communities[0].moderator_chat: must look like telegram:-100123 or discord:123"
                " (line 3)"
            ],
        ),
        (
            "[[communities]]\nname = 'a'\n[communities.karma]\ndaily_cap_giver = -5\n",
            ["communities[0].karma.daily_cap_giver: must be >= 0 (line 4)"],
        ),
        (
            "[[communities]]\nname = 'a'\n[[communities]]\nname = 'b'\n"
            '[communities.chats."telegram:1".karma]\ndaily_cap_giver = -5\n',
            ['communities[1].chats."telegram:1".karma.daily_cap_giver: must be >= 0 (line 6)'],
        ),
        (
            "[[communities]]\nname = 'a'\n[[communities]]\nname = 'a'\n",
            ["communities[1].name: duplicate community 'a' (line 4)"],
        ),
        (
            "[[communities]]\nname = 'a'\ntelegram_chats = [5]\n[[communities]]\nname = 'b'\n"
            "telegram_chats = [5]\n",
            ["communities[1]: telegram:5 already belongs to community 'a' (line 4)"],
        ),
        (
            "[[communities]]\nname = 'a'\n[communities.chats]\n'telegram:1' = 5\n",
            ['communities[0].chats."telegram:1": must be a table (line 4)'],
        ),
        (
            "[[communities]]\nname = 'a'\n[communities.chats.'telegram:1']\nkarma = 'x'\n",
            ['communities[0].chats."telegram:1".karma: must be a table (line 4)'],
        ),
        (
            "[[communities]]\nname = 'a'\nchats = 5\n",
            ["communities[0].chats: must be a table (line 3)"],
        ),
        (
            "[bot]\ntimezone = 'Europe'\n",
            ["bot.timezone: unknown time zone 'Europe' (line 2)"],
        ),
        (
            f"[[communities]]\nname = 'a'\ntimezone = '{'x' * 300}'\n",
            [f"communities[0].timezone: unknown time zone '{'x' * 300}' (line 3)"],
        ),
    ],
)
def test_each_problem_names_key_path_and_line(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_is_listed_not_just_the_first() -> None:
    text = "[bot]\nlanguage = 'fr'\n[karma]\ndaily_cap_giver = -1\npair_cooldown_minutes = -2\n"
    assert problems(text) == [
        "bot.language: must be 'de' or 'en' (line 2)",
        "karma.daily_cap_giver: must be >= 0 (line 4)",
        "karma.pair_cooldown_minutes: must be >= 0 (line 5)",
    ]


def test_broken_toml_names_the_line() -> None:
    (problem,) = problems("[bot]\nlanguage = \n")
    assert problem.startswith("<toml>: ") and problem.endswith("(line 2)")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", MODELS)


def test_token_in_file_gives_a_warning() -> None:
    text = "[telegram]\ntoken_env = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawx'\n"
    config = parse_config(text, MODELS)
    assert config.warnings and "line 2" in config.warnings[0]


def test_token_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config("[telegram]\nenabled = true\ntoken_env = 'MY_TG'\n", MODELS)
    monkeypatch.delenv("MY_TG", raising=False)
    with pytest.raises(ConfigError, match="MY_TG is not set"):
        config.token("telegram")
    monkeypatch.setenv("MY_TG", "123:abc")
    assert config.token("telegram") == "123:abc"


def test_no_communities_gives_a_default_one() -> None:
    config = parse_config("", MODELS)
    assert [c.name for c in config.communities] == ["default"]


def test_example_config_is_valid() -> None:
    from bot.app import feature_models

    example = Path(__file__).parents[2] / "config.example.toml"
    config = load_config(example, feature_models())
    assert config.communities and config.warnings == ()


def test_key_lines_follow_arrays_of_tables() -> None:
    lines = key_lines(GOOD)
    assert lines[("communities", 1, "name")] == 23
    assert lines[("communities", 0, "karma", "pair_cooldown_minutes")] == 17


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[karma]\nenabled = 'yes'\n", "karma.enabled: must be true or false (line 2)"),
        (
            "[karma]\npair_cooldown_minutes = '30'\n",
            "karma.pair_cooldown_minutes: must be an integer (line 2)",
        ),
        ("[bot]\nretention_days = 1.5\n", "bot.retention_days: must be an integer (line 2)"),
    ],
)
def test_values_are_not_coerced_from_strings(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_lists_are_accepted_where_settings_are_tuples() -> None:
    from bot.app import feature_models

    text = "[karma]\nreaction_emoji = ['👍']\nlevels = [{name = 'a', threshold = 0}]\n"
    config = parse_config(text, feature_models())
    assert config.feature_defaults["karma"]["reaction_emoji"] == ["👍"]


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "a = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
    ],
)
def test_deep_nesting_is_a_config_error(text: str) -> None:
    assert problems(text) == ["<toml>: arrays or inline tables are nested too deeply"]


def test_line_numbers_count_only_toml_newlines() -> None:
    # TOML allows these in comments and strings; none of them ends a line.
    text = (
        "# a\u2028b\u2029c\x85d\n[bot]\nlog_level = 'x\u2028y'\n"
        'timezone = """\u2028"""\nlanguage = 5\n'
    )
    assert key_lines(text)[("bot", "language")] == 5
    assert problems(text) == [
        "bot.language: must be 'de' or 'en' (line 5)",
        "bot.timezone: unknown time zone '\\u2028' (line 4)",
        "bot.log_level: must be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (line 3)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[bot]\nretention_days = 10000000000\n", "bot.retention_days: must be <= 3650 (line 2)"),
        (
            "[karma]\npair_cooldown_minutes = 10000000000000\n",
            "karma.pair_cooldown_minutes: must be <= 43200 (line 2)",
        ),
        (
            "[[communities]]\nname = 'a'\n[communities.chats.'telegram:1'.promo]\n"
            "burst_seconds = 100000\n",
            'communities[0].chats."telegram:1".promo.burst_seconds: must be <= 3600 (line 4)',
        ),
        (
            "[[communities]]\nname = 'a'\n[communities.complaints]\nrepeat_window_hours = inf\n",
            "communities[0].complaints.repeat_window_hours: must be <= 2160 (line 4)",
        ),
    ],
)
def test_durations_have_an_upper_bound(text: str, expected: str) -> None:
    from bot.app import feature_models

    with pytest.raises(ConfigError) as info:
        parse_config(text, feature_models())
    assert [str(p) for p in info.value.problems] == [expected]


UNITS = {"_seconds": "seconds", "_minutes": "minutes", "_hours": "hours", "_days": "days"}


def test_every_duration_setting_fits_a_timedelta() -> None:
    from bot.app import feature_models

    models: list[type[BaseModel]] = [BotSection, *feature_models().values()]
    checked = []
    for model in models:
        for name, info in model.model_fields.items():
            unit = next((u for end, u in UNITS.items() if name.endswith(end)), None)
            if unit is None or info.annotation not in (int, float):
                continue
            bounds = [m.le for m in info.metadata if isinstance(m, Le)]
            assert bounds, f"{model.__name__}.{name} has no upper bound"
            # The largest allowed value, back and forth from today, is still a datetime.
            span = timedelta(**{unit: float(bounds[0])})
            now = datetime.now(UTC)
            assert now - span <= now <= now + span
            assert info.default <= bounds[0]
            checked.append(name)
    assert {"retention_days", "pair_cooldown_minutes", "burst_seconds"} <= set(checked)
