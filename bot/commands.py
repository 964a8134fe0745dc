"""Parsing of ``/commands`` from message text, shared by every adapter."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_COMMAND = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})(?:@([A-Za-z0-9_]{3,64}))?(?=\s|$)")
MAX_ARGS = 32
# More than any platform lets one message hold (Telegram 4096, Discord 4000 characters);
# shlex reads character by character, so longer (imported, hostile) text is cut first.
MAX_ARGS_CHARS = 8192


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command name and its arguments."""

    name: str
    args: tuple[str, ...]


def parse_command(text: str, bot_username: str | None = None) -> ParsedCommand | None:
    """Parse ``/name@Bot arg "quoted arg"``; None if the text is no command for this bot.

    A command addressed to another bot (``/karma@OtherBot``) is not ours. Quotes group
    words; unbalanced quotes fall back to splitting on white space, so no input raises.
    """
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    name, addressed = match.group(1).lower(), match.group(2)
    if addressed and bot_username and addressed.lower() != bot_username.lower().lstrip("@"):
        return None
    rest = text.strip()[match.end() :].strip()[:MAX_ARGS_CHARS]
    try:
        args = shlex.split(rest)
    except ValueError:
        args = rest.split()
    return ParsedCommand(name, tuple(args[:MAX_ARGS]))
