"""Cases: ``/case``, ``/cases``, ``/appeal`` and the ``case:<id>:<verb>`` buttons."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.actions import Reply, ReviewRequest
from bot.events import ButtonPressed, CommandIssued
from bot.features.base import Context, Decision, Outcome
from bot.features.moderation.common import (
    accounts_of,
    answer,
    local_time,
    looks_like_member,
    mod_log,
    not_found,
    parse_case_number,
    reply,
    resolve_member,
    shown,
    usage,
)
from bot.features.moderation.settings import ModerationSettings
from bot.features.moderation.warnings import case_buttons
from storage import models

Ctx = Context[ModerationSettings]
PROMO = "promo"  # promo decides its own cases' buttons
VERBS = ("confirm", "dismiss", "close", "assign")
CLOSING = {"confirm": "confirmed", "dismiss": "dismissed", "close": "resolved"}
CLOSE_WORDS = frozenset({"close", "schließen", "schliessen", "zu"})
ASSIGN_WORDS = frozenset({"assign", "zuweisen", "übernehmen"})
LIST_WORDS = {"open": "open", "offen": "open", "all": "all", "alle": "all"}
EXCERPT = 120


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return shown(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _label(ctx: Context[Any], group: str, value: str) -> str:
    key = f"moderation.{group}.{value}"
    return ctx.locale.t(key) if ctx.locale.variants(key) else value


def parse_button(custom_id: str) -> tuple[int, str] | None:
    """``case:12:close`` -> (12, "close"); None for anything this feature does not handle."""
    parts = custom_id.split(":")
    if len(parts) != 3 or parts[0] != "case" or parts[2] not in VERBS:
        return None
    number = parse_case_number(parts[1])
    return None if number is None else (number, parts[2])


# --- showing -------------------------------------------------------------------------------


async def _evidence(ctx: Ctx, evidence: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, value in evidence.items():
        if key == "messages" and isinstance(value, list):
            for item in value[:5]:
                if not isinstance(item, dict) or "chat" not in item or "message_id" not in item:
                    continue
                row = await ctx.store.messages.get(str(item["chat"]), str(item["message_id"]))
                text = (
                    ctx.locale.t("moderation.quote", text=_excerpt(row.text))
                    if row is not None and row.text
                    else ctx.locale.t("moderation.text_gone")
                )
                lines.append(f"• {item['chat']} #{item['message_id']}: {text}")
            if len(value) > 5:
                lines.append(f"• … +{len(value) - 5}")
            continue
        rendered = json.dumps(value, ensure_ascii=False, default=str)
        lines.append(f"• {shown(str(key))}: {_excerpt(rendered, 200)}")
    return lines


async def show(event: CommandIssued, ctx: Ctx, case: models.Case) -> Outcome:
    """Evidence, status, assignee and history of a case."""
    assert case.id is not None
    locale = ctx.locale
    event_model = models.CaseEvent
    stmt = (
        select(event_model)
        .where(col(event_model.case_id) == case.id)
        .order_by(col(event_model.at).desc(), col(event_model.id).desc())
        .limit(ctx.settings.history_limit)
    )
    history = list(reversed((await ctx.store.session.execute(stmt)).scalars().all()))
    keys = [k for k in (case.subject, case.assignee, case.closed_by) if k]
    keys += [h.actor for h in history if h.actor]
    keys += [h.note for h in history if h.action == "assigned" and h.note]
    names = await ctx.store.members.names(keys)
    nobody = locale.t("moderation.nobody")

    def name(key: str | None) -> str:
        return shown(names[key]) if key else nobody

    lines = [
        locale.t(
            "moderation.case_title",
            case=case.id,
            kind=_label(ctx, "kind", case.kind),
            status=_label(ctx, "status", case.status),
        ),
        locale.t(
            "moderation.case_people", subject=name(case.subject), assignee=name(case.assignee)
        ),
        locale.t("moderation.case_opened", at=local_time(ctx, case.opened_at)),
    ]
    if case.closed_at is not None:
        lines.append(
            locale.t(
                "moderation.case_closed",
                at=local_time(ctx, case.closed_at),
                by=name(case.closed_by),
            )
        )
    if case.summary:
        lines.append(shown(case.summary))
    evidence = await _evidence(ctx, case.evidence)
    if evidence:
        lines.append(locale.t("moderation.case_evidence"))
        lines.extend(evidence)
    lines.append(locale.t("moderation.case_history"))
    for item in history:
        entry = f"• {local_time(ctx, item.at)} {name(item.actor) if item.actor else '🤖'}: "
        entry += _label(ctx, "event", item.action)
        if item.action == "assigned" and item.note:
            entry += f" – {name(item.note)}"  # the note holds the assignee's key
        elif item.note:
            entry += f" – {_excerpt(item.note)}"
        lines.append(entry)
    return answer(event, "\n".join(lines))


async def list_cases(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/cases [open|all]``: open cases oldest first, or all cases newest first."""
    if len(event.args) > 1:
        return answer(event, usage(ctx, "cases"))
    mode = LIST_WORDS.get(event.args[0].lower()) if event.args else "open"
    if mode is None:
        return answer(event, usage(ctx, "cases"))
    case = models.Case
    stmt = select(case).where(col(case.community) == ctx.community.name)
    if mode == "open":
        stmt = stmt.where(col(case.status) == "open").order_by(col(case.id))
    else:
        stmt = stmt.order_by(col(case.id).desc())
    found = list((await ctx.store.session.execute(stmt.limit(ctx.settings.list_limit))).scalars())
    locale = ctx.locale
    if not found:
        return answer(event, locale.t(f"moderation.cases_none_{mode}"))
    names = await ctx.store.members.names([k for c in found for k in (c.subject, c.assignee) if k])
    lines = [locale.t(f"moderation.cases_title_{mode}", count=len(found))]
    for item in found:
        line = (
            f"#{item.id} {_label(ctx, 'kind', item.kind)} · {_label(ctx, 'status', item.status)}"
            f" · {shown(names[item.subject]) if item.subject else '–'}"
            f" · {local_time(ctx, item.opened_at)}"
        )
        if item.assignee:
            line += " · " + locale.t("moderation.assigned_to", name=shown(names[item.assignee]))
        lines.append(line)
    return answer(event, "\n".join(lines))


