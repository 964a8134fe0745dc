"""Moderation (warnings, notes, cases, appeals, run-time settings) and members' privacy."""

from bot.features.moderation.configure import load_overrides, parse_value
from bot.features.moderation.feature import ModerationFeature
from bot.features.moderation.personal import DELETED_NAME, collect, forget
from bot.features.moderation.privacy import PrivacyFeature
from bot.features.moderation.settings import ModerationSettings, PrivacySettings

__all__ = [
    "DELETED_NAME",
    "ModerationFeature",
    "ModerationSettings",
    "PrivacyFeature",
    "PrivacySettings",
    "collect",
    "forget",
    "load_overrides",
    "parse_value",
]
