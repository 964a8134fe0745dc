"""Settings of the moderation and privacy features."""

from __future__ import annotations

from pydantic import Field

from bot.features.base import COMMUNITY_ONLY, FeatureSettings


class ModerationSettings(FeatureSettings):
    """Warnings, restrictions, cases, appeals and the mod log."""

    warning_expiry_days: int = Field(
        30, ge=1, le=3650, description="days after which a warning no longer counts"
    )
    warnings_to_restrict: int = Field(
        3, ge=1, le=100, description="active warnings at which a member is muted"
    )
    restrict_hours: int = Field(
        24, ge=1, le=672, description="how long a mute lasts, in hours (Discord allows 28 days)"
    )
    post_mod_log: bool = Field(
        True, description="post a short line per action to the community's log_chat, if set"
    )
    notify_warned: bool = Field(
        True, description="send a warned member a private message with the reason"
    )
    max_appeals: int = Field(1, ge=0, le=10, description="appeals a member may make per case")
    list_limit: int = Field(20, ge=1, le=100, description="cases shown by /cases")
    history_limit: int = Field(
        10, ge=1, le=100, description="history entries and notes shown by /case and /note"
    )


class PrivacySettings(FeatureSettings):
    """The members' own data: /mydata, /forgetme, /optout and the purge of old texts."""

    confirm_minutes: int = Field(
        10, ge=1, le=1440, description="minutes within which /forgetme confirm must follow"
    )
    purge_texts: bool = Field(
        True,
        description="once a day, erase message texts older than [bot] retention_days",
        json_schema_extra=COMMUNITY_ONLY,
    )
