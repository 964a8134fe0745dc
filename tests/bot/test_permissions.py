"""Every moderator command and moderator sub-command is refused to members."""

from __future__ import annotations

import pytest

from bot.actions import Reply
from bot.features import all_features
from tests.conftest import MakeChat

# Sub-commands of member commands that only moderators may use.
SUBCOMMANDS = ["/karma give @bob 5 nett", "/karma take @bob 5 falsch"]
MODERATOR_COMMANDS = sorted(
    f"/{spec.name}"
    for feature in all_features()
    for spec in feature.commands
    if spec.moderator_only
)


def test_the_list_is_not_empty() -> None:
    assert {"/warn", "/case", "/config", "/trust", "/flags", "/summary"} <= set(MODERATOR_COMMANDS)


@pytest.mark.parametrize("command", MODERATOR_COMMANDS + SUBCOMMANDS)
async def test_members_are_refused(make_chat: MakeChat, command: str) -> None:
    chat = await make_chat()
    await chat.say("bob", "hallo")
    await chat.say("alice", command)
    replies = [a for a in chat.sent if isinstance(a, Reply)]
    assert replies, f"{command}: no answer"
    assert any(d.kind == "refused" for d in chat.decisions), f"{command}: not refused"
    assert not any(d.kind in ("mod_action", "karma") for d in chat.decisions)


@pytest.mark.parametrize("command", MODERATOR_COMMANDS + SUBCOMMANDS)
async def test_moderators_are_not_refused(make_chat: MakeChat, command: str) -> None:
    chat = await make_chat()
    await chat.say("bob", "hallo")
    await chat.say("mod", command)
    assert not any(d.kind == "refused" for d in chat.decisions), command
