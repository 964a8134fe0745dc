"""Names the bot repeats cannot ping anyone or inject formatting."""

from __future__ import annotations

import pytest

from bot.actions import Reply
from tests.conftest import MakeChat

PING = "@everyone"


@pytest.mark.parametrize("command", ["/top all", "/karma why @bob"])
async def test_a_member_named_everyone_pings_nobody(make_chat: MakeChat, command: str) -> None:
    chat = await make_chat()
    question = await chat.say("bob", "Wie flicke ich einen Schlauch?")
    answer = await chat.say(PING, "Flicken drauf, fest andrücken.", reply_to=question)
    await chat.say("bob", "danke!", reply_to=answer)
    await chat.say("carla", "Welche Flicken nehmt ihr?")
    second = await chat.say(PING, "Die selbstklebenden.", reply_to=4)
    await chat.say("carla", "danke dir!", reply_to=second)
    await chat.say("mod", f"/karma give {PING} 2 gut erklärt")
    await chat.say("bob", command.replace("@bob", PING))
    texts = [a.text for a in chat.sent if isinstance(a, Reply)]
    assert texts and any("everyone" in t for t in texts)
    assert not any(PING in t for t in texts), texts


def test_discord_escapes_markdown_but_keeps_links() -> None:
    from adapters.discord.adapter import _escaped

    action = Reply(chat="discord:1", text="*Kai* sagt: siehe https://docs.example.org/a_b_c")
    escaped = _escaped(action)
    assert isinstance(escaped, Reply)
    assert escaped.text == "\\*Kai\\* sagt: siehe https://docs.example.org/a_b_c"
