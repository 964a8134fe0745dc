"""The weekly summary for community owners: numbers, chart, chat post, reports and CLI."""

from __future__ import annotations

from bot.features.summary.compute import IsoWeek, WeeklySummary, compute_summary
from bot.features.summary.feature import SummaryFeature
from bot.features.summary.settings import SummarySettings

__all__ = ["IsoWeek", "SummaryFeature", "SummarySettings", "WeeklySummary", "compute_summary"]
