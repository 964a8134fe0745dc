"""Reading karma: ``/karma [@member]``, ``/karma why [@member]``, ``/top [week|month|all]``,
and the moderators' ``/karma give|take @member POINTS REASON``.

Linked accounts count as one person everywhere. Members who opted out of being shown
(``members.opted_out``) keep their place in ``/top`` but appear as "(hidden)"; others see
"(hidden)" for them in ``/karma`` and ``/karma why`` too (a member always sees their own).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from bot.actions import Action, Reply
from bot.events import CommandIssued
from bot.features.base import Context, Decision, Outcome
from bot.features.karma.levels import check_level, level_text
from bot.features.karma.link import Profile, person_map, platform_of, profiles
from bot.features.karma.rules import month_start, week_start
from bot.features.karma.settings import KarmaSettings, level_index
from bot.features.moderation.common import MODERATION, mod_log, not_found
from bot.features.moderation.settings import ModerationSettings
from bot.text import defuse_mentions
from storage import models
from storage.repositories import Ambiguous

WHY = ("why", "warum", "wieso")
GIVE, TAKE = ("give", "gib", "geben"), ("take", "nimm", "nehmen")
PERIODS = {
    "week": "week",
    "woche": "week",
    "month": "month",
    "monat": "month",
    "all": "all",
    "alle": "all",
    "gesamt": "all",
}


def format_points(points: float, language: str, *, sign: bool = False) -> str:
    """Points rounded to two decimals without trailing zeros, with a decimal comma in German."""
    value = round(points, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = f"{value:+.2f}" if sign else f"{value:.2f}"
    text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",") if language == "de" else text


def _reply(event: CommandIssued, text: str) -> Reply:
    return Reply(chat=event.chat, text=text, reply_to=event.message_id)


async def resolve(ctx: Context[Any], event: CommandIssued, arg: str) -> str | Ambiguous | None:
    """A member key from ``@name``, a display name or a full key like ``telegram:42``."""
    if ":" in arg and not arg.startswith("@"):
        member = await ctx.store.members.get(arg)
        return member.key if member else None
    found = await ctx.store.members.by_name(platform_of(event.chat), arg.lstrip("@"))
    return found.key if isinstance(found, models.Member) else found


async def _target(
    ctx: Context[Any], event: CommandIssued, args: tuple[str, ...]
) -> str | Ambiguous | None:
    """Whom a view is about: the argument, the author of the replied message, or the caller."""
    if args:
        return await resolve(ctx, event, args[0])
    if event.reply_to_author is not None:
        return event.reply_to_author.key
    return event.author.key


async def _totals(ctx: Context[Any], since: datetime) -> dict[str, float]:
    """Points per person since a moment (linked accounts merged, keyed by a representative)."""
    points = func.sum(col(models.KarmaEntry.points))
    stmt = (
        select(col(models.KarmaEntry.receiver), points)
        .where(
            col(models.KarmaEntry.community) == ctx.community.name,
            col(models.KarmaEntry.at) >= since,
        )
        .group_by(col(models.KarmaEntry.receiver))
    )
    rows = [(str(m), float(p)) for m, p in await ctx.store.session.execute(stmt)]
    return _merged(await person_map(ctx.store), rows)


def _merged(persons: dict[str, str], rows: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Points of accounts merged per person, keyed by the person's smallest account key."""
    merged: dict[str, float] = defaultdict(float)
    representative: dict[str, str] = {}
    for receiver, total in rows:
        identity = persons.get(receiver, receiver)
        representative[identity] = min(representative.get(identity, receiver), receiver)
        merged[identity] += float(total)
    return {representative[i]: round(p, 2) for i, p in merged.items()}


async def _linked(ctx: Context[Any]) -> tuple[dict[str, float], dict[str, float]]:
    """All-time balances of linked accounts: per account, and merged per person."""
    persons = await person_map(ctx.store)
    if not persons:
        return {}, {}
    own = await ctx.store.karma.balances(ctx.community.name, list(persons))
    return own, _merged(persons, own.items())


async def _leaders(ctx: Context[Any], size: int) -> dict[str, float]:
    """All-time points of the persons who can be among the best ``size``.

    Read from the balances in order: an unlinked account outside the best ``size``
    accounts that are not linked cannot rank higher; linked persons are merged first.
    """
    own, merged = await _linked(ctx)
    best = await ctx.store.karma.leaders(ctx.community.name, size + len(own))
    unlinked = {k: round(p, 2) for k, p in best if k not in own}
    return {**dict(list(unlinked.items())[:size]), **merged}


