"""Telegram: python-telegram-bot updates in, Bot API calls out."""

from adapters.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
