"""The complaints feature: a quick, kind answer to every complaint and a case until a person
from the team has answered.

What happens to a message a member posts:

1. ``detect`` scores it (pure, cheap for ordinary messages). Moderators and helpers are
   not checked: they answer complaints, their messages may resolve cases instead (4.).
2. A complaint opens a case (``kind="complaint"``, due after ``escalate_after_hours``) and
   a ``Complaint`` row. If the same member complained within ``repeat_window_hours``, the
   severity is at least medium. A complaint in the thread of an open complaint case is a
   follow-up of that case instead (no new case, no second answer); a follow-up of high
   severity still pings the moderators.
3. The answer, in the community's language, or in the other language when the message is
   clearly written in it (its function words say so, see ``guess_language``): low and
   medium complaints get a light, self-deprecating reply (or a plain one with
   ``humour = false``), high severity a serious one and at once a ``ReviewRequest`` in the
   moderator chat. Templates are never repeated in a chat within a week while unused ones
   are left (the used variant indexes per chat live in the feature state). No answer when
   the thread was answered already, when the member got an answer within
   ``reply_cooldown_hours``, or with ``response_mode = "silent"``.
4. A message by a moderator or a helper (``helpers``) resolves the open complaint cases of
   its chat that it answers, which means it (a) replies to the complaint or to any message
   whose reply chain leads to it, (b) replies to a later message of the complainer, (c)
   replies to a message the bot never stored (its own answers: platforms do not echo them)
   posted after the complaint and before the next stored message of that chat, when the
   bot had replied to that complaint, (d) mentions the complainer, or (e) is posted in a
   platform thread started from the complaint (thread id = the complaint's message id).
   A responder never resolves their own complaint. The case gets ``first_response_at``,
   ``closed_at``, ``closed_by`` and status "resolved".
5. On ``Tick`` every open complaint case past its ``due_at`` that was not escalated yet is
   escalated once: ``escalated_at`` is set and the moderator chat gets a ``ReviewRequest``.

Thread of a complaint, for "never answer the same thread twice": replies whose chain leads
to the complaint, replies to the bot's answer (as in 4c), messages in a platform thread
started from the complaint, and further complaints of the same member in the same platform
thread (a Telegram topic) while the case is open.

Ordinary messages cost no query: only complaints, and messages by moderators or helpers
that reply or mention in a chat that has open complaint cases (a set kept in memory,
rebuilt on every Tick), touch the database.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Select, bindparam, select
from sqlmodel import col

from bot import text as textlib
from bot.actions import Action, React, Reply, ReviewRequest
from bot.events import Event, MessagePosted, Tick
from bot.features.base import CommandSpec, Context, Decision, FeatureSettings, Outcome
from bot.features.complaints.detect import ComplaintResult, Severity, detect, explain
from bot.features.complaints.settings import ComplaintsSettings
from bot.locales import get_locale
from storage import models
from storage.repositories import Query

FEATURE = "complaints"
KIND = "complaint"
NO_REPEAT = timedelta(days=7)
# How far up a reply chain the thread is followed.
MAX_HOPS = 8
# How many recent complaint cases of a chat are considered for a reply to the bot.
RECENT_CASES = 20
EXCERPT = 200
# Whether a member complained since a moment (for every complaint).
_COMPLAINED = Query(
    select(col(models.Complaint.id))
    .where(
        col(models.Complaint.community) == bindparam("community"),
        col(models.Complaint.member) == bindparam("member"),
        col(models.Complaint.at) >= bindparam("since"),
    )
    .limit(1)
)


class ComplaintsFeature:
    """Answers complaints humour-first (seriously when it matters) and tracks a case each."""

    name: ClassVar[str] = FEATURE
    settings_model: ClassVar[type[FeatureSettings]] = ComplaintsSettings
    handles: ClassVar[tuple[type[Event], ...]] = (MessagePosted, Tick)
    commands: ClassVar[tuple[CommandSpec, ...]] = ()

    def __init__(self) -> None:
        # Chats with open complaint cases per community; a superset is harmless (it only
        # costs a query), so entries are added at once and dropped when a query finds none.
        self._open_chats: dict[str, set[str]] = {}

    # --- analyser ----------------------------------------------------------------------

    def analyse(self, text: str, language: str | None) -> Mapping[str, Any]:
        """The complaint verdict for ``leumund analyze``."""
        result = detect(text, language)
        return {
            "complaint": {
                "is": result.is_complaint,
                "score": result.score,
                "severity": result.severity,
            }
        }

    def explain(self, text: str, language: str | None) -> list[str]:
        """Why a text is (not) a complaint, signal by signal, for ``leumund explain``."""
        return explain(detect(text, language), locale=get_locale(language or "en"))

    # --- events ------------------------------------------------------------------------

    async def handle(self, event: Any, ctx: Context[ComplaintsSettings]) -> Outcome:
        """Detect and answer complaints, resolve them on replies, escalate them on ticks."""
        if isinstance(event, Tick):
            return await self._tick(ctx)
        if isinstance(event, MessagePosted):
            return await self._message(event, ctx)
        return Outcome()

    async def _message(self, event: MessagePosted, ctx: Context[ComplaintsSettings]) -> Outcome:
        author = event.author
        if author.is_bot or author.key in ctx.bot_members or event.forwarded:
            return Outcome()
        if ctx.is_moderator(author.key, event.author_is_moderator) or (
            author.key in ctx.settings.helpers
        ):
            if (event.reply_to or event.mentions or event.thread) and (
                event.chat in await self._chats_with_open_cases(ctx)
            ):
                return await self._resolve(event, ctx)
            return Outcome()
        result = detect(event.text, ctx.locale.language, threshold=ctx.settings.threshold)
        if not result.is_complaint:
            return Outcome()
        return await self._complaint(event, ctx, result)

    # --- a new complaint ---------------------------------------------------------------

    async def _complaint(
        self, event: MessagePosted, ctx: Context[ComplaintsSettings], result: ComplaintResult
    ) -> Outcome:
        settings, store, now = ctx.settings, ctx.store, ctx.now
        member = event.author.key
        assert result.severity is not None
        severity: Severity = result.severity
        signals = result.labels
        thread_case = await self._thread_case(event, ctx)
        if thread_case is not None and thread_case.status == "open":
            return await self._follow_up(event, ctx, result, thread_case)
        if severity == "low" and await self._complained_since(
            ctx, member, now - timedelta(hours=settings.repeat_window_hours)
        ):
            severity = "medium"
            signals.append("repeated")
        if settings.response_mode == "silent":
            response = "silent"
        elif thread_case is not None and thread_case.evidence.get("answered"):
            response = "thread"
        elif await self._cooling_down(ctx, member):
            response = "cooldown"
        else:
            response = settings.response_mode
        case = await store.cases.open(
            models.Case(
                community=ctx.community.name,
                kind=KIND,
                subject=member,
                chat=event.chat,
                message_id=event.message_id,
                score=result.score,
                summary=f"{severity}: {', '.join(signals)}"[:1024],
                evidence={
                    "severity": severity,
                    "signals": signals,
                    # answered: the bot reacted or replied; replied: it posted a message.
                    "answered": response in ("reply", "react"),
                    "replied": response == "reply",
                    "thread": event.thread,
                    "language": result.language,
                },
                opened_at=now,
                due_at=now + timedelta(hours=settings.escalate_after_hours),
            )
        )
        assert case.id is not None
        await store.cases.add_complaint(
            community=ctx.community.name,
            case_id=case.id,
            member=member,
            chat=event.chat,
            message_id=event.message_id,
            score=result.score,
            severity=severity,
            at=now,
        )
        if ctx.community.name in self._open_chats:
            self._open_chats[ctx.community.name].add(event.chat)
        actions: list[Action] = []
        decisions = [
            Decision(
                "complaint",
                event.message_id,
                {
                    "user": member,
                    "score": result.score,
                    "severity": severity,
                    "signals": signals,
                    "case": case.id,
                    "response": response,
                },
            )
        ]
        if response == "reply":
            text = await self._answer(event, ctx, result, severity)
            actions.append(
                Reply(chat=event.chat, text=text, reply_to=event.message_id, thread=event.thread)
            )
            decisions.append(
                Decision("reply", event.message_id, {"text": text, "chat": event.chat})
            )
        elif response == "react":
            actions.append(
                React(chat=event.chat, message_id=event.message_id, emoji=settings.react_emoji)
            )
        if response in ("reply", "react"):
            await store.state.set(
                FEATURE, ctx.community.name, _reply_key(member), now.isoformat(), now
            )
        if severity == "high":
            actions.extend(self._ping(event, ctx, case, severity))
        return Outcome(actions=actions, decisions=decisions)

    async def _follow_up(
        self,
        event: MessagePosted,
        ctx: Context[ComplaintsSettings],
        result: ComplaintResult,
        case: models.Case,
    ) -> Outcome:
        """A further complaint in the thread of an open case: noted on the case, no answer."""
        assert case.id is not None and result.severity is not None
        ctx.store.session.add(
            models.CaseEvent(
                case_id=case.id,
                actor=event.author.key,
                action="follow_up",
                note=f"{event.chat} #{event.message_id}: {result.severity}",
                at=ctx.now,
            )
        )
        decision = Decision(
            "complaint",
            event.message_id,
            {
                "user": event.author.key,
                "score": result.score,
                "severity": result.severity,
                "signals": result.labels,
                "case": case.id,
                "response": "thread",
                "follow_up": True,
            },
        )
        actions: list[Action] = []
        if result.severity == "high" and case.evidence.get("severity") != "high":
            # The thread turned serious: the moderators hear of it now, not at the deadline.
            case.evidence = {**case.evidence, "severity": "high"}
            actions.extend(self._ping(event, ctx, case, "high"))
        return Outcome(actions=actions, decisions=[decision])

    async def _answer(
        self,
        event: MessagePosted,
        ctx: Context[ComplaintsSettings],
        result: ComplaintResult,
        severity: Severity,
    ) -> str:
        """The reply text: a template variant not used in this chat for a week."""
        settings = ctx.settings
        language = result.language or ctx.locale.language
        locale = ctx.locale if language == ctx.locale.language else get_locale(language)
        custom = {
            "low": settings.templates_low,
            "medium": settings.templates_medium,
            "high": settings.templates_high,
        }[severity]
        if custom:
            options, bucket = tuple(custom), f"custom:{severity}"
        else:
            key = severity if severity == "high" or settings.humour else "plain"
            options, bucket = locale.variants(f"complaints.{key}"), f"{locale.language}:{key}"
        index = await self._pick(ctx, event, bucket, len(options))
        hours = (
            settings.support_hours_by_language.get(locale.language)
            or settings.support_hours
            or locale.t("complaints.support_hours")
        )
        # The name is the member's own choice: "@everyone" or "<@&role>" must ping nobody.
        name = textlib.defuse_mentions(event.author.name)
        text = options[index].format(name=name, hours=hours)
        if result.has("crisis"):
            text += " " + locale.t("complaints.crisis_note")
        elif result.has("safety") or result.has("health"):
            text += " " + locale.t("complaints.safety_note")
        return text

    async def _pick(
        self, ctx: Context[ComplaintsSettings], event: MessagePosted, bucket: str, count: int
    ) -> int:
        """A variant index unused in this chat for a week, else the least recently used."""
        key = f"variants:{event.chat}"
        state: dict[str, dict[str, str]] = dict(
            await ctx.store.state.get(FEATURE, ctx.community.name, key, {})
        )
        cutoff = ctx.now - NO_REPEAT
        used: dict[int, datetime] = {}
        for raw, at in state.get(bucket, {}).items():
            moment = datetime.fromisoformat(at)
            if moment > cutoff and int(raw) < count:
                used[int(raw)] = moment
        free = [i for i in range(count) if i not in used]
        # Seeded by the event, so a replay picks the same variants.
        rng = random.Random(zlib.crc32(f"{event.chat}:{event.message_id}".encode()))
        index = rng.choice(free) if free else min(used, key=lambda i: (used[i], i))
        used[index] = ctx.now
        state[bucket] = {str(i): moment.isoformat() for i, moment in sorted(used.items())}
        await ctx.store.state.set(FEATURE, ctx.community.name, key, state, ctx.now)
        return index

    def _ping(
        self,
        event: MessagePosted,
        ctx: Context[ComplaintsSettings],
        case: models.Case,
        severity: Severity,
    ) -> list[Action]:
        """A review request in the moderator chat, if the community has one."""
        target = ctx.community.section.moderator_chat
        if target is None or case.id is None:
            return []
        excerpt = textlib.normalize(event.text)
        if len(excerpt) > EXCERPT:
            excerpt = excerpt[: EXCERPT - 1].rstrip() + "…"
        text = ctx.locale.t(
            "complaints.mod_ping",
            case=case.id,
            severity=ctx.locale.t(f"complaints.severity_{severity}"),
            name=textlib.defuse_mentions(event.author.name),
            chat=event.chat,
            excerpt=textlib.defuse_mentions(excerpt),
        )
        return [ReviewRequest(chat=target, case_id=case.id, text=text)]

    # --- history -----------------------------------------------------------------------

    async def _complained_since(
        self, ctx: Context[ComplaintsSettings], member: str, since: datetime
    ) -> bool:
        """True if the member's earlier complaint in this community is recent enough."""
        params = {"community": ctx.community.name, "member": member, "since": since}
        return await _COMPLAINED.first(ctx.store.session, params) is not None

    async def _cooling_down(self, ctx: Context[ComplaintsSettings], member: str) -> bool:
        """True if the bot answered this member within ``reply_cooldown_hours``."""
        last = await ctx.store.state.get(FEATURE, ctx.community.name, _reply_key(member))
        if last is None:
            return False
        since = ctx.now - datetime.fromisoformat(str(last))
        return since < timedelta(hours=ctx.settings.reply_cooldown_hours)

    async def _chain(
        self, ctx: Context[ComplaintsSettings], chat: str, reply_to: str
    ) -> tuple[list[models.Message], str | None]:
        """The stored messages up a reply chain, and the first id the store does not know."""
        rows: list[models.Message] = []
        current: str | None = reply_to
        seen: set[str] = set()
        while current is not None and current not in seen and len(rows) < MAX_HOPS:
            seen.add(current)
            row = await ctx.store.messages.get(chat, current)
            if row is None:
                return rows, current
            rows.append(row)
            current = row.reply_to
        return rows, None

    async def _case_before_unknown(
        self, ctx: Context[ComplaintsSettings], chat: str, unknown: str
    ) -> models.Case | None:
        """The complaint case whose bot answer a reply to an unstored message ``unknown`` is.

        Platforms do not echo the bot's own messages, so a reply to the bot's answer points
        at an id the store does not know. It belongs to the newest complaint before it if
        the bot answered that one and no stored message of the chat lies between them.
        """
        if not unknown.isdigit():
            return None
        position = int(unknown)
        stmt = (
            select(models.Case)
            .where(
                col(models.Case.community) == ctx.community.name,
                col(models.Case.kind) == KIND,
                col(models.Case.chat) == chat,
            )
            .order_by(col(models.Case.id).desc())
            .limit(RECENT_CASES)
        )
        for case in (await ctx.store.session.execute(stmt)).scalars():
            message_id = case.message_id or ""
            if not message_id.isdigit() or int(message_id) >= position:
                continue
            if not case.evidence.get("replied"):
                return None
            complaint = await ctx.store.messages.get(chat, message_id)
            if complaint is None:
                return None
            after = (
                select(col(models.Message.message_id))
                .where(col(models.Message.chat) == chat, col(models.Message.id) > complaint.id)
                .order_by(col(models.Message.id))
                .limit(1)
            )
            following = (await ctx.store.session.execute(after)).scalar_one_or_none()
            if following is None or not following.isdigit() or int(following) > position:
                return case
            return None
        return None

    async def _thread_case(
        self, event: MessagePosted, ctx: Context[ComplaintsSettings]
    ) -> models.Case | None:
        """The complaint case whose thread this message belongs to, if any."""
        if event.reply_to is None and event.thread is None:
            return None
        ids: list[str] = []
        unknown: str | None = None
        if event.reply_to is not None:
            rows, unknown = await self._chain(ctx, event.chat, event.reply_to)
            ids = [row.message_id for row in rows]
        if event.thread is not None:
            ids.append(event.thread)
        if ids:
            stmt = select(models.Case).where(
                col(models.Case.community) == ctx.community.name,
                col(models.Case.kind) == KIND,
                col(models.Case.chat) == event.chat,
                col(models.Case.message_id).in_(ids),
            )
            found = {c.message_id: c for c in (await ctx.store.session.execute(stmt)).scalars()}
            for message_id in ids:  # the nearest ancestor first
                if message_id in found:
                    return found[message_id]
        if unknown is not None:
            case = await self._case_before_unknown(ctx, event.chat, unknown)
            if case is not None:
                return case
        if event.thread is not None:
            for case in await self._open_cases(ctx, event.chat, subject=event.author.key):
                if case.evidence.get("thread") == event.thread:
                    return case
        return None

    async def _open_cases(
        self, ctx: Context[ComplaintsSettings], chat: str, subject: str | None = None
    ) -> Sequence[models.Case]:
        """Open complaint cases of a chat (of one member, if given), oldest first."""
        stmt = select(models.Case).where(
            col(models.Case.community) == ctx.community.name,
            col(models.Case.kind) == KIND,
            col(models.Case.status) == "open",
            col(models.Case.chat) == chat,
        )
        if subject is not None:
            stmt = stmt.where(col(models.Case.subject) == subject)
        return (await ctx.store.session.execute(stmt.order_by(col(models.Case.id)))).scalars().all()

    async def _chats_with_open_cases(self, ctx: Context[ComplaintsSettings]) -> set[str]:
        """The chats with open complaint cases, loaded once per community and kept."""
        chats = self._open_chats.get(ctx.community.name)
        if chats is None or ctx.store.shared:
            # On a shared database another process may have opened a case since.
            chats = await self._load_open_chats(ctx)
            self._open_chats[ctx.community.name] = chats
        return chats

    async def _load_open_chats(self, ctx: Context[ComplaintsSettings]) -> set[str]:
        stmt = open_chats_statement(ctx.community.name)
        return set((await ctx.store.session.execute(stmt)).scalars())

    # --- a person answers ------------------------------------------------------------

    async def _resolve(self, event: MessagePosted, ctx: Context[ComplaintsSettings]) -> Outcome:
        """Resolve the open complaint cases a moderator's or helper's message answers."""
        responder = event.author.key
        open_cases = [c for c in await self._open_cases(ctx, event.chat) if c.subject != responder]
        if not open_cases:
            if not await self._open_cases(ctx, event.chat):
                self._open_chats.get(ctx.community.name, set()).discard(event.chat)
            return Outcome()
        answered: dict[int, models.Case] = {}
        by_id = {c.id: c for c in open_cases if c.id is not None}
        for case in open_cases:
            assert case.id is not None
            if case.subject in event.mentions or (
                event.thread is not None and event.thread == case.message_id
            ):
                answered[case.id] = case
        if event.reply_to is not None:
            rows, unknown = await self._chain(ctx, event.chat, event.reply_to)
            ids = {row.message_id for row in rows}
            for case in open_cases:
                assert case.id is not None
                if case.message_id in ids or any(
                    row.author == case.subject and row.at >= case.opened_at for row in rows
                ):
                    answered[case.id] = case
            if unknown is not None:
                found = await self._case_before_unknown(ctx, event.chat, unknown)
                if found is not None and found.id in by_id:
                    answered[found.id] = by_id[found.id]
        outcome = Outcome()
        for case in answered.values():
            outcome.decisions.append(self._close(event, ctx, case))
        return outcome

    def _close(
        self, event: MessagePosted, ctx: Context[ComplaintsSettings], case: models.Case
    ) -> Decision:
        """Mark a case answered and resolved; the response time goes to the summary."""
        assert case.id is not None
        now, responder = ctx.now, event.author.key
        first = case.first_response_at or now
        case.first_response_at = first
        case.status = "resolved"
        case.closed_at = now
        case.closed_by = responder
        note = f"answered in {event.chat} #{event.message_id}"
        ctx.store.session.add(
            models.CaseEvent(case_id=case.id, actor=responder, action="resolved", note=note, at=now)
        )
        ctx.store.session.add(
            models.ModLogEntry(
                community=ctx.community.name,
                actor=responder,
                action="complaint_resolved",
                target=case.subject,
                case_id=case.id,
                detail=note,
                at=now,
            )
        )
        minutes = round((first - case.opened_at).total_seconds() / 60, 1)
        return Decision(
            "complaint_resolved",
            event.message_id,
            {"case": case.id, "responder": responder, "response_minutes": minutes},
        )

    # --- the deadline ----------------------------------------------------------------

    async def _tick(self, ctx: Context[ComplaintsSettings]) -> Outcome:
        """Escalate overdue complaint cases once; refresh the chats with open cases."""
        now, store = ctx.now, ctx.store
        stmt = due_cases_statement(ctx.community.name, now)
        # Sorted here: ordered by id, SQLite walked every open case to spare the sort.
        due = sorted((await store.session.execute(stmt)).scalars(), key=lambda c: c.id or 0)
        outcome = Outcome()
        names = await store.members.names(c.subject for c in due if c.subject)
        target = ctx.community.section.moderator_chat
        for case in due:
            assert case.id is not None
            await store.cases.escalate(case, now, "complaint_escalated")
            if target is not None:
                hours = int((now - case.opened_at).total_seconds() // 3600)
                text = ctx.locale.t(
                    "complaints.mod_escalation",
                    case=case.id,
                    name=textlib.defuse_mentions(str(names.get(case.subject or "", case.subject))),
                    chat=case.chat,
                    hours=hours,
                )
                outcome.actions.append(ReviewRequest(chat=target, case_id=case.id, text=text))
            outcome.decisions.append(
                Decision("complaint_escalated", case.message_id, {"case": case.id})
            )
        self._open_chats[ctx.community.name] = await self._load_open_chats(ctx)
        return outcome


# A tick reads these two. Cases left open pile up over the months (1,500 after 80,000 lines
# of the bench's community): each is one index range of the due cases or one lookup per
# chat, not a walk over every open case (19 ms a tick at 17,500 open cases, now 0.2 ms).


def due_cases_statement(community: str, now: datetime) -> Select[models.Case]:
    """The complaint cases past their deadline and not escalated yet."""
    return (
        select(models.Case)
        .where(
            col(models.Case.community) == community,
            col(models.Case.kind) == KIND,
            col(models.Case.status) == "open",
            col(models.Case.escalated_at).is_(None),
            col(models.Case.due_at) <= now,
        )
        # Two processes ticking at once (a leader that has not yet noticed it lost its
        # connection): each case is escalated by one of them. SQLite ignores this.
        .with_for_update(skip_locked=True)
    )


def open_chats_statement(community: str) -> Select[str]:
    """The chats with an open complaint case of the community, chat by chat.

    Every chat is looked at, not only the community's: a chat moved to another community
    keeps the community it was first seen in.
    """
    open_case = (
        select(col(models.Case.id))
        .where(
            col(models.Case.community) == community,
            col(models.Case.kind) == KIND,
            col(models.Case.status) == "open",
            col(models.Case.chat) == col(models.Chat.key),
        )
        .exists()
    )
    return select(col(models.Chat.key)).where(open_case)


def _reply_key(member: str) -> str:
    """The feature-state key of the last answer to a member."""
    return f"replied:{member}"
