"""The features, in the order the engine runs them."""

from __future__ import annotations

from typing import Any

from bot.features.base import Feature


def all_features() -> list[Feature[Any]]:
    """A fresh instance of every feature, in a fixed order."""
    from bot.features.complaints import ComplaintsFeature
    from bot.features.karma import KarmaFeature
    from bot.features.moderation import ModerationFeature, PrivacyFeature
    from bot.features.promo import PromoFeature
    from bot.features.summary import SummaryFeature

    return [
        PrivacyFeature(),
        ModerationFeature(),
        KarmaFeature(),
        PromoFeature(),
        ComplaintsFeature(),
        SummaryFeature(),
    ]