# --- deciding ------------------------------------------------------------------------------


async def decide(
    ctx: Ctx,
    case: models.Case,
    verb: str,
    actor: str,
    *,
    note: str = "",
    assignee: str | None = None,
    message_id: str | None = None,
) -> tuple[Outcome, str]:
    """Apply a moderator's verb to a case: history, mod log, decision and the answer text."""
    assert case.id is not None
    locale = ctx.locale
    outcome = Outcome()
    names = await ctx.store.members.names([k for k in (actor, assignee, case.subject) if k])
    if verb == "assign":
        who = assignee or actor
        if case.status != "open":  # an appeal reopens a case; until then there is no work
            status = _label(ctx, "status", case.status)
            return outcome, locale.t("moderation.case_assign_closed", case=case.id, status=status)
        # Nobody judges their own case, with any of their linked accounts.
        if case.subject is not None and who in await accounts_of(ctx, case.subject):
            text = locale.t("moderation.case_assign_subject", case=case.id, name=shown(names[who]))
            return outcome, text
        case.assignee = who
        ctx.store.session.add(case)
        ctx.store.session.add(
            models.CaseEvent(case_id=case.id, actor=actor, action="assigned", note=who, at=ctx.now)
        )
        await mod_log(
            ctx,
            outcome,
            actor=actor,
            action="case_assign",
            target=case.subject,
            case_id=case.id,
            detail=who,
            message_id=message_id,
            post=ctx.settings.post_mod_log,
            extra={"assignee": who},
        )
        text = locale.t("moderation.case_assigned", case=case.id, name=shown(names[who]))
        appeals = case.evidence.get("appeals") or []
        if case.status == "open" and appeals and appeals[-1].get("previously_closed_by") == who:
            text += "\n" + locale.t("moderation.appeal_same_moderator", name=shown(names[who]))
        return outcome, text
    if case.status != "open":
        status = _label(ctx, "status", case.status)
        return outcome, locale.t("moderation.case_already_closed", case=case.id, status=status)
    case.status = CLOSING[verb]
    case.closed_at = ctx.now
    case.closed_by = actor
    ctx.store.session.add(case)
    ctx.store.session.add(
        models.CaseEvent(
            case_id=case.id, actor=actor, action=case.status, note=note or None, at=ctx.now
        )
    )
    await mod_log(
        ctx,
        outcome,
        actor=actor,
        action=f"case_{verb}",
        target=case.subject,
        case_id=case.id,
        detail=note,
        message_id=message_id,
        post=ctx.settings.post_mod_log,
    )
    text = locale.t(
        "moderation.case_decided", case=case.id, status=_label(ctx, "status", case.status)
    )
    return outcome, text


