"""Helpers shared by the moderation and privacy commands: replies, members, the mod log."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from bot.actions import Reply
from bot.events import CommandIssued
from bot.features.base import Context, Decision, Outcome
from bot.text import defuse_mentions
from storage import models
from storage.repositories import Ambiguous

MODERATION = "moderation"
PRIVACY = "privacy"
# Discord's raw mention forms; a slash-command adapter may pass them through.
_DISCORD_MENTION = re.compile(r"^<@!?(\d+)>$")
_KEY = re.compile(r"^(?:telegram|discord|console|chat):[^\s:]+$")


def reply(event: CommandIssued, text: str) -> Reply:
    """A reply to the command's message in its chat."""
    return Reply(chat=event.chat, text=text, reply_to=event.message_id)


def answer(event: CommandIssued, text: str) -> Outcome:
    """An outcome that only replies."""
    return Outcome(actions=[reply(event, text)])


def usage(ctx: Context[Any], command: str) -> str:
    """The localized usage of a command, inside the core "how to" sentence."""
    return ctx.locale.t("core.usage", usage=ctx.locale.t(f"moderation.usage.{command}"))


def shown(text: str) -> str:
    """A name or text made safe to post (no Markdown, no pings)."""
    return defuse_mentions(text)


def looks_like_member(arg: str) -> bool:
    """``@name``, ``<@123>`` or a member key ``telegram:42``."""
    return arg.startswith("@") or bool(_DISCORD_MENTION.match(arg) or _KEY.match(arg))


async def resolve_member(
    ctx: Context[Any], chat: str, arg: str
) -> models.Member | Ambiguous | None:
    """The member an argument names: ``@name``, a display name, ``<@123>`` or a member key;
    ``AMBIGUOUS`` for a name several members share (answer with ``not_found``)."""
    platform = chat.partition(":")[0]
    mention = _DISCORD_MENTION.match(arg)
    if mention:
        return await ctx.store.members.get(f"{platform}:{mention.group(1)}")
    if _KEY.match(arg):
        return await ctx.store.members.get(arg)
    return await ctx.store.members.by_name(platform, arg.lstrip("@"))


def not_found(ctx: Context[Any], name: str, found: Ambiguous | None, *, by_reply: bool) -> str:
    """The answer for a name nobody here has, or several members share (``by_reply``: the
    command also works as a reply to the member's message, which names them for sure)."""
    if found is None:
        return ctx.locale.t("core.unknown_member", name=shown(name))
    key = "core.ambiguous_member_reply" if by_reply else "core.ambiguous_member"
    return ctx.locale.t(key, name=shown(name))


async def accounts_of(ctx: Context[Any], key: str) -> list[str]:
    """Every account key of the person behind ``key`` (linked accounts share ``person``)."""
    member = await ctx.store.members.get(key)
    if member is None or member.person is None:
        return [key]
    stmt = select(col(models.Member.key)).where(col(models.Member.person) == member.person)
    keys = list((await ctx.store.session.execute(stmt)).scalars())
    return keys if key in keys else [key, *keys]


def parse_case_number(text: str) -> int | None:
    """``12`` or ``#12`` -> 12; None for anything else."""
    digits = text.removeprefix("#")
    if not digits.isdigit() or len(digits) > 9:
        return None
    return int(digits)


def local_time(ctx: Context[Any], moment: datetime | None) -> str:
    """A moment in the community's time zone, ``2026-11-16 10:00``; "–" when unknown."""
    if moment is None:
        return "–"
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(ctx.community.timezone)).strftime("%Y-%m-%d %H:%M")


async def mod_log(
    ctx: Context[Any],
    outcome: Outcome,
    *,
    actor: str | None,
    action: str,
    target: str | None = None,
    case_id: int | None = None,
    detail: str = "",
    message_id: str | None = None,
    post: bool = True,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a mod-log row, add a ``mod_action`` decision and post a line to the log chat."""
    ctx.store.session.add(
        models.ModLogEntry(
            community=ctx.community.name,
            actor=actor,
            action=action,
            target=target,
            case_id=case_id,
            detail=detail[:1024],
            at=ctx.now,
        )
    )
    data: dict[str, Any] = {"action": action, "actor": actor, "target": target, "case": case_id}
    outcome.decisions.append(Decision("mod_action", message_id, {**data, **(extra or {})}))
    log_chat = ctx.community.section.log_chat
    if not (post and log_chat):
        return
    outcome.actions.append(
        Reply(chat=log_chat, text=await log_line(ctx, action, actor, target, case_id, detail))
    )


async def log_line(
    ctx: Context[Any],
    action: str,
    actor: str | None,
    target: str | None,
    case_id: int | None,
    detail: str,
) -> str:
    """One short, human line for the log chat."""
    locale = ctx.locale
    names = await ctx.store.members.names([k for k in (actor, target) if k])
    label_key = f"moderation.action.{action}"
    label = locale.t(label_key) if locale.variants(label_key) else action
    who = shown(names[actor]) if actor else locale.t("moderation.log_automatic")
    parts = [f"📋 {label}", who]
    if target:
        parts.append(f"→ {shown(names[target])}")
    if case_id is not None:
        parts.append(f"#{case_id}")
    line = " ".join(parts)
    if detail:
        flat = " ".join(detail.split())
        # Details are keys, settings and reasons: pings are defused, the text stays as typed.
        line += ": " + (flat[:200] + ("…" if len(flat) > 200 else "")).replace("@", "@\u200b")
    return line


def name_list(names: Sequence[str]) -> str:
    """Names joined for a sentence."""
    return ", ".join(shown(n) for n in names)
