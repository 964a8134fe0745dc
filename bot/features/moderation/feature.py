"""The moderation feature: warnings, notes, cases, appeals, buttons and run-time settings.

It does no work for ordinary messages: it handles commands and button presses only.
Decisions: ``mod_action`` {action, actor, target, case, …} for every moderator action and
every automatic one (a mute, a case opened), ``refused`` for a button pressed by a
non-moderator or a community-wide ``/config set`` by a chat moderator.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bot.events import ButtonPressed, CommandIssued, Event
from bot.features.base import CommandSpec, Context, FeatureSettings, Outcome
from bot.features.moderation import cases, configure, warnings
from bot.features.moderation.common import MODERATION
from bot.features.moderation.settings import ModerationSettings


class ModerationFeature:
    """Gives moderators one command layer: warnings, notes, cases, appeals, settings."""

    name: ClassVar[str] = MODERATION
    settings_model: ClassVar[type[FeatureSettings]] = ModerationSettings
    handles: ClassVar[tuple[type[Event], ...]] = (CommandIssued, ButtonPressed)
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("warn", "/warn @name reason", "moderation.help.warn", moderator_only=True),
        CommandSpec(
            "unwarn", "/unwarn @name [reason]", "moderation.help.unwarn", moderator_only=True
        ),
        CommandSpec("note", "/note @name [text]", "moderation.help.note", moderator_only=True),
        CommandSpec(
            "case",
            "/case N [close [note] | assign @name]",
            "moderation.help.case",
            moderator_only=True,
        ),
        CommandSpec("cases", "/cases [open|all]", "moderation.help.cases", moderator_only=True),
        CommandSpec("appeal", "/appeal N text", "moderation.help.appeal"),
        CommandSpec(
            "config",
            "/config show [feature] | set [--community] feature.key value",
            "moderation.help.config",
            moderator_only=True,
        ),
    )

    async def handle(self, event: Any, ctx: Context[ModerationSettings]) -> Outcome:
        """Route a command or a button press."""
        if isinstance(event, ButtonPressed):
            return await cases.button(event, ctx)
        if not isinstance(event, CommandIssued):
            return Outcome()
        match event.name:
            case "warn":
                return await warnings.warn(event, ctx)
            case "unwarn":
                return await warnings.unwarn(event, ctx)
            case "note":
                return await warnings.note(event, ctx)
            case "case":
                return await cases.case_command(event, ctx)
            case "cases":
                return await cases.list_cases(event, ctx)
            case "appeal":
                return await cases.appeal(event, ctx)
            case "config":
                return await configure.config_command(event, ctx)
        return Outcome()