async def case_command(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/case N``, ``/case N close [note]``, ``/case N assign @member``."""
    args = event.args
    number = parse_case_number(args[0]) if args else None
    if number is None:
        return answer(event, usage(ctx, "case"))
    verb = args[1].lower() if len(args) > 1 else None
    if verb is not None and verb not in CLOSE_WORDS | ASSIGN_WORDS:
        return answer(event, usage(ctx, "case"))
    if verb in ASSIGN_WORDS and (len(args) != 3 or not looks_like_member(args[2])):
        return answer(event, usage(ctx, "case"))
    case = await ctx.store.cases.get(ctx.community.name, number)
    if case is None:
        return answer(event, ctx.locale.t("moderation.case_not_found", case=number))
    if verb is None:
        return await show(event, ctx, case)
    actor = event.author.key
    if verb in ASSIGN_WORDS:
        member = await resolve_member(ctx, event.chat, args[2])
        if not isinstance(member, models.Member):
            return answer(event, not_found(ctx, args[2], member, by_reply=False))
        outcome, text = await decide(
            ctx, case, "assign", actor, assignee=member.key, message_id=event.message_id
        )
    else:
        note = " ".join(args[2:]).strip()
        outcome, text = await decide(
            ctx, case, "close", actor, note=note, message_id=event.message_id
        )
    outcome.actions.insert(0, reply(event, text))
    return outcome


async def button(event: ButtonPressed, ctx: Ctx) -> Outcome:
    """A press on ``case:<id>:<verb>`` under a case that is not promo's."""
    parsed = parse_button(event.custom_id)
    if parsed is None:
        return Outcome()
    number, verb = parsed
    case = await ctx.store.cases.get(ctx.community.name, number)
    if case is None or case.kind == PROMO:
        return Outcome()
    user = event.user.key
    if not ctx.is_moderator(user, event.user_is_moderator):
        ctx.store.session.add(
            models.ModLogEntry(
                community=ctx.community.name,
                actor=user,
                action="refused",
                target=case.subject,
                case_id=number,
                detail=event.custom_id,
                at=ctx.now,
            )
        )
        text = ctx.locale.t("moderation.button_refused", name=shown(event.user.name))
        return Outcome(
            actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)],
            decisions=[
                Decision(
                    "refused",
                    event.message_id,
                    {"custom_id": event.custom_id, "user": user, "case": number},
                )
            ],
        )
    outcome, text = await decide(ctx, case, verb, user, message_id=event.message_id)
    outcome.actions.insert(0, Reply(chat=event.chat, text=text, reply_to=event.message_id))
    return outcome


# --- appeals -------------------------------------------------------------------------------


