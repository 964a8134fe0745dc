"""Settings of the karma feature: points, fair-rule thresholds, acknowledgement and levels."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.features.base import FeatureSettings


class Level(BaseModel):
    """A karma level: reached at ``threshold`` points, optionally with a Discord role."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(
        min_length=1,
        max_length=64,
        description="shown as is, or translated when the locale has karma.levels.<name>",
    )
    threshold: float = Field(ge=0, description="karma needed to reach the level")
    discord_role: str | None = Field(
        None, description="Discord role id or name given at this level (Discord chats only)"
    )


DEFAULT_LEVELS = (
    Level(name="newcomer", threshold=0),
    Level(name="helper", threshold=10),
    Level(name="mentor", threshold=50),
    Level(name="expert", threshold=200),
)


class KarmaSettings(FeatureSettings):
    """Karma for helpful answers: what counts, how much, and the fair rules that limit it."""

    thanks_points: float = Field(2.0, gt=0, description="points for a thanks, before weighting")
    reaction_points: float = Field(1.0, gt=0, description="points for a reaction, before weighting")
    # strict=False: TOML arrays arrive as lists; the items are still checked strictly.
    reaction_emoji: tuple[str, ...] = Field(
        ("👍", "🙏", "✅", "❤️", "🎉", "⭐"),
        strict=False,
        description=(
            "reactions that give karma; variation selectors and skin tones are ignored, "
            "so ❤ counts as ❤️ and 👍🏽 as 👍"
        ),
    )
    context_window_minutes: int = Field(
        30,
        ge=1,
        le=24 * 60,
        description="how far back a thanks without reply or mention looks for whom to credit",
    )
    max_receivers: int = Field(3, ge=1, le=10, description="members credited per message at most")
    pair_cooldown_minutes: int = Field(
        30,
        ge=0,
        le=30 * 24 * 60,
        description="the same giver credits the same receiver at most once per window",
    )
    reciprocal_cooldown_minutes: int = Field(
        30,
        ge=0,
        le=30 * 24 * 60,
        description="no thanking back a member who credited you within this window",
    )
    daily_cap_giver: float = Field(
        40.0, gt=0, description="points a member can hand out per calendar day (community time)"
    )
    daily_cap_receiver: float = Field(
        200.0,
        gt=0,
        description="points a member can receive from others per calendar day (as Stack Overflow)",
    )
    weight_min: float = Field(
        0.5,
        gt=0,
        le=1,
        description="weight of a giver without karma: weight = clamp(weight_min + "
        "sqrt(giver karma) / weight_divisor, weight_min, weight_max)",
    )
    weight_max: float = Field(1.0, gt=0, le=1, description="weight of an established giver")
    weight_divisor: float = Field(
        10.0, gt=0, description="with 10, a giver with 25 karma adds 0.5 to weight_min"
    )
    new_member_days: int = Field(
        7,
        ge=0,
        le=365,
        description="members first seen less than this many days ago (and after the bot "
        "started in the community) are new; 0 switches the rule off",
    )
    new_member_factor: float = Field(
        0.5, gt=0, le=1, description="a new member's weight is multiplied by this"
    )
    ring_window_days: int = Field(
        7, ge=1, le=90, description="days of awards looked at for ring (serial voting) detection"
    )
    ring_max_size: int = Field(4, ge=2, le=6, description="largest group checked for a ring")
    ring_min_points: float = Field(
        10.0, gt=0, description="points exchanged inside a group before it can be a ring"
    )
    ring_min_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="a ring receives and gives at least this share of its karma inside the group",
    )
    ring_factor: float = Field(
        0.25, ge=0, le=1, description="points inside a detected ring are multiplied by this"
    )
    acknowledge: Literal["react", "message", "silent"] = Field(
        "react",
        description="how an award is acknowledged: the bot reacts to the thanks, "
        "posts a short message, or stays silent",
    )
    acknowledge_emoji: str = Field("✨", description="the bot's reaction in react mode")
    acknowledge_interval_minutes: int = Field(
        10,
        ge=0,
        le=7 * 24 * 60,
        description="message mode: at most one acknowledgement per chat in this time",
    )
    announce_levels: bool = Field(True, description="announce level-ups (once per level)")
    levels: tuple[Level, ...] = Field(
        DEFAULT_LEVELS,
        strict=False,
        description="levels as [{name, threshold, discord_role}], lowest first",
    )
    top_size: int = Field(10, ge=1, le=50, description="members listed by /top")
    why_size: int = Field(10, ge=1, le=50, description="ledger rows listed by /karma why")
    moderator_max_points: float = Field(
        100.0, gt=0, description="most points /karma give or /karma take moves at once"
    )

    @field_validator("reaction_emoji")
    @classmethod
    def _emoji_given(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not e.strip() for e in value):
            raise ValueError("must not contain empty strings")
        return value

    @field_validator("levels")
    @classmethod
    def _levels_sorted(cls, value: tuple[Level, ...]) -> tuple[Level, ...]:
        if not value:
            raise ValueError("needs at least one level")
        names = [level.name for level in value]
        if len(set(names)) != len(names):
            raise ValueError("level names must be unique")
        return tuple(sorted(value, key=lambda level: level.threshold))


def giver_weight(settings: KarmaSettings, giver_karma: float, *, new_member: bool) -> float:
    """How much a giver's award counts: grows with the square root of their karma, bounded."""
    low, high = settings.weight_min, max(settings.weight_min, settings.weight_max)
    weight = low + math.sqrt(max(giver_karma, 0.0)) / settings.weight_divisor
    weight = min(max(weight, low), high)
    if new_member:
        weight *= settings.new_member_factor
    return round(weight, 4)


def level_index(levels: tuple[Level, ...], total: float) -> int:
    """The index of the highest level reached with ``total`` points (0 when below all)."""
    reached = 0
    for index, level in enumerate(levels):
        if total + 1e-9 >= level.threshold:
            reached = index
    return reached
