"""Settings of the promo feature: thresholds, the sliding window and what happens on a flag."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from bot.features.base import COMMUNITY_ONLY, FeatureSettings


class PromoSettings(FeatureSettings):
    """How promotional monologues are scored and what the bot does about them."""

    flag_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="score (0..1) at which a message goes to moderators"
    )
    auto_delete_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="score at which the message is deleted at once (logged, case stays open); "
        "unset means never",
    )
    trusted_threshold: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="trusted members (high karma) are flagged only at this score, "
        "and link signals do not count for them",
    )
    trusted_karma: float = Field(
        20.0, description="karma from which a member counts as trusted for ordinary links"
    )
    window_messages: int = Field(
        50, ge=5, le=500, description="recent messages per member kept for the monologue checks"
    )
    window_hours: int = Field(
        168, ge=1, le=24 * 60, description="how far back the sliding window reaches, in hours"
    )
    dialogue_ratio: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="largest share of promotional posts among promotional posts plus dialogue "
        "(replies, mentions sent and received); 0.1 is the 9:1 rule",
    )
    monologue_min_posts: int = Field(
        2, ge=1, description="promotional posts in the window before the monologue signal fires"
    )
    duplicate_distance: int = Field(
        12,
        ge=0,
        le=32,
        description="largest Hamming distance of two 64-bit SimHashes that counts as a copy",
    )
    new_member_days: int = Field(
        7, ge=0, le=365, description="a member first seen this many days ago or less counts as new"
    )
    new_member_messages: int = Field(
        3, ge=1, description="a new member's first this-many messages are checked for links"
    )
    burst_messages: int = Field(
        5, ge=2, description="this many messages of one member within burst_seconds is a burst"
    )
    burst_seconds: int = Field(
        60, ge=1, le=3600, description="the time span of a burst, in seconds"
    )
    many_mentions: int = Field(
        5, ge=2, description="mentions in one message from which many_mentions fires"
    )
    emoji_flood: int = Field(8, ge=2, description="emoji in one message from which it is a flood")
    caps_flood: float = Field(
        0.7, gt=0.0, le=1.0, description="share of capital letters from which it is a flood"
    )
    review: bool = Field(True, description="post a review request to the moderator chat")
    nudge: bool = Field(False, description="answer a flagged member with a friendly nudge")
    dismiss_bonus: float = Field(
        0.2, ge=0.0, le=1.0, description="score reduction a member earns with each dismissed flag"
    )
    max_bonus: float = Field(
        0.6, ge=0.0, le=1.0, description="largest total score reduction from dismissed flags"
    )
    confirm_delete: bool = Field(True, description="delete the flagged messages on confirm")
    confirm_restrict_hours: int = Field(
        0, ge=0, le=672, description="mute the member for this many hours on confirm; 0 means never"
    )
    confirm_warn: bool = Field(False, description="post a warning to the member on confirm")
    allowed_links: tuple[str, ...] = Field(
        (),
        strict=False,
        description="links that never count as promotion: a host (radler.de, with its "
        "subdomains) or a host and path (discord.gg/radler, github.com/radler-club)",
    )
    sample_weight: float = Field(
        3.0,
        gt=0.0,
        le=50.0,
        description="how many seed texts one moderator decision counts as when training "
        "(read from the community level)",
        json_schema_extra=COMMUNITY_ONLY,
    )

    @field_validator("allowed_links")
    @classmethod
    def _links_written_plainly(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Compared with links as the text analysis gives them: lower case, no scheme, no www.
        cleaned = []
        for entry in value:
            link = entry.strip().lower().removeprefix("https://").removeprefix("http://")
            link = link.removeprefix("www.").rstrip("/")
            if not link or " " in link or "." not in link.partition("/")[0]:
                raise ValueError(
                    f"{entry!r} is no host or link (e.g. radler.de, discord.gg/radler)"
                )
            cleaned.append(link)
        return tuple(cleaned)

    @model_validator(mode="after")
    def _auto_delete_above_flag(self) -> PromoSettings:
        if self.auto_delete_threshold is not None and (
            self.auto_delete_threshold < self.flag_threshold
        ):
            raise ValueError("auto_delete_threshold must be >= flag_threshold")
        return self
