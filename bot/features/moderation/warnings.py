"""``/warn`` and ``/note``: warnings that expire, notes for moderators, mutes at a threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.actions import Button, DirectMessage, Restrict, ReviewRequest
from bot.events import CommandIssued
from bot.features.base import Context, Outcome
from bot.features.moderation.common import (
    accounts_of,
    answer,
    local_time,
    looks_like_member,
    mod_log,
    not_found,
    reply,
    resolve_member,
    shown,
    usage,
)
from bot.features.moderation.settings import ModerationSettings
from storage import models

Ctx = Context[ModerationSettings]
WARNINGS_CASE = "warnings"


async def _target(
    event: CommandIssued, ctx: Ctx, *, not_self: str | None = None
) -> tuple[models.Member, tuple[str, ...]] | Outcome:
    """The member a command names (first argument, or the replied-to author) and the rest;
    with ``not_self`` (a text key), any of the author's own accounts is refused with it."""
    args = event.args
    member: models.Member | None = None
    rest = args
    if args and looks_like_member(args[0]):
        found = await resolve_member(ctx, event.chat, args[0])
        if not isinstance(found, models.Member):
            return answer(event, not_found(ctx, args[0], found, by_reply=True))
        member, rest = found, args[1:]
    elif event.reply_to_author is not None:
        member = await ctx.store.members.get(event.reply_to_author.key)
    if member is None:
        return answer(event, usage(ctx, event.name))
    # Linked accounts are one person: warning one's other account would mute oneself too.
    if not_self is not None and member.key in await accounts_of(ctx, event.author.key):
        return answer(event, ctx.locale.t(not_self))
    return member, rest


def _active_since(ctx: Ctx) -> Any:
    return ctx.now - timedelta(days=ctx.settings.warning_expiry_days)


async def active_warnings(ctx: Ctx, member: str) -> list[models.ModLogEntry]:
    """Warnings of a member that have not expired or been withdrawn yet, oldest first."""
    entry = models.ModLogEntry
    stmt = (
        select(entry)
        .where(
            col(entry.community) == ctx.community.name,
            col(entry.action).in_(("warn", "unwarn")),
            col(entry.target) == member,
            col(entry.at) > _active_since(ctx),
        )
        .order_by(col(entry.at), col(entry.id))
    )
    active: list[models.ModLogEntry] = []
    # The mod log only grows: an "unwarn" row withdraws the newest warning before it. One
    # whose warning has expired since finds none left in the window, as it should.
    for row in (await ctx.store.session.execute(stmt)).scalars():
        if row.action == "warn":
            active.append(row)
        elif active:
            active.pop()
    return active


