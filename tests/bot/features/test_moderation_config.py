"""``/config show``, ``/config set`` and loading stored overrides at start."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field
from sqlalchemy import select

from adapters.console import ConsoleChat
from bot.config import SettingsResolver
from bot.events import Event
from bot.features.base import CommandSpec, Context, FeatureSettings, Outcome
from bot.features.moderation import (
    ModerationFeature,
    ModerationSettings,
    PrivacyFeature,
    load_overrides,
    parse_value,
)
from bot.locales import get_locale
from storage import models
from storage.repositories import Store
from tests.bot.features.test_moderation import all_rows, log_actions, replies, said, t, usage_text
from tests.conftest import START, MakeChat


class GardenSettings(FeatureSettings):
    """Settings of every kind, to set from a chat."""

    greeting: str = Field("moin", description="a text")
    ratio: float = Field(0.5, ge=0.0, le=1.0, description="a number")
    hosts: list[str] = Field(default_factory=list, description="a list")
    mode: Literal["calm", "busy"] = Field("calm", description="a choice")
    limit: int | None = Field(None, description="unset or a number")


class Garden:
    """A feature that only has settings."""

    name: ClassVar[str] = "garden"
    settings_model: ClassVar[type[FeatureSettings]] = GardenSettings
    handles: ClassVar[tuple[type[Event], ...]] = ()
    commands: ClassVar[tuple[CommandSpec, ...]] = ()

    async def handle(self, event: Any, ctx: Context[GardenSettings]) -> Outcome:
        return Outcome()


async def config_chat(make_chat: MakeChat, language: str, extra: str = "") -> ConsoleChat:
    chat = await make_chat(
        extra, features=[ModerationFeature(), PrivacyFeature(), Garden()], language=language
    )
    await chat.say("alice", "hallo")
    return chat


def resolver(chat: ConsoleChat) -> SettingsResolver:
    return chat.engine.resolver


def garden(chat: ConsoleChat, room: str | None = "console:general") -> GardenSettings:
    return resolver(chat).get(GardenSettings, "garden", "demo", room)


def moderation(chat: ConsoleChat, room: str | None = "console:general") -> ModerationSettings:
    return resolver(chat).get(ModerationSettings, "moderation", "demo", room)


async def overrides(chat: ConsoleChat) -> list[tuple[str, str, str, Any, str | None]]:
    return [
        (o.chat, o.feature, o.name, o.value, o.set_by)
        for o in await all_rows(chat, models.SettingOverride)
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("15", 15),
        ("-2", -2),
        ("0.25", 0.25),
        ("0,25", 0.25),
        ("true", True),
        ("false", False),
        ("null", None),
        ('"30"', "30"),
        ("[a.com, b.com]", ["a.com", "b.com"]),
        ('["a.com", "b.com"]', ["a.com", "b.com"]),
        ("[1, 2]", [1, 2]),
        ("[]", []),
        ("Schönen Tag!", "Schönen Tag!"),
        ("2026-01-01", "2026-01-01"),  # a TOML date is no setting value
        ("nan", "nan"),
        ("{a = 1}", "{a = 1}"),
    ],
)
def test_values_are_parsed_as_toml_or_json_scalars(text: str, value: Any) -> None:
    assert parse_value(text) == value


@pytest.mark.parametrize("language", ["de", "en"])
async def test_a_setting_only_scheduled_work_reads_is_set_for_the_community(
    make_chat: MakeChat, language: str
) -> None:
    # The daily purge reads the community's value; in a chat it would say ✅ and do nothing.
    chat = await config_chat(make_chat, language)
    actions = await said(chat, "mod", "/config set privacy.purge_texts false")
    text = get_locale(language).t(
        "moderation.config_community_only", setting="privacy.purge_texts", flag="--community"
    )
    assert replies(actions) == [text]
    assert await overrides(chat) == []
    actions = await said(chat, "mod", "/config set --community privacy.purge_texts false")
    assert await overrides(chat) == [("", "privacy", "purge_texts", False, "console:mod")]


@pytest.mark.parametrize(
    ("language", "scope"), [("de", "console:general"), ("en", "console:general")]
)
async def test_set_changes_this_chat_persists_and_logs(
    make_chat: MakeChat, language: str, scope: str
) -> None:
    chat = await config_chat(make_chat, language)
    actions = await said(chat, "mod", "/config set moderation.restrict_hours 12")
    assert replies(actions) == [f"✅ moderation.restrict_hours = 12 ({scope})"]
    assert moderation(chat).restrict_hours == 12
    assert moderation(chat, "console:help").restrict_hours == 24
    assert await overrides(chat) == [
        ("console:general", "moderation", "restrict_hours", 12, "console:mod")
    ]
    assert await log_actions(chat) == [("config_set", "console:mod", None)]
    [decision] = [d for d in chat.decisions if d.kind == "mod_action"]
    assert decision.data == {
        "action": "config_set",
        "actor": "console:mod",
        "target": None,
        "case": None,
        "key": "moderation.restrict_hours",
        "value": 12,
        "chat": "console:general",
    }
    # Setting it again replaces the stored row.
    await chat.say("mod", "/config set moderation.restrict_hours 6")
    assert [o[3] for o in await overrides(chat)] == [6]


@pytest.mark.parametrize(
    ("command", "setting", "value"),
    [
        ("/config set garden.greeting Guten Morgen", "greeting", "Guten Morgen"),
        ("/config set garden.greeting 30", "greeting", "30"),  # a number as text
        ("/config set garden.ratio 0,75", "ratio", 0.75),
        ("/config set garden.hosts [a.com, b.com]", "hosts", ["a.com", "b.com"]),
        ("/config set garden.mode busy", "mode", "busy"),
        ("/config set garden.limit 5", "limit", 5),
    ],
)
async def test_set_understands_every_kind_of_value(
    make_chat: MakeChat, command: str, setting: str, value: Any
) -> None:
    chat = await config_chat(make_chat, "en")
    await chat.say("mod", command)
    assert getattr(garden(chat), setting) == value
    assert [(o[2], o[3]) for o in await overrides(chat)] == [(setting, value)]


@pytest.mark.parametrize(
    ("language", "command", "error"),
    [
        ("de", "moderation.restrict_hours 0", "moderation.restrict_hours: muss mindestens 1 sein"),
        ("en", "moderation.restrict_hours 0", "moderation.restrict_hours: must be at least 1"),
        (
            "de",
            "moderation.restrict_hours 1000",
            "moderation.restrict_hours: darf höchstens 672 sein",
        ),
        (
            "de",
            "moderation.restrict_hours viel",
            "moderation.restrict_hours: muss eine ganze Zahl sein",
        ),
        (
            "en",
            "moderation.restrict_hours 1.5",
            "moderation.restrict_hours: must be a whole number",
        ),
        ("en", "moderation.post_mod_log maybe", "moderation.post_mod_log: must be true or false"),
        ("de", "garden.ratio 2", "garden.ratio: darf höchstens 1.0 sein"),
        ("en", "garden.mode loud", "garden.mode: must be one of 'calm' or 'busy'"),
        ("de", "garden.hosts a.com", "garden.hosts: muss eine Liste sein, z. B. [a, b]"),
    ],
)
async def test_invalid_values_are_refused_with_error_and_usage(
    make_chat: MakeChat, language: str, command: str, error: str
) -> None:
    chat = await config_chat(make_chat, language)
    actions = await said(chat, "mod", f"/config set {command}")
    assert replies(actions) == [f"{error}\n{usage_text(language, 'config')}"]
    assert await overrides(chat) == []
    assert await log_actions(chat) == []
    assert moderation(chat) == ModerationSettings()
    assert garden(chat) == GardenSettings()


@pytest.mark.parametrize(
    ("language", "command", "key", "values"),
    [
        ("de", "karma.x 1", "moderation.config_unknown_feature", {"name": "karma"}),
        ("en", "garden.colour red", "moderation.config_unknown_key", {"name": "colour"}),
        ("de", "moderation.enabled false", "moderation.config_protected", {}),
        ("en", "privacy.enabled false", "moderation.config_protected", {}),
    ],
)
async def test_unknown_and_protected_settings_are_refused(
    make_chat: MakeChat, language: str, command: str, key: str, values: dict[str, str]
) -> None:
    chat = await config_chat(make_chat, language)
    text = replies(await said(chat, "mod", f"/config set {command}"))[0]
    fills = {
        "features": "garden, moderation, privacy",
        "feature": "garden",
        "keys": ", ".join(sorted(GardenSettings.model_fields)),
        "setting": command.split()[0],
        **values,
    }
    assert text == t(language, key, **fills)
    assert await overrides(chat) == []


async def test_community_wide_settings_are_for_owners(make_chat: MakeChat) -> None:
    chat = await config_chat(make_chat, "de")
    # "boss" is a moderator by the platform's word only, not listed in the config.
    chat.moderators = frozenset({"mod", "boss"})
    refused = await said(chat, "boss", "/config set --community garden.greeting Hallo")
    assert replies(refused) == [t("de", "moderation.config_owners_only")]
    assert [d.data for d in chat.decisions if d.kind == "refused"] == [
        {"command": "config set --community", "user": "console:boss"}
    ]
    assert await overrides(chat) == []
    chat_only = await said(chat, "boss", "/config set garden.greeting Hallo")
    assert replies(chat_only) == ['✅ garden.greeting = "Hallo" (console:general)']
    done = await said(chat, "mod", "/config set --community garden.greeting Servus")
    assert replies(done) == ['✅ garden.greeting = "Servus" (ganze Community)']
    assert garden(chat, "console:help").greeting == "Servus"
    assert garden(chat, None).greeting == "Servus"
    assert garden(chat).greeting == "Hallo"  # the chat's own value wins
    assert await overrides(chat) == [
        ("console:general", "garden", "greeting", "Hallo", "console:boss"),
        ("", "garden", "greeting", "Servus", "console:mod"),
    ]
    assert await log_actions(chat) == [
        ("refused", "console:boss", None),
        ("config_set", "console:boss", None),
        ("config_set", "console:mod", None),
    ]


@pytest.mark.parametrize(
    ("language", "title", "marked"),
    [
        ("de", "Einstellungen für console:general:", "✎ = mit /config set geändert"),
        ("en", "Settings for console:general:", "✎ = changed with /config set"),
    ],
)
async def test_show_lists_merged_settings_and_marks_changes(
    make_chat: MakeChat, language: str, title: str, marked: str
) -> None:
    extra = '[communities.garden]\nmode = "busy"\n'
    chat = await config_chat(make_chat, language, extra)
    assert replies(await said(chat, "mod", "/config show garden")) == [
        "\n".join(
            [
                title,
                "[garden]",
                "enabled = true",
                'greeting = "moin"',
                "ratio = 0.5",
                "hosts = []",
                'mode = "busy"',
                "limit = null",
            ]
        )
    ]
    await chat.say("mod", "/config set garden.ratio 0.9")
    lines = replies(await said(chat, "mod", "/config show garden"))[0].split("\n")
    assert lines[4] == "ratio = 0.9 ✎"
    assert lines[-1] == marked
    everything = replies(await said(chat, "mod", "/config show"))[0].split("\n")
    assert [line for line in everything if line.startswith("[")] == [
        "[garden]",
        "[moderation]",
        "[privacy]",
    ]
    assert "warnings_to_restrict = 3" in everything
    unknown = replies(await said(chat, "mod", "/config show weather"))
    assert unknown == [
        t(
            language,
            "moderation.config_unknown_feature",
            name="weather",
            features="garden, moderation, privacy",
        )
    ]


async def test_stored_overrides_are_loaded_at_start(make_chat: MakeChat) -> None:
    chat = await config_chat(make_chat, "en")
    await chat.say("mod", "/config set moderation.restrict_hours 12")
    await chat.say("mod", "/config set garden.hosts [a.com, b.com]", chat="help")
    await chat.say("mod", "/config set --community garden.greeting hi")
    async with chat.engine.db.session() as session:
        # Rows that no longer fit (a removed feature, a changed limit) are skipped.
        for feature, name, value in (("weather", "sun", 1), ("moderation", "max_appeals", 99)):
            session.add(
                models.SettingOverride(
                    community="demo", chat="", feature=feature, name=name, value=value, at=START
                )
            )
    fresh = SettingsResolver(chat.engine.config)
    async with chat.engine.db.session() as session:
        assert await load_overrides(Store(session), fresh) == 3
    got = fresh.get(ModerationSettings, "moderation", "demo", "console:general")
    assert (got.restrict_hours, got.max_appeals) == (12, 1)
    assert fresh.get(ModerationSettings, "moderation", "demo", "console:help").restrict_hours == 24
    assert fresh.get(GardenSettings, "garden", "demo", "console:help").hosts == ["a.com", "b.com"]
    assert fresh.get(GardenSettings, "garden", "demo", "console:offtopic").greeting == "hi"
    assert fresh.get(GardenSettings, "garden", "demo", "console:offtopic").hosts == []


async def test_load_overrides_on_an_empty_table(make_chat: MakeChat) -> None:
    chat = await config_chat(make_chat, "en")
    fresh = SettingsResolver(chat.engine.config)
    async with chat.engine.db.session() as session:
        assert await load_overrides(Store(session), fresh) == 0
        assert (await session.execute(select(models.SettingOverride))).first() is None
    assert fresh.get(ModerationSettings, "moderation", "demo", None) == ModerationSettings()


async def test_a_changed_setting_takes_effect_at_once(make_chat: MakeChat) -> None:
    chat = await config_chat(make_chat, "en")
    await chat.say("mod", "/config set moderation.warnings_to_restrict 1")
    actions = await said(chat, "mod", "/warn @alice spam")
    assert replies(actions)[0] == "⚠️ alice has been warned (1/1): spam"
