"""The console adapter, driven by a test as a person would use it."""

from __future__ import annotations

import io

from adapters.console import run_console
from bot.actions import Reply
from tests.bot.test_engine import Echo
from tests.conftest import MakeChat


async def test_console_session(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    script = "\n".join(
        [
            "Wie stelle ich die Bremse ein?",
            "/as bob",
            ">1 Zug nachspannen",
            "+1 👍",
            "/in offtopic",
            "schönes Wetter",
            "+99 👍",
            "/wait 2x",
            "/help",
            "/quit",
            "never read",
        ]
    )
    out = io.StringIO()
    await run_console(chat, io.StringIO(script + "\n"), out)
    text = out.getvalue()
    assert "#1 alice: Wie stelle ich die Bremse ein?" in text
    assert "#3 bob: Zug nachspannen" in text  # the bot's echo was message #2
    assert "react 👀 on #1" in text
    assert "[offtopic] reply: echo: schönes Wetter" in text
    assert "that message number does not exist" in text
    assert "usage: /wait 30m | 2h | 1d" in text
    assert "never read" not in text
    replies = [a for a in chat.sent if isinstance(a, Reply)]
    assert replies[1].reply_to is None and replies[1].chat == "console:general"
    assert chat.lines[2].author == "bob"


async def test_say_react_edit_delete(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    first = await chat.say("alice", "hallo")
    await chat.react("bob", first, "👍")
    await chat.edit("alice", first, "hallo welt")
    await chat.delete(first)
    assert chat.lines[0].text == "hallo welt"
    assert [a.kind for a in chat.sent] == ["Reply", "React"]


async def test_wait_is_bounded_so_the_clock_cannot_overflow(make_chat: MakeChat) -> None:
    chat = await make_chat(features=[Echo()])
    script = "\n".join(
        ["/wait 9999999999d", "/wait 999999999d", *["/wait 366d"] * 101, "still here", "/quit"]
    )
    out = io.StringIO()
    await run_console(chat, io.StringIO(script + "\n"), out)
    text = out.getvalue()
    assert text.count("usage: /wait 30m | 2h | 1d") == 2  # too many digits; longer than a year
    assert "the clock is already 100 years ahead" in text
    assert "#1 alice: still here" in text
    assert chat.clock().year >= 2100
