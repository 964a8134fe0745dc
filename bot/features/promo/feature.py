"""The promo feature: notices members who broadcast instead of talking and asks moderators.

Per message: ``bot.text.analyse``, the per-message signals and the classifier (a dict
lookup per token). Replies and ordinary messages stop there after a few in-memory updates,
without a query (a reply to a message this process does not remember reads its author).
Watched messages (a link sent to everyone, or a per-message score of at least 0.3) get a
SimHash and are checked against the member's window (copies, monologue, burst, new
member); the fingerprints of promotional posts are stored in ``messages.fingerprint``. On
PostgreSQL, where several processes may share the database, the window is read from the
messages table for each watched message instead of kept in memory (see ``_state``). Only
messages that reach the flag threshold look up trust (karma, dismissal bonus). A flag
opens a case (or adds to the member's open one), writes a Flag row, logs a ``promo``
decision and asks the moderators with the buttons ``case:<id>:confirm|dismiss|ignore``.
"""

from __future__ import annotations

import functools
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import BindParameter, and_, bindparam, or_
from sqlalchemy import select as columns
from sqlmodel import col, select

from bot.actions import Action, Button, Delete, Reply, Restrict, ReviewRequest
from bot.events import ButtonPressed, CommandIssued, Event, MessageEdited, MessagePosted
from bot.features.base import CommandSpec, Context, Decision, FeatureSettings, Outcome
from bot.features.moderation.common import MODERATION, mod_log, not_found
from bot.features.moderation.settings import ModerationSettings
from bot.features.promo.classifier import (
    NaiveBayes,
    Sample,
    community_model,
    features,
    seed_model,
)
from bot.features.promo.monologue import (
    MASK64,
    Entry,
    MemberState,
    Windows,
    copies,
    monologue,
    recent,
    shingles,
    simhash,
    stored_fingerprint,
    window_start,
)
from bot.features.promo.settings import PromoSettings
from bot.features.promo.signals import (
    LINK_SIGNALS,
    PROMO_POST_SCORE,
    Signal,
    combine,
    links_of,
    message_signals,
    text_tokens,
)
from bot.locales import Locale, get_locale
from bot.text import Analysed, Link, analyse, defuse_mentions
from storage import models
from storage.repositories import Ambiguous, Query

FEATURE = "promo"
ALLOW_KEY = "allow"
BONUS_KEY = "bonus:{member}"
# When moderators last dismissed (or ignored) a flag of the member: their messages up to
# then count as neither promotional nor as copies.
CLEARED_KEY = "cleared:{member}"
EXCERPT = 200
MAX_EVIDENCE = 20
KARMA_TTL = timedelta(hours=1)
ACTIONS = ("confirm", "dismiss", "ignore")


@dataclass(frozen=True, slots=True)
class Scored:
    """One message scored on its own: signals incl. the classifier, and what they add up to."""

    analysed: Analysed
    links: tuple[Link, ...]
    tokens: tuple[str, ...]
    signals: tuple[Signal, ...]
    probability: float
    content: float

    def watched(self, reply_other: bool) -> bool:
        """Worth the member's window: a link sent to everyone, or promotional content."""
        return (bool(self.links) and not reply_other) or self.content >= PROMO_POST_SCORE

    def promotional(self, reply_other: bool, copied: bool) -> bool:
        """A promotional post for the 9:1 rule.

        Promotional content, or a link sent to everyone that shows any promotional sign
        or was posted before (a copy); a plain link to documentation is neither. An answer
        to someone else counts by what it says besides offering a private chat: helpers
        write "DM me the traceback" or "hit me up if you get stuck", and were flagged for
        a monologue of such answers.
        """
        if reply_other and self.content >= PROMO_POST_SCORE:
            offered = {"dm_call", "contact_handle"}
            return combine(s for s in self.signals if s.name not in offered) >= PROMO_POST_SCORE
        if self.content >= PROMO_POST_SCORE:
            return True
        return bool(self.links) and not reply_other and (self.content > 0.0 or copied)

    def fingerprint(self) -> int:
        """The SimHash of the words (without link parts) and the link hosts."""
        return _simhash(self.tokens, self.links)


def _simhash(tokens: Sequence[str], links: Sequence[Link]) -> int:
    words = [t for t in tokens if len(t) > 1]
    return simhash(shingles(words, [f"<host:{link.host}>" for link in links]))


def _answer_statements() -> tuple[Any, Any]:
    message, member_row = models.Message, models.Member
    bots = columns(col(member_row.key)).where(col(member_row.is_bot) == True)  # noqa: E712
    member: BindParameter[str] = bindparam("member")
    common = (
        col(message.community) == bindparam("community"),
        col(message.at) >= bindparam("since"),
        col(message.author) != member,
        col(message.fingerprint).is_(None),
        col(message.author).not_in(bots),
    )
    order = (col(message.at).desc(), col(message.id).desc())
    limit: BindParameter[int] = bindparam("limit")
    # Two index searches: replies to the member, then the member's mentions (a reply that
    # also mentions the member is counted once, as a reply).
    replies = (
        columns(col(message.at), col(message.id))
        .where(*common, col(message.reply_to_author) == member)
        .order_by(*order)
        .limit(limit)
    )
    mention = models.Mention
    mentions = (
        columns(col(message.at), col(message.id))
        .select_from(mention)
        .join(
            message,
            and_(
                col(message.chat) == col(mention.chat),
                col(message.message_id) == col(mention.message_id),
            ),
        )
        .where(
            col(mention.community) == bindparam("community"),
            col(mention.member) == member,
            col(mention.at) >= bindparam("since"),
            *common,
            or_(col(message.reply_to_author).is_(None), col(message.reply_to_author) != member),
        )
        .order_by(*order)
        .limit(limit)
    )
    return replies, mentions