async def unwarn(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/unwarn @member [reason]``: withdraw the member's newest active warning."""
    # A moderator warned by another one does not take it back themself.
    found = await _target(event, ctx, not_self="moderation.unwarn_self")
    if isinstance(found, Outcome):
        return found
    member, rest = found
    locale, settings = ctx.locale, ctx.settings
    name = shown(member.name)
    earlier = await active_warnings(ctx, member.key)
    if not earlier:
        return answer(event, locale.t("moderation.unwarn_none", name=name))
    reason = " ".join(rest).strip()
    outcome = Outcome()
    await mod_log(
        ctx,
        outcome,
        actor=event.author.key,
        action="unwarn",
        target=member.key,
        detail=reason or f"warning of {earlier[-1].at.isoformat()}",
        message_id=event.message_id,
        post=settings.post_mod_log,
        extra={"withdrawn": earlier[-1].id},
    )
    count = len(earlier) - 1
    outcome.actions.insert(
        0,
        reply(
            event,
            locale.t("moderation.unwarned", name=name, count=count, hours=settings.restrict_hours),
        ),
    )
    if settings.notify_warned:
        outcome.actions.append(
            DirectMessage(
                chat=event.chat,
                member=member.key,
                text=locale.t(
                    "moderation.unwarned_private", community=ctx.community.name, count=count
                ),
            )
        )
    return outcome


async def warn(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/warn @member reason``: a warning; at the threshold a mute and a case."""
    found = await _target(event, ctx, not_self="moderation.warn_self")
    if isinstance(found, Outcome):
        return found
    member, rest = found
    actor = event.author.key
    reason = " ".join(rest).strip()
    if not reason:
        return answer(event, usage(ctx, "warn"))
    settings, locale = ctx.settings, ctx.locale
    earlier = await active_warnings(ctx, member.key)
    count = len(earlier) + 1
    outcome = Outcome()
    await mod_log(
        ctx,
        outcome,
        actor=actor,
        action="warn",
        target=member.key,
        detail=reason,
        message_id=event.message_id,
        post=settings.post_mod_log,
        extra={"active": count},
    )
    name = shown(member.name)
    limit = settings.warnings_to_restrict
    # Past the threshold "4/3" would read like a mistake; those texts say it in words.
    over = "_over" if count > limit else ""
    outcome.actions.append(
        reply(
            event,
            locale.t(
                f"moderation.warned{over}",
                name=name,
                count=count,
                limit=limit,
                reason=shown(reason),
            ),
        )
    )
    if settings.notify_warned:
        outcome.actions.append(
            DirectMessage(
                chat=event.chat,
                member=member.key,
                text=locale.t(
                    f"moderation.warned_private{over}",
                    community=ctx.community.name,
                    reason=reason,
                    count=count,
                    limit=limit,
                    days=settings.warning_expiry_days,
                    hours=settings.restrict_hours,
                ),
            )
        )
    if count >= limit:
        reasons = [(w.at, w.actor, w.detail) for w in earlier] + [(ctx.now, actor, reason)]
        outcome.extend(await _escalate(event, ctx, member, reasons))
    return outcome


async def _restrict_chat(event: CommandIssued, ctx: Ctx, member: str) -> str | None:
    """Where to mute: the command's chat, unless that is a moderators' or private chat."""
    section = ctx.community.section
    if not event.private and event.chat not in (section.moderator_chat, section.log_chat):
        return event.chat
    message = models.Message
    stmt = (
        select(col(message.chat))
        .where(col(message.community) == ctx.community.name, col(message.author) == member)
        .order_by(col(message.at).desc(), col(message.id).desc())
        .limit(1)
    )
    return (await ctx.store.session.execute(stmt)).scalar_one_or_none()


async def _escalate(
    event: CommandIssued,
    ctx: Ctx,
    member: models.Member,
    warnings: list[tuple[Any, str | None, str]],
) -> Outcome:
    """Mute the member (where a chat is known) and open or extend a "warnings" case."""
    settings, locale = ctx.settings, ctx.locale
    outcome = Outcome()
    until = ctx.now + timedelta(hours=settings.restrict_hours)
    chat = await _restrict_chat(event, ctx, member.key)
    count = len(warnings)
    reason = locale.t("moderation.restrict_reason", count=count, days=settings.warning_expiry_days)
    if chat is not None:
        outcome.actions.append(Restrict(chat=chat, member=member.key, until=until, reason=reason))
        await mod_log(
            ctx,
            outcome,
            actor=None,
            action="restrict",
            target=member.key,
            detail=f"{chat} until {until.isoformat()} ({count} warnings)",
            message_id=event.message_id,
            post=settings.post_mod_log,
            extra={"until": until.isoformat(), "chat": chat},
        )
        outcome.actions.append(
            reply(
                event,
                locale.t(
                    "moderation.restricted",
                    name=shown(member.name),
                    hours=settings.restrict_hours,
                    count=count,
                ),
            )
        )
    evidence = {
        "warnings": [{"at": at.isoformat(), "by": by, "reason": text} for at, by, text in warnings],
        "restricted_until": until.isoformat() if chat else None,
        "chat": chat,
    }
    summary = locale.t(
        "moderation.warnings_summary",
        name=member.name,
        count=count,
        days=settings.warning_expiry_days,
    )
    case = await ctx.store.cases.open_for(ctx.community.name, WARNINGS_CASE, member.key)
    if case is None:
        case = await ctx.store.cases.open(
            models.Case(
                community=ctx.community.name,
                kind=WARNINGS_CASE,
                subject=member.key,
                chat=chat,
                # The warning's message only where the case's chat is the command's chat.
                message_id=event.message_id if chat == event.chat else None,
                summary=summary[:1024],
                evidence=evidence,
                opened_at=ctx.now,
            )
        )
        action = "case_open"
    else:
        assert case.id is not None
        case.evidence = evidence  # a new dict: JSON columns do not track changes inside
        case.summary = summary[:1024]
        ctx.store.session.add(case)
        action = "case_update"
        ctx.store.session.add(
            models.CaseEvent(
                case_id=case.id, actor=None, action="warned", note=warnings[-1][2], at=ctx.now
            )
        )
    assert case.id is not None
    await mod_log(
        ctx,
        outcome,
        actor=None,
        action=action,
        target=member.key,
        case_id=case.id,
        detail=summary,
        message_id=event.message_id,
        post=settings.post_mod_log,
    )
    review_chat = ctx.community.section.moderator_chat
    if review_chat is not None:
        key = "moderation.review_restricted" if chat else "moderation.review_unrestricted"
        text = locale.t(
            key,
            case=case.id,
            name=shown(member.name),
            count=count,
            days=settings.warning_expiry_days,
            until=local_time(ctx, until),
        )
        lines = [text] + [
            f"• {local_time(ctx, at)}: {shown(reason_text)}" for at, _, reason_text in warnings
        ]
        outcome.actions.append(
            ReviewRequest(
                chat=review_chat,
                case_id=case.id,
                text="\n".join(lines),
                buttons=case_buttons(ctx, case.id, ("assign", "close")),
            )
        )
    return outcome


def case_buttons(ctx: Context[Any], case_id: int, verbs: tuple[str, ...]) -> tuple[Button, ...]:
    """Buttons ``case:<id>:<verb>`` with localized labels."""
    return tuple(
        Button(label=ctx.locale.t(f"moderation.button.{verb}"), custom_id=f"case:{case_id}:{verb}")
        for verb in verbs
    )


async def note(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/note @member text`` saves a note; ``/note @member`` lists notes and warnings."""
    found = await _target(event, ctx)
    if isinstance(found, Outcome):
        return found
    member, rest = found
    text = " ".join(rest).strip()
    if not text:
        return await _notes(event, ctx, member)
    outcome = Outcome()
    await mod_log(
        ctx,
        outcome,
        actor=event.author.key,
        action="note",
        target=member.key,
        detail=text,
        message_id=event.message_id,
        post=ctx.settings.post_mod_log,
    )
    outcome.actions.append(reply(event, ctx.locale.t("moderation.noted", name=shown(member.name))))
    return outcome


async def _notes(event: CommandIssued, ctx: Ctx, member: models.Member) -> Outcome:
    entry = models.ModLogEntry
    limit = ctx.settings.history_limit
    stmt = (
        select(entry)
        .where(
            col(entry.community) == ctx.community.name,
            col(entry.action) == "note",
            col(entry.target) == member.key,
        )
        .order_by(col(entry.at).desc(), col(entry.id).desc())
        .limit(limit)
    )
    notes = list((await ctx.store.session.execute(stmt)).scalars())
    warnings = await active_warnings(ctx, member.key)
    locale = ctx.locale
    names = await ctx.store.members.names(
        [e.actor for e in [*notes, *warnings] if e.actor is not None]
    )
    threshold = ctx.settings.warnings_to_restrict
    over = "_over" if len(warnings) > threshold else ""
    lines = [
        locale.t(
            f"moderation.notes_title{over}",
            name=shown(member.name),
            warnings=len(warnings),
            limit=threshold,
        )
    ]
    for item in warnings[-limit:]:
        by = shown(names.get(item.actor or "", "–"))
        lines.append(f"⚠️ {local_time(ctx, item.at)} {by}: {shown(item.detail)}")
    for item in reversed(notes):
        by = shown(names.get(item.actor or "", "–"))
        lines.append(f"📝 {local_time(ctx, item.at)} {by}: {shown(item.detail)}")
    if not notes and not warnings:
        lines.append(locale.t("moderation.notes_none"))
    return answer(event, "\n".join(lines))
