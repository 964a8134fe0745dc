"""Tokens never reach a log line."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFilter, redact

TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawx"
DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {TELEGRAM} here", "token <redacted> here"),
        (
            f"POST https://api.telegram.org/bot{TELEGRAM}/getMe",
            "POST https://api.telegram.org/bot<redacted>/getMe",
        ),
        (f"Authorization: Bot {DISCORD}", "Authorization: Bot <redacted>"),
        ("danke @bob, 12:30 passt", "danke @bob, 12:30 passt"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_filter_redacts_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("calling %s", f"/bot{TELEGRAM}/getUpdates")
            try:
                raise RuntimeError(f"bad token {DISCORD}")
            except RuntimeError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert TELEGRAM not in text and DISCORD not in text
    assert "/bot<redacted>/getUpdates" in text and "bad token <redacted>" in text
