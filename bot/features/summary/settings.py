"""Settings of the weekly summary: when it is posted and how long its lists are."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.features.base import COMMUNITY_ONLY, FeatureSettings

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class SummarySettings(FeatureSettings):
    """When the weekly summary is posted (community time zone) and what it lists."""

    weekday: Weekday = Field(
        "monday",
        description="day the summary of the last complete ISO week is posted",
        json_schema_extra=COMMUNITY_ONLY,
    )
    time: str = Field(
        "09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="local time (HH:MM, community time zone) the summary is posted at",
        json_schema_extra=COMMUNITY_ONLY,
    )
    top_n: int = Field(5, ge=1, le=25, description="members listed as helpers and in dialogue")
    answers_per_helper: int = Field(
        2, ge=0, le=10, description="most thanked answers linked per helper"
    )
    max_links: int = Field(
        10, ge=0, le=50, description="unanswered questions listed with links (all are counted)"
    )
    answer_window_hours: int = Field(
        24,
        ge=1,
        le=72,
        description="a question without a reply or mention-answer within this time is "
        "unanswered; a reply within it makes a message part of a dialogue",
    )
    chart: bool = Field(True, description="attach the chart image (PNG) to the chat post")
    skip_empty: bool = Field(
        True,
        description="post nothing for a week without a single message (still marked done)",
        json_schema_extra=COMMUNITY_ONLY,
    )
