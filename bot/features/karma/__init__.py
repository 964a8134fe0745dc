"""Karma for helpful answers: thanks and reactions, fair rules, a ledger anyone can read."""

from bot.features.karma.credit import Credit, Said, Target, whom_to_credit
from bot.features.karma.detect import ThanksMatch, detect_thanks, explain_thanks, scan_thanks
from bot.features.karma.feature import KarmaFeature
from bot.features.karma.link import Profile, accounts_of, profiles
from bot.features.karma.settings import KarmaSettings, Level, giver_weight

__all__ = [
    "Credit",
    "KarmaFeature",
    "KarmaSettings",
    "Level",
    "Profile",
    "Said",
    "Target",
    "ThanksMatch",
    "accounts_of",
    "detect_thanks",
    "explain_thanks",
    "giver_weight",
    "profiles",
    "scan_thanks",
    "whom_to_credit",
]