async def _persons_above(
    ctx: Context[Any], linked: tuple[dict[str, float], dict[str, float]], points: float
) -> int:
    """How many persons have more all-time karma than ``points`` (linked accounts as one)."""
    own, merged = linked
    accounts = await ctx.store.karma.count_above(ctx.community.name, points)
    counted = sum(1 for p in own.values() if p > points)  # linked accounts, counted alone
    return accounts - counted + sum(1 for p in merged.values() if p > points)


def _hidden(ctx: Context[Any], profile: Profile, viewer: str) -> bool:
    return profile.opted_out and viewer not in profile.all_keys


def _unknown(
    ctx: Context[Any], event: CommandIssued, name: str, found: Ambiguous | None, *, by_reply: bool
) -> Outcome:
    """The answer for a member name nobody here has, or several members share."""
    return Outcome(actions=[_reply(event, not_found(ctx, name, found, by_reply=by_reply))])


async def _viewed(
    ctx: Context[Any], event: CommandIssued, args: tuple[str, ...]
) -> Profile | Outcome:
    """The profile a view is about, or the answer when it is unknown or hidden."""
    target = await _target(ctx, event, args)
    if not isinstance(target, str):
        # A view of someone else also works as a reply to their message.
        return _unknown(ctx, event, args[0], target, by_reply=True)
    profile = (await profiles(ctx.store, [target]))[target]
    if _hidden(ctx, profile, event.author.key):
        text = ctx.locale.t("karma.hidden_profile", name=profile.name)
        return Outcome(actions=[_reply(event, text)])
    return profile


async def karma(event: CommandIssued, ctx: Context[KarmaSettings]) -> Outcome:
    """``/karma``: dispatch to the summary, ``why``, ``give`` or ``take``."""
    args = event.args
    if args and args[0].lower() in WHY:
        return await why(event, ctx, args[1:])
    if args and args[0].lower() in GIVE + TAKE:
        return await adjust(event, ctx, take=args[0].lower() in TAKE)
    return await summary(event, ctx, args)


async def summary(
    event: CommandIssued, ctx: Context[KarmaSettings], args: tuple[str, ...]
) -> Outcome:
    """Total, this week, rank and level of a member."""
    profile = await _viewed(ctx, event, args)
    if isinstance(profile, Outcome):
        return profile
    community, language = ctx.community.name, ctx.locale.language
    total = await ctx.store.karma.total(community, profile.all_keys)
    week = await ctx.store.karma.total(
        community, profile.all_keys, since=week_start(ctx.now, ctx.community.timezone)
    )
    level = level_index(ctx.settings.levels, total)
    values: dict[str, object] = {
        "name": profile.name,
        "total": format_points(total, language),
        "week": format_points(week, language, sign=True),
        "level": level_text(ctx, level),
    }
    if total > 0:
        linked = await _linked(ctx)
        values["rank"] = 1 + await _persons_above(ctx, linked, total + 1e-9)
        values["ranked"] = await _persons_above(ctx, linked, 0.0)
        text = ctx.locale.t("karma.summary", **values)
    else:
        text = ctx.locale.t("karma.summary_unranked", **values)
    return Outcome(actions=[_reply(event, text)])


async def why(event: CommandIssued, ctx: Context[KarmaSettings], args: tuple[str, ...]) -> Outcome:
    """The latest ledger rows of a member, with reasons, givers and message references."""
    profile = await _viewed(ctx, event, args)
    if isinstance(profile, Outcome):
        return profile
    rows = await ctx.store.karma.history(
        ctx.community.name, profile.all_keys, limit=ctx.settings.why_size
    )
    if not rows:
        return Outcome(actions=[_reply(event, ctx.locale.t("karma.why_empty", name=profile.name))])
    givers = await profiles(ctx.store, [r.giver for r in rows if r.giver])
    hidden = ctx.locale.t("karma.hidden")
    lines = [ctx.locale.t("karma.why_title", name=profile.name)]
    for row in rows:
        giver = givers.get(row.giver or "")
        giver_name = "—" if giver is None else hidden if giver.opted_out else giver.name
        values: dict[str, object] = {
            "points": format_points(row.points, ctx.locale.language, sign=True),
            "reason": ctx.locale.t(f"karma.reasons.{row.reason}"),
            "giver": giver_name,
            "note": f" ({row.note})" if row.note else (f" {row.emoji}" if row.emoji else ""),
        }
        if row.message_id and row.chat:
            values.update(message_id=row.message_id, chat=row.chat)
            lines.append(ctx.locale.t("karma.why_line", **values))
        else:
            lines.append(ctx.locale.t("karma.why_line_nolink", **values))
    return Outcome(actions=[_reply(event, "\n".join(lines))])