def _window_statement() -> Any:
    message = models.Message
    return (
        columns(
            col(message.chat),
            col(message.message_id),
            col(message.at),
            col(message.text),
            col(message.reply_to),
            col(message.reply_to_author),
            col(message.mentions),
            col(message.fingerprint),
        )
        .where(
            col(message.community) == bindparam("community"),
            col(message.author) == bindparam("author"),
            col(message.at) >= bindparam("since"),
            col(message.deleted) == False,  # noqa: E712
        )
        .order_by(col(message.at).desc(), col(message.id).desc())
        .limit(bindparam("limit"))
    )


# A member's recent messages, read when a window is rebuilt.
_WINDOW = Query(_window_statement())
# Built once, bound per call: they run for every watched message.
_REPLIES, _MENTIONS = (Query(stmt) for stmt in _answer_statements())


@functools.lru_cache(maxsize=4096)
def link_fingerprint(text: str) -> int | None:
    """The fingerprint of a text with links, None without (a pure function of the text)."""
    analysed = analyse(text)
    links = links_of(analysed)
    return _simhash(text_tokens(analysed, links), links) if links else None


def score_message(
    analysed: Analysed,
    settings: PromoSettings,
    model: NaiveBayes,
    *,
    mentions: int = 0,
    is_reply: bool = False,
) -> Scored:
    """Per-message signals plus the classifier, combined with the score formula."""
    found = links_of(analysed)
    tokens = text_tokens(analysed, found)
    links = tuple(link for link in found if not allowed(link, settings.allowed_links))
    signals = message_signals(
        analysed, links, settings, mentions=mentions, is_reply=is_reply, tokens=tokens
    )
    probability = model.probability(features(analysed, links, tokens))
    if probability > 0.5:
        signals.append(Signal("classifier", 2.0 * probability - 1.0, f"p={probability:.2f}"))
    return Scored(analysed, links, tuple(tokens), tuple(signals), probability, combine(signals))


def allowed(link: Link, entries: Sequence[str]) -> bool:
    """Whether a link is one of the community's own (``allowed_links``)."""
    if not entries:
        return False
    rest = link.url.partition("://")[2].lower().removeprefix("www.")
    host, path = link.host, rest.partition("/")[2]
    for entry in entries:
        entry_host, _, entry_path = entry.partition("/")
        if host != entry_host and not host.endswith("." + entry_host):
            continue
        if not entry_path or path == entry_path or path.startswith(entry_path + "/"):
            return True
    return False


def _case_button(custom_id: str) -> tuple[int, str] | None:
    """``case:12:confirm`` -> (12, "confirm"); None for anything else."""
    parts = custom_id.split(":")
    if len(parts) != 3 or parts[0] != "case" or parts[2] not in ACTIONS:
        return None
    try:
        return int(parts[1]), parts[2]
    except ValueError:
        return None


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > EXCERPT:
        flat = flat[: EXCERPT - 1] + "…"
    return defuse_mentions(flat)


