"""The privacy feature: members see (``/mydata``), erase (``/forgetme``) and hide their data.

``/optout`` keeps a member out of summaries and leaderboards (``members.opted_out``; the
karma and summary features read it). Once a day, on a ``Tick``, message texts older than
``[bot] retention_days`` are erased (and settled outbox rows after a week at most);
counters, fingerprints and the ledger stay.
Decisions: ``privacy`` {action, member} (no member for ``forgotten``: that decision is
stored after the erasure) and ``mod_action`` for the purge.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from bot.actions import DirectMessage
from bot.events import CommandIssued, Event, Tick
from bot.features.base import CommandSpec, Context, Decision, FeatureSettings, Outcome
from bot.features.moderation import personal
from bot.features.moderation.common import (
    MODERATION,
    PRIVACY,
    accounts_of,
    answer,
    mod_log,
    reply,
    usage,
)
from bot.features.moderation.settings import ModerationSettings, PrivacySettings
from storage import models

Ctx = Context[PrivacySettings]
CONFIRM_WORDS = frozenset({"confirm", "bestätigen", "bestaetigen", "ja", "yes"})
FILENAME = "leumund-data.json"
# Days a delivered or failed action stays in the outbox (at most retention_days).
OUTBOX_DAYS = 7


def _pending_key(member: str) -> str:
    return f"forgetme:{member}"


class PrivacyFeature:
    """Lets members see, erase and hide what the bot stores about them."""

    name: ClassVar[str] = PRIVACY
    settings_model: ClassVar[type[FeatureSettings]] = PrivacySettings
    handles: ClassVar[tuple[type[Event], ...]] = (CommandIssued, Tick)
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("mydata", "/mydata", "privacy.help.mydata"),
        CommandSpec("forgetme", "/forgetme [confirm]", "privacy.help.forgetme"),
        CommandSpec("optout", "/optout", "privacy.help.optout"),
        CommandSpec("optin", "/optin", "privacy.help.optin"),
    )

    async def handle(self, event: Any, ctx: Ctx) -> Outcome:
        """Route a command, or purge old texts on a tick."""
        if isinstance(event, Tick):
            return await self._purge(ctx)
        if not isinstance(event, CommandIssued):
            return Outcome()
        match event.name:
            case "mydata":
                return await self._mydata(event, ctx)
            case "forgetme":
                return await self._forgetme(event, ctx)
            case "optout" | "optin":
                return await self._opt(event, ctx, out=event.name == "optout")
        return Outcome()

    # --- /mydata ------------------------------------------------------------------------

    async def _mydata(self, event: CommandIssued, ctx: Ctx) -> Outcome:
        if event.args:
            return answer(event, usage(ctx, "mydata"))
        author = event.author.key
        keys = await accounts_of(ctx, author)
        document = await personal.collect(ctx.store.session, keys, ctx.now)
        data = personal.to_json(document)
        locale = ctx.locale
        outcome = Outcome(
            actions=[
                DirectMessage(
                    chat=event.chat,
                    member=author,
                    text=locale.t(
                        "privacy.mydata_text",
                        days=ctx.config.bot.retention_days,
                        messages=len(document["messages"]),
                    ),
                    attachment=data,
                    filename=FILENAME,
                )
            ],
            decisions=[
                Decision(
                    "privacy",
                    event.message_id,
                    {"action": "mydata", "member": author, "bytes": len(data)},
                )
            ],
        )
        if not event.private:
            outcome.actions.insert(0, reply(event, locale.t("privacy.mydata_sent")))
        return outcome

    # --- /forgetme ----------------------------------------------------------------------

    async def _forgetme(self, event: CommandIssued, ctx: Ctx) -> Outcome:
        author = event.author.key
        community = ctx.community.name
        minutes = ctx.settings.confirm_minutes
        if not event.args:
            await ctx.store.state.set(
                PRIVACY, community, _pending_key(author), {"at": ctx.now.isoformat()}, ctx.now
            )
            return Outcome(
                actions=[reply(event, ctx.locale.t("privacy.forgetme_ask", minutes=minutes))],
                decisions=[
                    Decision(
                        "privacy",
                        event.message_id,
                        {"action": "forgetme_requested", "member": author},
                    )
                ],
            )
        if len(event.args) != 1 or event.args[0].lower() not in CONFIRM_WORDS:
            return answer(event, usage(ctx, "forgetme"))
        pending = await ctx.store.state.get(PRIVACY, community, _pending_key(author))
        asked = (
            datetime.fromisoformat(str(pending["at"]))
            if isinstance(pending, dict) and "at" in pending
            else None
        )
        if asked is None or ctx.now - asked > timedelta(minutes=minutes):
            return answer(event, ctx.locale.t("privacy.forgetme_not_asked", minutes=minutes))
        keys = await accounts_of(ctx, author)
        forgotten = await personal.forget(ctx.store.session, keys)
        for identity in forgotten:
            # Written after the sweep, so it carries the anonymous key only.
            ctx.store.session.add(
                models.ModLogEntry(
                    community=community,
                    actor=identity.anonymous,
                    action="forgotten",
                    target=identity.anonymous,
                    detail="/forgetme",
                    at=ctx.now,
                )
            )
        return Outcome(
            actions=[reply(event, ctx.locale.t("privacy.forgetme_done"))],
            decisions=[
                Decision(
                    "privacy",
                    event.message_id,
                    {"action": "forgotten", "accounts": len(forgotten)},
                )
            ],
        )

    # --- /optout, /optin ----------------------------------------------------------------

    async def _opt(self, event: CommandIssued, ctx: Ctx, *, out: bool) -> Outcome:
        if event.args:
            return answer(event, usage(ctx, event.name))
        author = event.author.key
        keys = await accounts_of(ctx, author)
        await ctx.store.session.execute(
            update(models.Member).where(col(models.Member.key).in_(keys)).values(opted_out=out)
        )
        text = ctx.locale.t("privacy.opted_out" if out else "privacy.opted_in")
        return Outcome(
            actions=[reply(event, text)],
            decisions=[
                Decision(
                    "privacy",
                    event.message_id,
                    {"action": event.name, "member": author},
                )
            ],
        )

    # --- the daily purge ----------------------------------------------------------------

    async def _purge(self, ctx: Ctx) -> Outcome:
        if not ctx.settings.purge_texts:
            return Outcome()
        community = ctx.community.name
        day = ctx.now.date().isoformat()
        # The job row is the only memory of the day's purge: an in-process flag would
        # outlive a rolled-back transaction and skip the purge.
        session = ctx.store.session
        job = f"privacy:purge:{community}:{day}"
        insert = (
            postgresql.insert(models.SchedulerRun)
            if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert(models.SchedulerRun)
        )
        claimed = await session.execute(
            insert.values(job=job, at=ctx.now).on_conflict_do_nothing(index_elements=["job"])
        )
        if not cast("CursorResult[Any]", claimed).rowcount:
            return Outcome()  # another process (or an earlier run today) did it
        days = ctx.config.bot.retention_days
        message = models.Message
        result = await session.execute(
            update(message)
            .where(
                col(message.community) == community,
                col(message.at) < ctx.now - timedelta(days=days),
                col(message.text).is_not(None),
            )
            .values(text=None)
        )
        count = int(cast("CursorResult[Any]", result).rowcount or 0)
        # Delivered actions (their texts name members) are kept only to look into
        # recent deliveries; a settled row is never sent again, so it can go.
        await ctx.store.outbox.purge(ctx.now - timedelta(days=min(days, OUTBOX_DAYS)))
        outcome = Outcome()
        if count:
            moderation: ModerationSettings = ctx.settings_of(ModerationSettings, MODERATION, None)
            await mod_log(
                ctx,
                outcome,
                actor=None,
                action="purge_texts",
                detail=f"{count} message texts older than {days} days",
                post=moderation.post_mod_log,
                extra={"count": count, "days": days},
            )
        return outcome