async def top(event: CommandIssued, ctx: Context[KarmaSettings]) -> Outcome:
    """``/top [week|month|all]``: the members with the most karma in a period."""
    period = PERIODS.get(event.args[0].lower(), "") if event.args else "all"
    if not period:
        return Outcome(
            actions=[_reply(event, ctx.locale.t("core.usage", usage="/top [week|month|all]"))]
        )
    tz = ctx.community.timezone
    since = {"week": week_start(ctx.now, tz), "month": month_start(ctx.now, tz), "all": None}[
        period
    ]
    size = ctx.settings.top_size
    if since is None:
        totals = await _leaders(ctx, size)
    else:
        totals = await _totals(ctx, since)
    ranked = sorted(((p, k) for k, p in totals.items() if p > 0), key=lambda x: (-x[0], x[1]))
    ranked = ranked[:size]
    if not ranked:
        return Outcome(actions=[_reply(event, ctx.locale.t("karma.top_empty"))])
    found = await profiles(ctx.store, [k for _, k in ranked])
    lines = [ctx.locale.t(f"karma.top_title_{period}")]
    for rank, (points, key) in enumerate(ranked, start=1):
        profile = found[key]
        name = (
            ctx.locale.t("karma.hidden")
            if _hidden(ctx, profile, event.author.key)
            else profile.name
        )
        lines.append(
            ctx.locale.t(
                "karma.top_line",
                rank=rank,
                name=name,
                points=format_points(points, ctx.locale.language),
            )
        )
    return Outcome(actions=[_reply(event, "\n".join(lines))])


def _parse_points(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if value == value else None  # NaN is no number of points


async def adjust(event: CommandIssued, ctx: Context[KarmaSettings], *, take: bool) -> Outcome:
    """``/karma give|take @member POINTS REASON``: a moderator's change, logged as such."""
    action = "take" if take else "give"
    author = event.author.key
    if not ctx.is_moderator(author, event.author_is_moderator):
        ctx.store.session.add(
            models.ModLogEntry(
                community=ctx.community.name,
                actor=author,
                action="refused",
                detail=f"/karma {action}",
                at=ctx.now,
            )
        )
        return Outcome(
            actions=[_reply(event, ctx.locale.t("karma.moderators_only", action=action))],
            decisions=[
                Decision(
                    "refused", event.message_id, {"command": f"karma {action}", "user": author}
                )
            ],
        )
    limit = ctx.settings.moderator_max_points
    usage = ctx.locale.t(
        "karma.give_usage", action=action, max=format_points(limit, ctx.locale.language)
    )
    args = event.args[1:]
    amount = _parse_points(args[1]) if len(args) >= 3 else None
    # Points are stored to two decimals: 0.001 would be a ledger row of nothing.
    if amount is None or not 0 < amount <= limit or round(amount, 2) == 0:
        return Outcome(actions=[_reply(event, usage)])
    target = await resolve(ctx, event, args[0])
    if not isinstance(target, str):
        return _unknown(ctx, event, args[0], target, by_reply=False)
    receiver = (await profiles(ctx.store, [target]))[target]
    # Linked accounts are one person: a moderator's other account is still themself.
    if author in receiver.all_keys:
        return Outcome(actions=[_reply(event, ctx.locale.t("karma.give_self"))])
    note = " ".join(args[2:])[:500]
    points = round(-amount if take else amount, 2)
    await ctx.store.karma.add(
        community=ctx.community.name,
        giver=author,
        receiver=target,
        points=points,
        reason="moderator",
        chat=event.chat,
        message_id=event.message_id,
        event_key=event.key,
        note=note,
        at=ctx.now,
    )
    names = await ctx.store.members.names([author, target])
    text = ctx.locale.t(
        "karma.taken" if take else "karma.given",
        moderator=defuse_mentions(names[author]),
        name=defuse_mentions(names[target]),
        points=format_points(amount, ctx.locale.language),
        note=note,
    )
    actions: list[Action] = [_reply(event, text)]
    decision = Decision(
        "karma",
        event.message_id,
        {
            "giver": author,
            "receiver": target,
            "points": points,
            "reason": "moderator",
            "rule": None,
            "note": note,
        },
    )
    outcome = Outcome(actions=actions, decisions=[decision])
    # Through the mod log like /warn: the row, a mod_action decision and the log chat.
    moderation: ModerationSettings = ctx.settings_of(ModerationSettings, MODERATION, event.chat)
    await mod_log(
        ctx,
        outcome,
        actor=author,
        action=f"karma_{action}",
        target=target,
        detail=f"{format_points(points, 'en', sign=True)} {note}",
        message_id=event.message_id,
        post=moderation.post_mod_log,
        extra={"points": points},
    )
    if not take:
        outcome.extend(await check_level(ctx, receiver, event.chat, event.message_id))
    return outcome
