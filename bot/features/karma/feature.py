"""The karma feature: thanks and reactions become ledger rows, within the fair rules.

Flow of a message: a cheap lexicon check first (no database work for the many messages
that thank nobody), then whom to credit (``credit.whom_to_credit``), then the fair rules
(``rules.judge``) per receiver, then the ledger row, the acknowledgement and level-ups.

Points of an award = base points (``thanks_points`` or ``reaction_points``)
x weight, where weight = clamp(weight_min + sqrt(giver karma) / weight_divisor,
weight_min, weight_max), times ``new_member_factor`` for givers first seen less than
``new_member_days`` ago; x ``ring_factor`` inside a ring; cut to the daily caps.
Defaults: a giver without karma gives half, from 25 karma on the full points.

Edits and deletions: a thanks message edited into something that is no thanks, or
deleted, has its awards reversed; deleting a message also reverses the reactions it got.
A message edited *into* a thanks earns nothing (the moment and its context have passed).
Decisions: ``karma`` per award, ``karma_blocked`` per block (``rule`` says which),
``karma_reversed`` per reversal.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bot.actions import Action, Button, React, Reply, ReviewRequest
from bot.events import (
    CommandIssued,
    Event,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.features.base import CommandSpec, Context, Decision, FeatureSettings, Outcome
from bot.features.karma import link as linking
from bot.features.karma import views
from bot.features.karma.credit import Said, Target, whom_to_credit
from bot.features.karma.detect import detect_thanks, explain_thanks, normalize_emoji
from bot.features.karma.flows import RecentLedger
from bot.features.karma.levels import check_level
from bot.features.karma.link import FEATURE, Profile, profiles
from bot.features.karma.rules import RING, Ledger, RingFinding, Verdict, judge, windows_at
from bot.features.karma.settings import KarmaSettings
from bot.text import defuse_mentions
from storage import models

Ctx = Context[KarmaSettings]


@functools.cache
def _emoji_set(emoji: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalize_emoji(e) for e in emoji)


def _blocked(
    message_id: str | None, giver: str, receiver: str | None, rule: str, **extra: Any
) -> Decision:
    return Decision(
        "karma_blocked", message_id, {"giver": giver, "receiver": receiver, "rule": rule, **extra}
    )


class KarmaFeature:
    """Karma for helpful answers: thanks and reactions, fair rules, a ledger anyone can read."""

    name: ClassVar[str] = FEATURE
    settings_model: ClassVar[type[FeatureSettings]] = KarmaSettings
    handles: ClassVar[tuple[type[Event], ...]] = (
        MessagePosted,
        MessageEdited,
        MessageDeleted,
        ReactionAdded,
        ReactionRemoved,
        CommandIssued,
    )
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("karma", "/karma [@name] | why [@name]", "karma.help_karma"),
        CommandSpec("top", "/top [week|month|all]", "karma.help_top"),
        CommandSpec("link", "/link [code]", "karma.help_link"),
        CommandSpec("unlink", "/unlink", "karma.help_unlink"),
    )

    def __init__(self) -> None:
        # When the bot first saw each community: fixed once known, so read only once.
        self._starts: dict[str, datetime] = {}
        # The recent ledger, for the rules; kept only where this process writes every row.
        self._recent = RecentLedger()

    def reset(self) -> None:
        """Forget what is kept in memory: a transaction rolled back, or rows were rewritten."""
        self._recent.clear()

    async def preload(self, ctx: Ctx) -> None:
        """Read the ledger's recent rows and the community's start before the first award."""
        await self._community_start(ctx)
        recent = self._kept(ctx)
        if recent is not None:
            windows = windows_at(ctx.settings, ctx.now, ctx.community.timezone)
            await recent.flows(ctx.store, ctx.community.name, ctx.now, windows)

    def _kept(self, ctx: Ctx) -> RecentLedger | None:
        # On a shared database (PostgreSQL) other processes write to the ledger too.
        return None if ctx.store.shared else self._recent

    # --- the Analyser protocol (``leumund analyze`` / ``leumund explain``) ----------------

    def analyse(self, text: str, language: str | None) -> Mapping[str, Any]:
        """Whether a text thanks someone."""
        return {"thanks": {"is": detect_thanks(text, language) is not None}}

    def explain(self, text: str, language: str | None) -> list[str]:
        """Why a text counts as thanks or not."""
        return [explain_thanks(text, language)]

    # --- events ---------------------------------------------------------------------------

    async def handle(self, event: Any, ctx: Ctx) -> Outcome:
        """Dispatch an event to its handler."""
        match event:
            case MessagePosted():
                return await self._thanks(event, ctx)
            case ReactionAdded():
                return await self._reaction(event, ctx)
            case ReactionRemoved():
                return await self._reaction_removed(event, ctx)
            case MessageEdited():
                return await self._edited(event, ctx)
            case MessageDeleted():
                return await self._deleted(event, ctx)
            case CommandIssued():
                return await self._command(event, ctx)
        return Outcome()

    async def _command(self, event: CommandIssued, ctx: Ctx) -> Outcome:
        match event.name:
            case "karma":
                return await views.karma(event, ctx)
            case "top":
                return await views.top(event, ctx)
            case "link":
                return await linking.link(event, ctx)
            case "unlink":
                return await linking.unlink(event, ctx)
        return Outcome()

    async def _thanks(self, event: MessagePosted, ctx: Ctx) -> Outcome:
        if event.forwarded:
            return Outcome()  # a forwarded thanks was meant for someone elsewhere
        match = detect_thanks(event.text, ctx.community.language)
        if match is None:
            return Outcome()
        store, settings, chat = ctx.store, ctx.settings, event.chat
        await store.messages.set_fields(chat, event.message_id, is_thanks=True)
        giver_key = event.author.key
        if event.author.is_bot:
            return Outcome(decisions=[_blocked(event.message_id, giver_key, None, "bot")])
        reply_author = event.reply_author
        rows: list[models.Message] = []
        explicit = bool(event.mentions) or (reply_author not in (None, giver_key))
        if not explicit and (event.reply_to is None or reply_author is not None):
            rows = await self._context_rows(event, ctx)
        # One lookup for everybody this thanks may concern.
        keys = {giver_key, *event.mentions, *(r.author for r in rows)}
        found = await profiles(store, keys | ({reply_author} if reply_author else set()))
        giver = found[giver_key]
        context = [
            Said(
                author=row.author,
                message_id=row.message_id,
                reply_to=row.reply_to,
                reply_to_author=row.reply_to_author,
                mentions=tuple(row.mentions or ()),
                is_bot=found[row.author].is_bot,
                thread=row.thread,
            )
            for row in rows
        ]
        credit = whom_to_credit(
            giver.all_keys,
            reply_to=event.reply_to,
            reply_to_author=reply_author,
            mentions=event.mentions,
            context=context,
            thread=event.thread,
            max_receivers=settings.max_receivers,
        )
        outcome = Outcome()
        mid = event.message_id
        if credit.nobody is not None:
            extra = {"candidates": list(credit.candidates)} if credit.candidates else {}
            outcome.decisions.append(_blocked(mid, giver_key, None, credit.nobody, **extra))
            return outcome
        for member in credit.dropped:
            outcome.decisions.append(_blocked(mid, giver_key, member, "max_receivers"))
        # Everybody this thanks credits, locked at once (in one order) before the first
        # award, rather than receiver by receiver in the awards below.
        receivers = (key for t in credit.targets for key in found[t.member].all_keys)
        await ctx.store.locks.members(*giver.all_keys, *receivers)
        awarded: list[Profile] = []
        for target in credit.targets:
            receiver = found[target.member]
            got = await self._award(
                ctx,
                event,
                giver,
                receiver,
                settings.thanks_points,
                reason="thanks",
                source=mid,
                target=target,
                emoji=None,
            )
            outcome.extend(got)
            if any(d.kind == "karma" for d in got.decisions):
                awarded.append(receiver)
        if awarded:
            outcome.actions[:0] = await self._acknowledge(event, ctx, awarded)
        return outcome

    async def _context_rows(self, event: MessagePosted, ctx: Ctx) -> list[models.Message]:
        """The chat's messages before the thanks within the window, newest first."""
        window = timedelta(minutes=ctx.settings.context_window_minutes)
        rows = await ctx.store.messages.recent(event.chat, ctx.now - window, ctx.now, limit=50)
        # Rows stored after the thanks (same moment, later id) are not its context.
        position = next((i for i, r in enumerate(rows) if r.message_id == event.message_id), -1)
        return list(rows[position + 1 :])

    async def _community_start(self, ctx: Ctx) -> datetime | None:
        name = ctx.community.name
        if name not in self._starts:
            start = await Ledger(ctx.store, name).community_start()
            if start is None:
                return None
            self._starts[name] = start
        return self._starts[name]

    async def _award(
        self,
        ctx: Ctx,
        event: MessagePosted | ReactionAdded,
        giver: Profile,
        receiver: Profile,
        base_points: float,
        *,
        reason: str,
        source: str,
        target: Target | None,
        emoji: str | None,
    ) -> Outcome:
        """Judge one award and write it to the ledger if the rules let it through."""
        # The rules read the ledger (cooldowns, daily caps) before this writes to it: two
        # processes judging awards of the same members at once would both see the same
        # room. The locks make them take turns until commit (PostgreSQL; no-op on SQLite).
        await ctx.store.locks.members(*giver.all_keys, *receiver.all_keys)
        start = await self._community_start(ctx)
        recent = self._kept(ctx)
        verdict = await judge(
            ctx, giver, receiver, base_points, community_start=start, recent=recent
        )
        if verdict.blocked:
            rule = verdict.rule or "blocked"
            return Outcome(decisions=[_blocked(source, giver.key, receiver.key, rule)])
        outcome = Outcome()
        if verdict.points > 0:
            entry = await ctx.store.karma.add(
                community=ctx.community.name,
                giver=giver.key,
                receiver=receiver.key,
                points=verdict.points,
                reason=reason,
                rule=verdict.rule,
                chat=event.chat,
                message_id=source,
                target_message_id=target.message_id if target else source,
                emoji=emoji,
                event_key=event.key,
                at=ctx.now,
            )
            if recent is not None:
                recent.record(
                    ctx.community.name, giver.key, receiver.key, verdict.points, ctx.now, reason
                )
            data: dict[str, Any] = {
                "giver": giver.key,
                "receiver": receiver.key,
                "points": verdict.points,
                "reason": reason,
                "rule": verdict.rule,
                "weight": verdict.weight,
                "entry": entry,
            }
            if target is not None:
                data["via"] = target.via
            outcome.decisions.append(Decision("karma", source, data))
            before = verdict.receiver_total
            after = None if before is None else before + verdict.points
            level = await check_level(ctx, receiver, event.chat, source, before=before, after=after)
            outcome.extend(level)
        if verdict.ring is not None:
            outcome.extend(await self._ring(ctx, event, giver, receiver, verdict, verdict.ring))
        elif verdict.points <= 0:  # nothing left under a cap after rounding
            rule = verdict.rule or "zero"
            outcome.decisions.append(_blocked(source, giver.key, receiver.key, rule))
        return outcome

    async def _ring(
        self,
        ctx: Ctx,
        event: MessagePosted | ReactionAdded,
        giver: Profile,
        receiver: Profile,
        verdict: Verdict,
        ring: RingFinding,
    ) -> Outcome:
        """Log the reduction and put the ring before the moderators once."""
        source = event.message_id
        outcome = Outcome(
            decisions=[
                _blocked(
                    source,
                    giver.key,
                    receiver.key,
                    RING,
                    reduced_to=verdict.points,
                    members=list(ring.members),
                )
            ]
        )
        if verdict.ring_case_known:
            return outcome
        names = await ctx.store.members.names(ring.members)
        language = ctx.locale.language
        summary = ctx.locale.t(
            "karma.ring_case",
            members=", ".join(defuse_mentions(names[m]) for m in ring.members),
            inside=views.format_points(ring.inside, language),
            received=views.format_points(ring.received, language),
            days=ctx.settings.ring_window_days,
        )
        case = await ctx.store.cases.open(
            models.Case(
                community=ctx.community.name,
                kind="ring",
                subject=",".join(ring.members)[:128],
                chat=event.chat,
                message_id=source,
                score=round(ring.inside / ring.received, 3),
                summary=summary[:1024],
                evidence={
                    "members": list(ring.members),
                    "accounts": list(ring.accounts),
                    "inside": ring.inside,
                    "received": ring.received,
                    "given": ring.given,
                    "window_days": ctx.settings.ring_window_days,
                },
                opened_at=ctx.now,
            )
        )
        assert case.id is not None
        outcome.decisions.append(
            Decision(
                "case_opened",
                source,
                {"case": case.id, "kind": "ring", "members": list(ring.members)},
            )
        )
        moderator_chat = ctx.community.section.moderator_chat
        if moderator_chat:
            outcome.actions.append(
                ReviewRequest(
                    chat=moderator_chat,
                    case_id=case.id,
                    text=summary,
                    buttons=(
                        Button(
                            label=ctx.locale.t("karma.ring_confirm"),
                            custom_id=f"case:{case.id}:confirm",
                        ),
                        Button(
                            label=ctx.locale.t("karma.ring_dismiss"),
                            custom_id=f"case:{case.id}:dismiss",
                        ),
                    ),
                )
            )
        return outcome

    async def _acknowledge(
        self, event: MessagePosted, ctx: Ctx, receivers: list[Profile]
    ) -> list[Action]:
        """React to the thanks, or say so in a rate-limited message, or nothing."""
        mode = ctx.settings.acknowledge
        if mode == "react":
            return [
                React(
                    chat=event.chat,
                    message_id=event.message_id,
                    emoji=ctx.settings.acknowledge_emoji,
                )
            ]
        if mode == "silent":
            return []
        key = f"ack:{event.chat}"
        last = await ctx.store.state.get(FEATURE, ctx.community.name, key)
        interval = timedelta(minutes=ctx.settings.acknowledge_interval_minutes)
        if last is not None and ctx.now - datetime.fromisoformat(str(last)) < interval:
            return []
        await ctx.store.state.set(FEATURE, ctx.community.name, key, ctx.now.isoformat(), ctx.now)
        hidden = ctx.locale.t("karma.hidden")
        names = ", ".join(hidden if r.opted_out else r.name for r in receivers)
        # Seeded by the event, so a replay picks the same words.
        text = ctx.locale.pick("karma.ack", random.Random(event.key), names=names)
        return [Reply(chat=event.chat, text=text, reply_to=event.message_id)]

    async def _reaction(self, event: ReactionAdded, ctx: Ctx) -> Outcome:
        emoji = normalize_emoji(event.emoji)
        if emoji not in _emoji_set(ctx.settings.reaction_emoji):
            return Outcome()
        message = await ctx.store.messages.get(event.chat, event.message_id)
        if message is None or message.deleted:
            return Outcome()
        found = await profiles(ctx.store, [event.user.key, message.author])
        giver, receiver = found[event.user.key], found[message.author]
        if event.user.is_bot and not giver.is_bot:
            giver = Profile(key=giver.key, name=giver.name, is_bot=True, accounts=giver.accounts)
        outcome = await self._award(
            ctx,
            event,
            giver,
            receiver,
            ctx.settings.reaction_points,
            reason="reaction",
            source=event.message_id,
            target=None,
            emoji=emoji,
        )
        return outcome

    async def _reaction_removed(self, event: ReactionRemoved, ctx: Ctx) -> Outcome:
        emoji = normalize_emoji(event.emoji)
        if emoji not in _emoji_set(ctx.settings.reaction_emoji):
            return Outcome()
        awards = await _open_awards(
            ctx, event.chat, event.message_id, giver=event.user.key, emoji=emoji
        )
        return await _reverse(ctx, event.key, awards, "reaction_removed", self._kept(ctx))

    async def _edited(self, event: MessageEdited, ctx: Ctx) -> Outcome:
        if detect_thanks(event.text, ctx.community.language) is not None:
            return Outcome()
        message = await ctx.store.messages.get(event.chat, event.message_id)
        if message is None or not message.is_thanks:
            return Outcome()
        await ctx.store.messages.set_fields(event.chat, event.message_id, is_thanks=False)
        awards = await _open_awards(ctx, event.chat, event.message_id)
        thanks = [a for a in awards if a.reason == "thanks"]
        return await _reverse(ctx, event.key, thanks, "edited", self._kept(ctx))

    async def _deleted(self, event: MessageDeleted, ctx: Ctx) -> Outcome:
        awards = await _open_awards(ctx, event.chat, event.message_id)
        return await _reverse(ctx, event.key, awards, "deleted", self._kept(ctx))


