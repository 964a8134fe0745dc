"""Discord: a discord.py client that translates gateway events and executes actions."""

from __future__ import annotations

from adapters.discord.adapter import DiscordAdapter, intents_for

__all__ = ["DiscordAdapter", "intents_for"]