class PromoFeature:
    """Flags promotional monologues for moderators and learns from their decisions."""

    name: ClassVar[str] = FEATURE
    settings_model: ClassVar[type[FeatureSettings]] = PromoSettings
    handles: ClassVar[tuple[type[Event], ...]] = (
        MessagePosted,
        MessageEdited,
        ButtonPressed,
        CommandIssued,
    )
    commands: ClassVar[tuple[CommandSpec, ...]] = (
        CommandSpec("trust", "/trust @member", "promo.help_trust", moderator_only=True),
        CommandSpec("untrust", "/untrust @member", "promo.help_untrust", moderator_only=True),
        CommandSpec("flags", "/flags", "promo.help_flags", moderator_only=True),
    )

    def __init__(self, *, max_members: int = 10_000) -> None:
        self._windows = Windows(max_members)
        # Per community: the classifier (seed + moderator samples) and the allow-list.
        self._models: dict[str, NaiveBayes] = {}
        self._allow: dict[str, frozenset[str]] = {}

    def reset(self) -> None:
        """Forget the windows, classifiers and allow-lists kept in memory: a
        transaction rolled back or a member was forgotten; all are read again as needed."""
        self._windows = Windows(self._windows.max_members)
        self._models.clear()
        self._allow.clear()

    async def preload(self, ctx: Context[PromoSettings]) -> None:
        """Train the community's classifier on the moderators' samples before the first
        message, and read its allow-list."""
        await self._model(ctx)
        await self._allowed(ctx)

    # --- the Analyser protocol ---------------------------------------------------------

    def analyse(self, text: str, language: str | None) -> dict[str, Any]:
        """The stateless promo score of a text: per-message signals and the seed classifier."""
        settings = PromoSettings()
        scored = score_message(analyse(text), settings, seed_model())
        return {
            "promo": {
                "is": scored.content >= settings.flag_threshold,
                "score": round(scored.content, 3),
                "signals": [s.name for s in scored.signals],
            }
        }

    def explain(self, text: str, language: str | None) -> list[str]:
        """Each signal with its strength, weight and contribution, and the classifier's words."""
        locale = get_locale(language or "en")
        settings = PromoSettings()
        model = seed_model()
        analysed = analyse(text)
        scored = score_message(analysed, settings, model)
        verdict = "flagged" if scored.content >= settings.flag_threshold else "clean"
        lines = [
            locale.t(
                "promo.explain_score",
                score=f"{scored.content:.2f}",
                threshold=f"{settings.flag_threshold:.2f}",
                verdict=locale.t(f"promo.explain_{verdict}"),
            )
        ]
        for signal in scored.signals:
            lines.append(
                locale.t(
                    "promo.explain_signal",
                    label=locale.t(f"promo.signal.{signal.name}"),
                    name=signal.name,
                    strength=f"{signal.strength:.2f}",
                    weight=f"{signal.weight:.2f}",
                    contribution=f"{signal.contribution:.2f}",
                    detail=signal.detail,
                )
            )
        if not scored.signals:
            lines.append(locale.t("promo.explain_none"))
        top = model.top(features(analysed, scored.links))
        words = ", ".join(f"{feat} {ratio:+.1f}" for feat, ratio in top) or "-"
        lines.append(
            locale.t("promo.explain_classifier", p=f"{scored.probability:.2f}", words=words)
        )
        return lines

    # --- events ------------------------------------------------------------------------

    async def handle(self, event: Any, ctx: Context[PromoSettings]) -> Outcome:
        """Score messages and edits, take moderators' button presses and commands."""
        if isinstance(event, MessagePosted):
            return await self._posted(event, ctx)
        if isinstance(event, MessageEdited):
            return await self._edited(event, ctx)
        if isinstance(event, ButtonPressed):
            return await self._button(event, ctx)
        if isinstance(event, CommandIssued):
            return await self._command(event, ctx)
        return Outcome()

    def classifier(self, community: str) -> NaiveBayes | None:
        """The cached classifier of a community, if it was built (for inspection)."""
        return self._models.get(community)

    async def _posted(self, event: MessagePosted, ctx: Context[PromoSettings]) -> Outcome:
        author = event.author.key
        settings = ctx.settings
        target = event.reply_author
        if event.author.is_bot or author in ctx.bot_members:
            return Outcome()
        reply_other = event.reply_to is not None and target != author
        others = [m for m in event.mentions if m != author]
        exempt = ctx.is_moderator(author, event.author_is_moderator) or (
            author in await self._allowed(ctx)
        )
        scored = None
        if not exempt:
            model = await self._model(ctx)
            scored = score_message(
                analyse(event.text), settings, model, mentions=len(others), is_reply=reply_other
            )
        if scored is None:
            return Outcome()
        state = self._state(ctx, author)
        state.prune(window_start(ctx.now, settings.window_hours))
        entry = Entry(
            event.chat,
            event.message_id,
            ctx.now,
            reply_other=reply_other,
            mentions_other=bool(others),
            has_link=bool(scored.links),
        )
        return await self._judge(ctx, event, author, event.author.name, scored, state, entry)

    async def _edited(self, event: MessageEdited, ctx: Context[PromoSettings]) -> Outcome:
        author = event.author.key
        settings = ctx.settings
        if event.author.is_bot or author in ctx.bot_members:
            return Outcome()
        if ctx.is_moderator(author) or author in await self._allowed(ctx):
            return Outcome()
        state = self._state(ctx, author)
        state.prune(window_start(ctx.now, settings.window_hours))
        old = state.find(event.chat, event.message_id)
        if old is not None:
            state.remove(old)
            reply_other, mentions_other, at = old.reply_other, old.mentions_other, old.at
        else:
            row = await ctx.store.messages.get(event.chat, event.message_id)
            reply_other = row is not None and row.reply_to is not None
            reply_other = reply_other and row is not None and row.reply_to_author != author
            mentions_other = row is not None and any(m != author for m in row.mentions)
            at = row.at if row is not None else ctx.now
        model = await self._model(ctx)
        scored = score_message(
            analyse(event.text),
            settings,
            model,
            mentions=int(mentions_other),
            is_reply=reply_other,
        )
        entry = Entry(
            event.chat,
            event.message_id,
            at,
            reply_other=reply_other,
            mentions_other=mentions_other,
            has_link=bool(scored.links),
        )
        return await self._judge(
            ctx, event, author, event.author.name, scored, state, entry, edited=True
        )

    def _state(self, ctx: Context[PromoSettings], member: str) -> MemberState:
        """The member's window.

        One process sees every message, so it keeps the windows in memory. On a shared
        database (PostgreSQL, possibly several processes) another process may have handled
        some of the member's messages, or the answers they got, and this process's memory
        would miss them; there the window starts empty for every message and is read from
        the messages table whenever it matters (see ``_judge``). That costs queries only
        for watched messages, and what it finds is the same whichever process asks.
        """
        size = ctx.settings.window_messages
        if ctx.store.shared:
            return MemberState(deque(maxlen=size), deque(maxlen=size), ctx.now)
        return self._windows.get(ctx.community.name, member, size, ctx.now)

    # --- judging -----------------------------------------------------------------------

    async def _judge(
        self,
        ctx: Context[PromoSettings],
        event: MessagePosted | MessageEdited,
        author: str,
        name: str,
        scored: Scored,
        state: MemberState,
        entry: Entry,
        *,
        edited: bool = False,
    ) -> Outcome:
        """Add the message to the window; score watched messages against the window too."""
        settings = ctx.settings
        if not scored.watched(entry.reply_other):
            # Ordinary messages (and replies) stop here: no query, no write.
            state.entries.append(entry)
            if scored.content < settings.flag_threshold:
                return Outcome()
            return await self._decide(ctx, event, author, name, list(scored.signals), state, [])
        if ctx.store.shared:
            await self._rebuild(ctx, state, author, entry)
            state.loaded = True
        else:
            rebuilt = False
            if not state.loaded:
                first_seen = await self._first_seen(ctx, state, author)
                # A window started after the member's first event saw everything they wrote.
                if first_seen is None or state.created > first_seen:
                    await self._rebuild(ctx, state, author, entry)
                    rebuilt = True
                state.loaded = True
            if not rebuilt:
                # The answers the member received are always read from the messages table
                # (two index searches, for watched messages only): an answer stops counting
                # when a later copy or an edit marks it promotional, and memory kept since
                # it was posted would disagree with a window rebuilt after a restart.
                since = window_start(ctx.now, settings.window_hours)
                state.received.clear()
                state.received.extend(await self._answers(ctx, author, since))
        fingerprint = scored.fingerprint()
        entry.fingerprint = fingerprint
        signals = list(scored.signals)
        found = copies(state, fingerprint, entry.chat, settings.duplicate_distance)
        if found.other_chats:
            strength = min(1.0, len(found.other_chats) / 2)
            signals.append(Signal("cross_post", strength, ", ".join(found.other_chats)))
        if found.same_chat:
            signals.append(Signal("repeat", min(1.0, found.same_chat / 2), str(found.same_chat)))
        if not edited:
            since = ctx.now - timedelta(seconds=settings.burst_seconds)
            count = recent(state, since) + 1
            if count >= settings.burst_messages:
                signals.append(Signal("burst", 1.0, str(count)))
        if (
            scored.links
            and not entry.reply_other
            and len(state.entries) < settings.new_member_messages
            and await self._is_new(ctx, state, author)
        ):
            signals.append(Signal("new_member_link", 1.0, str(len(state.entries) + 1)))
        entry.promo = scored.promotional(entry.reply_other, bool(found.entries))
        # Copies of a broadcast are promotional posts as well; the fingerprints of
        # promotional posts are kept with their messages.
        newly = [e for e in found.entries if not e.promo]
        for earlier in newly:
            earlier.promo = True
        for item in (*newly, entry) if entry.promo else newly:
            await ctx.store.messages.set_fields(
                item.chat, item.message_id, fingerprint=stored_fingerprint(item.fingerprint or 0)
            )
        state.entries.append(entry)
        if entry.promo:
            mono = monologue(state, settings.dialogue_ratio, settings.monologue_min_posts)
            if mono.strength > 0:
                detail = f"{mono.promos}:{mono.interactions}"
                signals.append(Signal("monologue", mono.strength, detail))
        if combine(signals) < settings.flag_threshold:
            return Outcome()
        # Earlier copies and promotional posts go into the case too, so a confirm removes
        # (and learns from) all of them.
        related = [e for e in state.entries if e is not entry and e.promo]
        return await self._decide(ctx, event, author, name, signals, state, related)

    async def _decide(
        self,
        ctx: Context[PromoSettings],
        event: MessagePosted | MessageEdited,
        author: str,
        name: str,
        signals: list[Signal],
        state: MemberState,
        related: Sequence[Entry],
    ) -> Outcome:
        """A score above the threshold: apply trust, then flag."""
        settings = ctx.settings
        threshold = settings.flag_threshold
        bonus = await self._bonus(ctx, state, author)
        if await self._karma_trusted(ctx, state, author):
            signals = [s for s in signals if s.name not in LINK_SIGNALS]
            threshold = max(threshold, settings.trusted_threshold)
        score = combine(signals, bonus)
        if score < threshold:
            return Outcome()
        return await self._flag(ctx, event, author, name, round(score, 3), signals, related)

    async def _rebuild(
        self, ctx: Context[PromoSettings], state: MemberState, author: str, current: Entry
    ) -> None:
        """Fill the window from the messages table (after a restart or an eviction, and on a
        shared database every time): the member's recent messages, and the answers and
        mentions they received.

        A message is promotional when its fingerprint was stored, which is what the process
        that judged it decided; a link sent to everyone gets its fingerprint from its text
        (it may be copied later). Messages up to a dismissed flag count as neither; answers
        and mentions that are promotional posts themselves, or come from bots, are no
        dialogue.
        """
        settings = ctx.settings
        community = ctx.community.name
        since = window_start(ctx.now, settings.window_hours)
        cleared_at = await ctx.store.state.get(
            FEATURE, community, CLEARED_KEY.format(member=author)
        )
        cleared = datetime.fromisoformat(cleared_at) if isinstance(cleared_at, str) else None
        params = {
            "community": community,
            "author": author,
            "since": since,
            "limit": settings.window_messages + 1,
        }
        rows = await _WINDOW.all(ctx.store.session, params)
        state.entries.clear()
        for chat, message_id, at, text, reply_to, reply_author, mentions, stored in reversed(rows):
            if chat == current.chat and message_id == current.message_id:
                continue
            reply_other = reply_to is not None and reply_author != author
            others = any(m != author for m in mentions or ())
            entry = Entry(chat, message_id, at, reply_other, others)
            if cleared is None or at > cleared:
                if stored is not None:
                    entry.promo, entry.fingerprint = True, stored & MASK64
                elif text and not reply_other:
                    entry.fingerprint = link_fingerprint(text)
                    entry.has_link = entry.fingerprint is not None
            state.entries.append(entry)
        state.received.clear()
        state.received.extend(await self._answers(ctx, author, since))

    async def _answers(
        self, ctx: Context[PromoSettings], member: str, since: datetime
    ) -> list[datetime]:
        """When others answered or mentioned the member since a moment, oldest first."""
        limit = ctx.settings.window_messages
        params = {"community": ctx.community.name, "since": since, "member": member, "limit": limit}
        session = ctx.store.session
        found = [(at, row_id) for at, row_id in await _REPLIES.all(session, params)]
        found += [(at, row_id) for at, row_id in await _MENTIONS.all(session, params)]
        # The newest ``limit`` of both, oldest first.
        newest = sorted(found, reverse=True)[:limit]
        return sorted(at for at, _ in newest)

    async def _first_seen(
        self, ctx: Context[PromoSettings], state: MemberState, author: str
    ) -> datetime | None:
        if not state.first_seen_known:
            member = await ctx.store.members.get(author)
            state.first_seen = member.first_seen if member is not None else None
            state.first_seen_known = True
        return state.first_seen

    async def _is_new(self, ctx: Context[PromoSettings], state: MemberState, author: str) -> bool:
        first_seen = await self._first_seen(ctx, state, author)
        if first_seen is None:
            return False
        return ctx.now - first_seen <= timedelta(days=ctx.settings.new_member_days)

    async def _bonus(self, ctx: Context[PromoSettings], state: MemberState, author: str) -> float:
        if state.bonus is None:
            key = BONUS_KEY.format(member=author)
            value = await ctx.store.state.get(FEATURE, ctx.community.name, key, 0.0)
            state.bonus = float(value) if isinstance(value, int | float) else 0.0
        return state.bonus

    async def _karma_trusted(
        self, ctx: Context[PromoSettings], state: MemberState, author: str
    ) -> bool:
        if state.karma is None or state.karma_at is None or ctx.now - state.karma_at > KARMA_TTL:
            state.karma = await ctx.store.karma.total(ctx.community.name, [author])
            state.karma_at = ctx.now
        return state.karma >= ctx.settings.trusted_karma

    async def _allowed(self, ctx: Context[PromoSettings]) -> frozenset[str]:
        community = ctx.community.name
        allowed = self._allow.get(community)
        if allowed is None:
            stored = await ctx.store.state.get(FEATURE, community, ALLOW_KEY, [])
            allowed = frozenset(str(m) for m in stored) if isinstance(stored, list) else frozenset()
            self._allow[community] = allowed
        return allowed

    async def _model(self, ctx: Context[PromoSettings]) -> NaiveBayes:
        community = ctx.community.name
        model = self._models.get(community)
        if model is None:
            rows = await ctx.store.state.samples(FEATURE, community)
            weight = ctx.resolver.get(PromoSettings, FEATURE, community, None).sample_weight
            model = community_model((Sample(r.text, r.label) for r in rows), weight)
            self._models[community] = model
        return model

    # --- flagging ----------------------------------------------------------------------

    async def _flag(
        self,
        ctx: Context[PromoSettings],
        event: MessagePosted | MessageEdited,
        author: str,
        name: str,
        score: float,
        signals: Sequence[Signal],
        related: Sequence[Entry] = (),
    ) -> Outcome:
        settings = ctx.settings
        community = ctx.community.name
        locale = ctx.locale
        names = [s.name for s in signals]
        auto_delete = (
            settings.auto_delete_threshold is not None and score >= settings.auto_delete_threshold
        )
        item = {
            "chat": event.chat,
            "message_id": event.message_id,
            "score": score,
            "signals": names,
            "at": ctx.now.isoformat(),
            "auto_deleted": auto_delete,
        }
        earlier = [
            {"chat": e.chat, "message_id": e.message_id, "at": e.at.isoformat(), "related": True}
            for e in related
        ]
        # Read and written without the ORM: flags come in bursts, one per broadcast copy.
        found = await ctx.store.cases.open_evidence(community, FEATURE, author)
        new = found is None
        summary = f"{score:.2f}: {', '.join(names)}"[:1024]
        if found is None:
            evidence: dict[str, Any] = {
                "messages": [*earlier, item][-MAX_EVIDENCE:],
                "signals": sorted(set(names)),
            }
            opened = await ctx.store.cases.open(
                models.Case(
                    community=community,
                    kind=FEATURE,
                    subject=author,
                    chat=event.chat,
                    message_id=event.message_id,
                    score=score,
                    summary=summary,
                    evidence=evidence,
                    opened_at=ctx.now,
                )
            )
            assert opened.id is not None
            case_id = opened.id
        else:
            case_id = found.id
            messages = found.evidence.get("messages", [])
            listed = {(m.get("chat"), m.get("message_id")) for m in messages}
            kept = [
                m
                for m in messages
                if (m.get("chat"), m.get("message_id")) != (event.chat, event.message_id)
            ]
            kept += [m for m in earlier if (m["chat"], m["message_id"]) not in listed]
            union = set(found.evidence.get("signals", [])) | set(names)
            evidence = {"messages": [*kept, item][-MAX_EVIDENCE:], "signals": sorted(union)}
            await ctx.store.cases.add_evidence(
                found,
                evidence=evidence,
                score=max(found.score or 0.0, score),
                summary=summary,
                note=f"{event.chat}#{event.message_id} {score:.2f}",
                at=ctx.now,
            )
        await ctx.store.cases.add_flag(
            community=community,
            case_id=case_id,
            member=author,
            chat=event.chat,
            message_id=event.message_id,
            score=score,
            signals=names,
            at=ctx.now,
        )
        actions: list[Action] = []
        if auto_delete:
            reason = locale.t("promo.auto_delete_reason", score=f"{score:.2f}", case=case_id)
            actions.append(Delete(chat=event.chat, message_id=event.message_id, reason=reason))
            ctx.store.session.add(
                models.ModLogEntry(
                    community=community,
                    actor=None,
                    action="promo_auto_delete",
                    target=author,
                    case_id=case_id,
                    detail=f"{event.chat}#{event.message_id} {summary}"[:1024],
                    at=ctx.now,
                )
            )
        moderator_chat = ctx.community.section.moderator_chat
        if new and settings.review and moderator_chat:
            actions.append(
                self._review(
                    moderator_chat,
                    locale,
                    case_id,
                    name,
                    score,
                    signals,
                    event,
                    auto_delete,
                    len(evidence["messages"]),
                )
            )
        nudged = bool(new and settings.nudge and not auto_delete)
        if nudged:
            rng = random.Random(event.key)
            text = locale.pick("promo.nudge", rng, name=defuse_mentions(name))
            actions.append(Reply(chat=event.chat, text=text, reply_to=event.message_id))
        decision = Decision(
            "promo",
            event.message_id,
            {"user": author, "score": score, "signals": names, "case": case_id, "nudged": nudged},
        )
        return Outcome(actions=actions, decisions=[decision])

    def _review(
        self,
        chat: str,
        locale: Locale,
        case_id: int,
        name: str,
        score: float,
        signals: Sequence[Signal],
        event: MessagePosted | MessageEdited,
        auto_deleted: bool,
        count: int,
    ) -> ReviewRequest:
        labels = ", ".join(locale.t(f"promo.signal.{s.name}") for s in signals)
        text = locale.t(
            "promo.review",
            case=case_id,
            name=defuse_mentions(name),
            score=f"{score:.2f}",
            signals=labels,
            chat=event.chat,
            excerpt=_excerpt(event.text),
            count=count,
        )
        if auto_deleted:
            text += "\n" + locale.t("promo.review_auto_deleted")
        buttons = tuple(
            Button(label=locale.t(f"promo.button_{action}"), custom_id=f"case:{case_id}:{action}")
            for action in ACTIONS
        )
        return ReviewRequest(chat=chat, case_id=case_id, text=text, buttons=buttons)

    # --- moderators' decisions ---------------------------------------------------------

    async def _button(self, event: ButtonPressed, ctx: Context[PromoSettings]) -> Outcome:
        parsed = _case_button(event.custom_id)
        if parsed is None:
            return Outcome()
        case_id, action = parsed
        community = ctx.community.name
        case = await ctx.store.cases.get(community, case_id)
        if case is None or case.kind != FEATURE:
            return Outcome()  # another feature's case
        locale = ctx.locale
        user = event.user.key
        if not ctx.is_moderator(user, event.user_is_moderator):
            ctx.store.session.add(
                models.ModLogEntry(
                    community=community,
                    actor=user,
                    action="refused",
                    target=case.subject,
                    case_id=case_id,
                    detail=event.custom_id,
                    at=ctx.now,
                )
            )
            text = locale.t("promo.refused", name=defuse_mentions(event.user.name))
            return Outcome(
                actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)],
                decisions=[
                    Decision(
                        "refused",
                        case.message_id,
                        {"custom_id": event.custom_id, "user": user, "case": case_id},
                    )
                ],
            )
        if case.status != "open":
            status_key = f"promo.status.{case.status}"
            status = locale.t(status_key) if locale.variants(status_key) else case.status
            text = locale.t("promo.already_closed", case=case_id, status=status)
            return Outcome(actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)])
        subject = case.subject or ""
        member_name = (await ctx.store.members.names([subject])).get(subject, subject)
        shown = defuse_mentions(member_name)
        case_settings: PromoSettings = ctx.settings_of(PromoSettings, FEATURE, case.chat)
        evidence = [
            (item, await ctx.store.messages.get(str(item["chat"]), str(item["message_id"])))
            for item in case.evidence.get("messages", [])
        ]
        actions: list[Action] = []
        if action == "confirm":
            await self._learn(ctx, case, [row for _, row in evidence], "spam")
            for item, row in evidence:
                deleted = bool(item.get("auto_deleted")) or (row is not None and row.deleted)
                if case_settings.confirm_delete and not deleted:
                    actions.append(
                        Delete(
                            chat=str(item["chat"]),
                            message_id=str(item["message_id"]),
                            reason=locale.t("promo.confirm_reason", case=case_id),
                        )
                    )
            if case_settings.confirm_restrict_hours and case.chat:
                actions.append(
                    Restrict(
                        chat=case.chat,
                        member=subject,
                        until=ctx.now + timedelta(hours=case_settings.confirm_restrict_hours),
                        reason=locale.t("promo.confirm_reason", case=case_id),
                    )
                )
            if case_settings.confirm_warn and case.chat:
                actions.append(Reply(chat=case.chat, text=locale.t("promo.warn", name=shown)))
            status = "confirmed"
        else:
            if action == "dismiss":
                await self._learn(ctx, case, [row for _, row in evidence], "ham")
                await self._raise_bonus(ctx, subject, case_settings)
            else:
                await self._set_trust(ctx, subject, trusted=True)
            await self._clear_window(ctx, subject)
            for item, row in evidence:
                if item.get("auto_deleted") and row is not None and row.text:
                    text = locale.t("promo.restored", name=shown, text=_excerpt(row.text))
                    actions.append(Reply(chat=str(item["chat"]), text=text))
            status = "dismissed"
        case.status = status
        case.closed_at = ctx.now
        case.closed_by = user
        ctx.store.session.add(case)
        past = {"confirm": "confirmed", "dismiss": "dismissed", "ignore": "ignored"}[action]
        ctx.store.session.add(
            models.CaseEvent(case_id=case_id, actor=user, action=past, at=ctx.now)
        )
        ctx.store.session.add(
            models.ModLogEntry(
                community=community,
                actor=user,
                action=f"promo_{action}",
                target=subject,
                case_id=case_id,
                detail=case.summary,
                at=ctx.now,
            )
        )
        text = locale.t(f"promo.{past}", case=case_id, name=shown, count=len(evidence))
        actions.append(Reply(chat=event.chat, text=text, reply_to=event.message_id))
        decision = Decision(
            "promo_review",
            case.message_id,
            {"case": case_id, "action": action, "user": user, "member": subject},
        )
        return Outcome(actions=actions, decisions=[decision])

    async def _learn(
        self,
        ctx: Context[PromoSettings],
        case: models.Case,
        rows: Sequence[models.Message | None],
        label: str,
    ) -> None:
        """Store the case's texts (each once) as training samples and drop the cached model."""
        community = ctx.community.name
        seen: set[str] = set()
        for row in rows:
            if row is None or not row.text or row.text in seen:
                continue
            seen.add(row.text)
            await ctx.store.state.add_sample(
                models.TrainingSample(
                    feature=FEATURE,
                    community=community,
                    label=label,
                    text=row.text,
                    source="moderator",
                    case_id=case.id,
                    at=ctx.now,
                )
            )
        if seen:
            await ctx.store.session.flush()
            self._models.pop(community, None)

    async def _raise_bonus(
        self, ctx: Context[PromoSettings], member: str, settings: PromoSettings
    ) -> None:
        """A dismissed flag makes the member's later scores lower, up to ``max_bonus``."""
        community = ctx.community.name
        key = BONUS_KEY.format(member=member)
        current = await ctx.store.state.get(FEATURE, community, key, 0.0)
        current = float(current) if isinstance(current, int | float) else 0.0
        bonus = round(min(settings.max_bonus, current + settings.dismiss_bonus), 3)
        await ctx.store.state.set(FEATURE, community, key, bonus, ctx.now)
        state = self._windows.peek(community, member)
        if state is not None:
            state.bonus = bonus

    async def _clear_window(self, ctx: Context[PromoSettings], member: str) -> None:
        """After a false alarm, the member's earlier posts stop counting as promotional.

        Stored as well, so that a window read from the messages table (a restart, another
        process) forgets them too.
        """
        community = ctx.community.name
        key = CLEARED_KEY.format(member=member)
        await ctx.store.state.set(FEATURE, community, key, ctx.now.isoformat(), ctx.now)
        state = self._windows.peek(community, member)
        if state is None:
            return
        for entry in state.entries:
            entry.promo = False
            entry.fingerprint = None

    async def _set_trust(self, ctx: Context[PromoSettings], member: str, *, trusted: bool) -> bool:
        """Put a member on the allow-list or take them off; True if that changed anything."""
        community = ctx.community.name
        allowed = set(await self._allowed(ctx))
        changed = (member not in allowed) if trusted else (member in allowed)
        if trusted:
            allowed.add(member)
        else:
            allowed.discard(member)
        if changed:
            await ctx.store.state.set(FEATURE, community, ALLOW_KEY, sorted(allowed), ctx.now)
            self._allow[community] = frozenset(allowed)
        return changed

    # --- commands ----------------------------------------------------------------------

    async def _command(self, event: CommandIssued, ctx: Context[PromoSettings]) -> Outcome:
        if event.name == "flags":
            return await self._flags(event, ctx)
        if event.name in ("trust", "untrust"):
            return await self._trust(event, ctx, trusted=event.name == "trust")
        return Outcome()

    async def _target(
        self, event: CommandIssued, ctx: Context[PromoSettings]
    ) -> tuple[str, str] | str:
        """The member a command is about (key, name), or the text to answer instead."""
        if not event.args:
            if event.reply_to_author is not None:
                return event.reply_to_author.key, event.reply_to_author.name
            usage = next(s.usage for s in self.commands if s.name == event.name)
            return ctx.locale.t("core.usage", usage=usage)
        arg = event.args[0]
        platform = event.chat.partition(":")[0]
        member: models.Member | Ambiguous | None
        if ":" in arg and not arg.startswith("@"):
            member = await ctx.store.members.get(arg)
        else:
            # Never trust or untrust a guess; a reply names the member for sure.
            member = await ctx.store.members.by_name(platform, arg.lstrip("@"))
        if not isinstance(member, models.Member):
            return not_found(ctx, arg, member, by_reply=True)
        return member.key, member.name

    async def _trust(
        self, event: CommandIssued, ctx: Context[PromoSettings], *, trusted: bool
    ) -> Outcome:
        target = await self._target(event, ctx)
        if isinstance(target, str):
            return Outcome(actions=[Reply(chat=event.chat, text=target, reply_to=event.message_id)])
        key, name = target
        community = ctx.community.name
        changed = await self._set_trust(ctx, key, trusted=trusted)
        if not trusted:
            # Untrusting also takes back what dismissed flags had earned.
            await ctx.store.state.delete(FEATURE, community, BONUS_KEY.format(member=key))
            state = self._windows.peek(community, key)
            if state is not None:
                state.bonus = 0.0
        shown = defuse_mentions(name)
        if trusted:
            text = ctx.locale.t("promo.trusted", name=shown)
        elif changed:
            text = ctx.locale.t("promo.untrusted", name=shown)
        else:
            text = ctx.locale.t("promo.not_trusted", name=shown)
        decision = Decision(
            "promo_trust",
            event.message_id,
            {"member": key, "user": event.author.key, "trusted": trusted},
        )
        outcome = Outcome(
            actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)],
            decisions=[decision],
        )
        # Through the mod log like /warn: the row, a mod_action decision and the log chat.
        moderation: ModerationSettings = ctx.settings_of(ModerationSettings, MODERATION, event.chat)
        await mod_log(
            ctx,
            outcome,
            actor=event.author.key,
            action="promo_trust" if trusted else "promo_untrust",
            target=key,
            detail=f"/{event.name}",
            message_id=event.message_id,
            post=moderation.post_mod_log,
        )
        return outcome

    async def _flags(self, event: CommandIssued, ctx: Context[PromoSettings]) -> Outcome:
        locale = ctx.locale
        case = models.Case
        stmt = (
            select(case)
            .where(
                col(case.community) == ctx.community.name,
                col(case.kind) == FEATURE,
                col(case.status) == "open",
            )
            .order_by(col(case.id))
            .limit(20)
        )
        cases = list((await ctx.store.session.execute(stmt)).scalars())
        if not cases:
            text = locale.t("promo.flags_none")
        else:
            names = await ctx.store.members.names(c.subject or "" for c in cases)
            lines = [locale.t("promo.flags_title", count=len(cases))]
            for item in cases:
                signals = item.evidence.get("signals", [])
                lines.append(
                    locale.t(
                        "promo.flags_line",
                        case=item.id,
                        name=defuse_mentions(names.get(item.subject or "", "?")),
                        score=f"{item.score or 0.0:.2f}",
                        count=len(item.evidence.get("messages", [])),
                        signals=", ".join(locale.t(f"promo.signal.{s}") for s in signals),
                    )
                )
            text = "\n".join(lines)
        return Outcome(actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)])