async def _open_awards(
    ctx: Ctx, chat: str, message_id: str, *, giver: str | None = None, emoji: str | None = None
) -> list[models.KarmaEntry]:
    """The message's awards not reversed yet, read under the message's lock.

    An edit and a deletion of one message handled by two processes at once would both
    find the same open awards and reverse them twice; with the lock the second waits and
    then finds them reversed.
    """
    await ctx.store.locks.hold(f"karma:message:{chat}:{message_id}")
    return await ctx.store.karma.open_awards(
        ctx.community.name, chat, message_id, giver=giver, emoji=emoji
    )


async def _reverse(
    ctx: Ctx,
    event_key: str,
    awards: list[models.KarmaEntry],
    cause: str,
    recent: RecentLedger | None,
) -> Outcome:
    """Append a negative row for each award; the originals stay (the ledger is append-only)."""
    outcome = Outcome()
    for award in awards:
        row = await ctx.store.karma.add(
            community=ctx.community.name,
            giver=award.giver,
            receiver=award.receiver,
            points=-award.points,
            reason="reversal",
            rule=cause,
            chat=award.chat,
            message_id=award.message_id,
            target_message_id=award.target_message_id,
            emoji=award.emoji,
            event_key=event_key,
            reverses=award.id,
            at=ctx.now,
        )
        if recent is not None:
            recent.record(
                ctx.community.name, award.giver, award.receiver, -award.points, ctx.now, "reversal"
            )
        outcome.decisions.append(
            Decision(
                "karma_reversed",
                award.message_id,
                {
                    "giver": award.giver,
                    "receiver": award.receiver,
                    "points": -award.points,
                    "reverses": award.id,
                    "entry": row,
                    "cause": cause,
                },
            )
        )
    return outcome
