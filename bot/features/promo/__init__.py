"""Promotional monologues: score messages and members, ask moderators, learn from them."""

from __future__ import annotations

from bot.features.promo.feature import PromoFeature
from bot.features.promo.settings import PromoSettings

__all__ = ["PromoFeature", "PromoSettings"]
