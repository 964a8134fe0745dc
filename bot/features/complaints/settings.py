"""Settings of the complaints feature: detection threshold, replies, cooldowns and cases."""

from __future__ import annotations

from string import Formatter
from typing import Literal

from pydantic import Field, field_validator

from bot.features.base import FeatureSettings
from bot.features.complaints.detect import DEFAULT_THRESHOLD
from bot.locales import LANGUAGES

PLACEHOLDERS = frozenset({"name", "hours"})


class ComplaintsSettings(FeatureSettings):
    """How complaints are recognised, answered and followed up."""

    threshold: float = Field(
        DEFAULT_THRESHOLD,
        ge=0.05,
        le=3.0,
        description="score from which a message counts as a complaint (see `leumund explain`)",
    )
    support_hours: str = Field(
        "",
        max_length=200,
        description="when the team answers, put into replies as {hours} "
        "(e.g. 'Mo–Fr 9–17 Uhr'); empty: the locale's default ('werktags von 9 bis 17 Uhr')",
    )
    support_hours_by_language: dict[str, str] = Field(
        {},
        description="support hours per reply language, e.g. {de = 'Mo–Fr 9–17 Uhr', "
        "en = 'Mon–Fri 9am–5pm'}; wins over support_hours",
    )
    response_mode: Literal["reply", "react", "silent"] = Field(
        "reply",
        description="reply: answer in the chat; react: only add react_emoji; silent: only "
        "open the case (high severity still pings the moderators)",
    )
    react_emoji: str = Field("👀", max_length=16, description="the reaction in react mode")
    humour: bool = Field(
        True,
        description="light, self-deprecating replies for low and medium complaints; off: "
        "plain friendly replies (high severity is never humorous)",
    )
    reply_cooldown_hours: float = Field(
        6.0,
        ge=0.0,
        le=24 * 30,
        description="at most one bot reply per member in this many hours",
    )
    escalate_after_hours: float = Field(
        24.0,
        gt=0.0,
        le=24 * 30,
        description="a complaint nobody from the team answered is escalated to the "
        "moderators after this many hours (once)",
    )
    repeat_window_hours: float = Field(
        72.0,
        ge=0.0,
        le=24 * 90,
        description="a member complaining again within this many hours is at least medium severity",
    )
    helpers: list[str] = Field(
        [],
        description="member keys (e.g. telegram:12345) who answer complaints besides the "
        "moderators: their answer in the thread resolves the case",
    )
    templates_low: list[str] = Field(
        [],
        description="replace the locale's replies to low complaints; placeholders {name} "
        "and {hours}",
    )
    templates_medium: list[str] = Field(
        [],
        description="replace the locale's replies to medium complaints; {name}, {hours}",
    )
    templates_high: list[str] = Field(
        [],
        description="replace the locale's serious replies to high-severity complaints; "
        "{name}, {hours}",
    )

    @field_validator("support_hours_by_language")
    @classmethod
    def _languages(cls, hours: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(hours) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown language {unknown[0]!r}; use one of {', '.join(LANGUAGES)}")
        return hours

    @field_validator("templates_low", "templates_medium", "templates_high")
    @classmethod
    def _placeholders(cls, templates: list[str]) -> list[str]:
        for template in templates:
            try:
                fields = {name for _, name, _, _ in Formatter().parse(template) if name}
            except ValueError as exc:
                raise ValueError(f"{template!r}: {exc}") from exc
            unknown = fields - PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"{template!r} uses {{{sorted(unknown)[0]}}}; only {{name}} and {{hours}} "
                    "are filled in"
                )
        return templates
