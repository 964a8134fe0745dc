"""Logging set-up with a filter that keeps bot tokens out of every log line."""

from __future__ import annotations

import logging
import re

from bot.config import TOKEN_LIKE

_URL_TOKEN = re.compile(r"(/bot)\d{6,12}:[A-Za-z0-9_-]{30,}")


def redact(text: str) -> str:
    """Replace anything that looks like a Discord or Telegram token."""
    text = _URL_TOKEN.sub(r"\1<redacted>", text)
    return TOKEN_LIKE.sub("<redacted>", text)


class RedactingFilter(logging.Filter):
    """Rewrites log records so that tokens never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps; tokens redacted on every handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter (HTTP requests with the token in the URL) stays at WARNING.
    for noisy in ("httpx", "httpcore", "telegram.ext", "discord.gateway", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