async def appeal(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/appeal N text``: the member a case is about asks for a second look."""
    args = event.args
    number = parse_case_number(args[0]) if args else None
    text = " ".join(args[1:]).strip()
    if number is None or not text:
        return answer(event, usage(ctx, "appeal"))
    locale = ctx.locale
    author = event.author.key
    case = await ctx.store.cases.get(ctx.community.name, number)
    # The same answer for "no such case" and "not yours": case numbers reveal nothing.
    if case is None or case.subject is None or case.subject not in await accounts_of(ctx, author):
        return answer(event, locale.t("moderation.appeal_not_yours", case=number))
    assert case.id is not None
    appeals = list(case.evidence.get("appeals") or [])
    if len(appeals) >= ctx.settings.max_appeals:
        return answer(event, locale.t("moderation.appeal_limit", case=number))
    if case.status == "dismissed":
        # Decided in the member's favour: reopening it would only put Confirm back in reach.
        return answer(event, locale.t("moderation.appeal_in_favour", case=number))
    outcome = Outcome()
    if case.status == "open":
        statements = list(case.evidence.get("statements") or [])
        if len(statements) >= ctx.settings.max_appeals:
            return answer(event, locale.t("moderation.appeal_limit", case=number))
        # Counted like appeals: an open case is no place for an endless stream of words.
        statements.append({"by": author, "text": text[:1024], "at": ctx.now.isoformat()})
        case.evidence = {**case.evidence, "statements": statements}
        ctx.store.session.add(case)
        ctx.store.session.add(
            models.CaseEvent(
                case_id=case.id, actor=author, action="statement", note=text[:1024], at=ctx.now
            )
        )
        await mod_log(
            ctx,
            outcome,
            actor=author,
            action="appeal_statement",
            target=case.subject,
            case_id=case.id,
            detail=text,
            message_id=event.message_id,
            post=ctx.settings.post_mod_log,
        )
        outcome.actions.insert(
            0, reply(event, locale.t("moderation.appeal_still_open", case=number))
        )
        review_chat = ctx.community.section.moderator_chat or ctx.community.section.log_chat
        if review_chat is not None and review_chat != ctx.community.section.log_chat:
            # The log chat has the mod log line already; the review chat must see it too.
            names = await ctx.store.members.names([author])
            statement = locale.t(
                "moderation.appeal_statement_review",
                case=case.id,
                name=shown(names[author]),
                text=_excerpt(text, 500),
            )
            outcome.actions.append(Reply(chat=review_chat, text=statement))
        return outcome
    previous, previous_status = case.closed_by, case.status
    appeals.append(
        {
            "by": author,
            "text": text,
            "at": ctx.now.isoformat(),
            "previously_closed_by": previous,
            "previous_status": previous_status,
        }
    )
    case.evidence = {**case.evidence, "appeals": appeals}
    case.status = "open"
    case.closed_at = None
    case.closed_by = None
    case.assignee = None
    ctx.store.session.add(case)
    ctx.store.session.add(
        models.CaseEvent(
            case_id=case.id,
            actor=author,
            action="appealed",
            note=text[:1024],
            at=ctx.now,
        )
    )
    await mod_log(
        ctx,
        outcome,
        actor=author,
        action="appeal",
        target=case.subject,
        case_id=case.id,
        detail=text,
        message_id=event.message_id,
        post=ctx.settings.post_mod_log,
        extra={"previous_moderator": previous},
    )
    outcome.actions.append(reply(event, locale.t("moderation.appeal_received", case=number)))
    review_chat = ctx.community.section.moderator_chat or ctx.community.section.log_chat
    if review_chat is not None:
        names = await ctx.store.members.names([k for k in (author, previous) if k])
        lines = [
            locale.t(
                "moderation.appeal_review",
                case=case.id,
                kind=_label(ctx, "kind", case.kind),
                name=shown(names[author]),
                text=_excerpt(text, 500),
                status=_label(ctx, "status", previous_status),
            )
        ]
        if previous is not None:
            lines.append(locale.t("moderation.appeal_other_moderator", name=shown(names[previous])))
        verbs = ("confirm", "dismiss") if case.kind == PROMO else ("assign", "confirm", "dismiss")
        outcome.actions.append(
            ReviewRequest(
                chat=review_chat,
                case_id=case.id,
                text="\n".join(lines),
                buttons=case_buttons(ctx, case.id, verbs),
            )
        )
    return outcome
