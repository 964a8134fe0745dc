"""The engine: records each event once, runs the features in order, stores what they decide."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import InterfaceError, InternalError, OperationalError

from bot.actions import Action, Reply, to_payload
from bot.config import Community, Config, SettingsResolver
from bot.events import (
    ButtonPressed,
    CommandIssued,
    Event,
    Member,
    MemberJoined,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    Tick,
)
from bot.features.base import (
    CommandSpec,
    Context,
    Decision,
    Feature,
    Outcome,
    Preloads,
    Prepares,
    Remembers,
)
from bot.locales import get_locale
from bot.text import MAX_MENTIONS, well_formed
from storage import models
from storage.db import Database
from storage.repositories import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Result:
    """What handling one event produced."""

    actions: list[Action] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    duplicate: bool = False


class Engine:
    """Turns events into actions through the features; every event is handled once."""

    def __init__(
        self,
        config: Config,
        db: Database,
        features: Sequence[Feature[Any]],
        *,
        resolver: SettingsResolver | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.features = tuple(features)
        self.resolver = resolver or SettingsResolver(config)
        self._commands: dict[str, tuple[Feature[Any], CommandSpec]] = {}
        for feature in self.features:
            for spec in feature.commands:
                if spec.name in self._commands:
                    raise ValueError(f"command /{spec.name} is declared twice")
                self._commands[spec.name] = (feature, spec)
        # Members and chats this process already stored: skips an upsert per event. Only an
        # optimisation; cleared whenever a transaction rolls back.
        self._known_members: dict[str, tuple[str, str | None]] = {}
        self._known_chats: set[str] = set()
        # Features whose memory of earlier events must go with a rolled-back transaction.
        self._remembering = [f for f in self.features if isinstance(f, Remembers)]
        self._batch: Store | None = None
        # A running bot stores every action in the outbox with the event, so delivery
        # survives a crash and never repeats; replays deliver nothing and leave it off.
        self.outbox = False
        self._batch_pending = 0
        self._batch_size = 0

    # --- public API ------------------------------------------------------------------

    async def handle(self, event: Event) -> list[Action]:
        """Handle one event; a redelivered event yields no actions."""
        return (await self.process(event)).actions

    async def process(self, event: Event) -> Result:
        """Handle one event and return actions and decisions."""
        if self._batch is None and isinstance(event, Tick | CommandIssued):
            await self._prepare(event)
        if self._batch is not None:
            result = await self._process_in(self._batch, event)
            self._batch_pending += 1
            if self._batch_pending >= self._batch_size:
                await self._batch.session.commit()
                await self._batch.session.begin()
                self._batch_pending = 0
            return result
        try:
            async with self.db.session() as session:
                return await self._process_in(Store(session), event)
        except BaseException:
            # The commit failed too (a full disk, a lost connection): nothing was stored.
            self._forget()
            raise

    @asynccontextmanager
    async def batch(self, size: int = 500) -> AsyncIterator[None]:
        """Share one transaction across ``size`` events (replays).

        Commits happen only between events, so every event is stored whole or not at all;
        an error rolls back the uncommitted events and is raised.
        """
        async with self.db.sessions() as session:
            await session.begin()
            self._batch, self._batch_pending, self._batch_size = Store(session), 0, size
            try:
                yield
                await session.commit()
            except BaseException:
                self._forget()
                await session.rollback()
                raise
            finally:
                self._batch = None

    async def preload(self, now: datetime | None = None) -> None:
        """Let the features read what each community's first event would wait for.

        The running bot calls this before it listens: otherwise the first award after a
        restart read a month of the ledger while the events behind it waited. A feature
        that fails here is logged and reads what it needs on first use, as before.
        """
        now = now or datetime.now(UTC)
        for community in self.config.communities:
            for feature in self.features:
                if not isinstance(feature, Preloads):
                    continue
                try:
                    async with self.db.session() as session:
                        ctx = self._context(Store(session), community, feature, None, now)
                        if ctx.settings.enabled:
                            await feature.preload(ctx)
                except Exception:
                    # Whatever it kept may be half read: the database is the truth again.
                    if isinstance(feature, Remembers):
                        feature.reset()
                    log.exception("feature %s failed to preload %s", feature.name, community.name)

    async def _prepare(self, event: Tick | CommandIssued) -> None:
        """Let the features read for a tick or a command before its transaction (see
        ``Prepares``).

        A replay's batch does not: it shares its transaction anyway. A feature that fails
        here is logged and does its reading in the event, as without preparing.
        """
        community = self.config.community(event.community)
        if community is None:
            return
        if isinstance(event, Tick):
            chat = None
            features = [f for f in self.features if isinstance(event, f.handles)]
        else:
            chat = event.chat
            entry = self._commands.get(event.name)
            features = [] if entry is None else [entry[0]]
        for feature in features:
            if not isinstance(feature, Prepares):
                continue
            try:
                async with self.db.session() as session:
                    ctx = self._context(Store(session), community, feature, chat, event.at)
                    if not ctx.settings.enabled or not self._allowed(event, ctx):
                        continue
                    await feature.prepare(event, ctx)
            except Exception:
                log.exception("feature %s failed to prepare %s", feature.name, event.key)

    def _allowed(self, event: Event, ctx: Context[Any]) -> bool:
        """Whether the event's author may give the command (ticks: always)."""
        if not isinstance(event, CommandIssued):
            return True
        _feature, spec = self._commands[event.name]
        return not spec.moderator_only or ctx.is_moderator(
            event.author.key, event.author_is_moderator
        )

    def command_specs(self) -> list[CommandSpec]:
        """Every command the features answer, plus /help."""
        return [HELP, *(spec for _, spec in self._commands.values())]

    # --- internals ---------------------------------------------------------------------

    def _forget(self) -> None:
        self._known_members.clear()
        self._known_chats.clear()
        for feature in self._remembering:
            feature.reset()

    async def _process_in(self, store: Store, event: Event) -> Result:
        # No savepoint per event: feature errors are caught in _call, and an error that
        # escapes aborts the whole uncommitted batch, which a re-run completes (idempotent).
        try:
            return await self._run(store, event)
        except BaseException:
            self._forget()
            raise

    async def _ensure_member(self, store: Store, member: Member, at: datetime) -> None:
        seen = (member.name, member.username)
        if self._known_members.get(member.key) == seen:
            return
        await store.members.ensure(member.key, member.name, member.username, member.is_bot, at)
        if len(self._known_members) > 100_000:
            self._known_members.clear()
        self._known_members[member.key] = seen

    async def _run(self, store: Store, event: Event) -> Result:
        community = self.config.community(event.community)
        if community is None:
            log.warning("event %s for unknown community %r ignored", event.key, event.community)
            return Result(duplicate=True)
        if not await store.events.claim(event.key, event.kind, community.name, event.at):
            return Result(duplicate=True)
        event = await self._record(store, community, event)
        result = Result()
        started = time.perf_counter()
        if isinstance(event, CommandIssued):
            outcome = await self._command(store, community, event)
        else:
            outcome = await self._features(store, community, event)
        result.actions, result.decisions = outcome.actions, outcome.decisions
        if any(
            d.kind == "privacy" and d.data.get("action") == "forgotten" for d in outcome.decisions
        ):
            # The member's rows were renamed: the next message must store them anew.
            self._forget()
        self._log_replies(event, result)
        await self._persist(store, community, event, result)
        if self._batch is not None:  # the running bot's commit comes next and flushes
            await _flush(store)
        elapsed = (time.perf_counter() - started) * 1000
        if elapsed > 250:
            # Live, a slow event delays everyone's answers; in a batch replay it only matters
            # for the total, which the replay reports.
            level = logging.DEBUG if self._batch is not None else logging.WARNING
            log.log(level, "event %s took %.0f ms", event.key, elapsed)
        return result

    def _log_replies(self, event: Event, result: Result) -> None:
        """Every reply the bot makes is a decision too, so a replay shows what it said."""
        message_id = getattr(event, "message_id", None)
        logged = {d.data.get("text") for d in result.decisions if d.kind == "reply"}
        for action in result.actions:
            if isinstance(action, Reply) and action.text not in logged:
                result.decisions.append(
                    Decision("reply", message_id, {"text": action.text, "chat": action.chat})
                )

    async def _record(self, store: Store, community: Community, event: Event) -> Event:
        """Store members, chats and messages; resolve @name mentions to member keys and the
        replied-to message to its author."""
        at = event.at
        if event.chat and event.chat not in self._known_chats:
            await store.members.ensure_chat(event.chat, community.name, at)
            self._known_chats.add(event.chat)
        match event:
            case MessagePosted():
                author = event.author
                await self._ensure_member(store, author, at)
                mentions = await self._resolve_mentions(store, event)
                reply_author = None
                if event.reply_to is not None:
                    reply_author = await store.messages.author(event.chat, event.reply_to)
                await store.messages.add(
                    community=community.name,
                    chat=event.chat,
                    message_id=event.message_id,
                    author=author.key,
                    # Lone surrogates or NUL would make the database refuse the event.
                    text=well_formed(event.text),
                    reply_to=event.reply_to,
                    reply_to_author=reply_author,
                    mentions=list(mentions),
                    thread=event.thread,
                    at=at,
                    forwarded=event.forwarded,
                )
                # Features read who was answered from the event: one look-up per reply.
                if mentions != event.mentions or reply_author != event.reply_author:
                    event = dataclasses.replace(event, mentions=mentions, reply_author=reply_author)
            case ReactionAdded() | ReactionRemoved():
                await self._ensure_member(store, event.user, at)
            case CommandIssued():
                await self._ensure_member(store, event.author, at)
            case MemberJoined():
                await self._ensure_member(store, event.member, at)
            case ButtonPressed():
                await self._ensure_member(store, event.user, at)
            case MessageEdited():
                await store.messages.set_fields(
                    event.chat, event.message_id, text=well_formed(event.text), edited_at=at
                )
            case MessageDeleted():
                await store.messages.set_fields(event.chat, event.message_id, deleted=True)
            case Tick():
                pass
        return event

    async def _resolve_mentions(self, store: Store, event: MessagePosted) -> tuple[str, ...]:
        platform = event.chat.partition(":")[0]
        resolved: list[str] = []
        # The adapters pass at most MAX_MENTIONS; other callers (the console, replays of
        # hand-written files) are held to the same bound: one lookup per @name.
        for mention in dict.fromkeys(event.mentions[: 4 * MAX_MENTIONS]):
            if len(resolved) >= MAX_MENTIONS:
                break
            key: str | None = mention
            if mention.startswith("@"):
                found = await store.members.by_name(platform, mention[1:])
                # A name several members share credits nobody rather than a guess.
                key = found.key if isinstance(found, models.Member) else None
            if key and key not in resolved:
                resolved.append(key)
        return tuple(resolved)

    async def _features(self, store: Store, community: Community, event: Event) -> Outcome:
        outcome = Outcome()
        chat = None if isinstance(event, Tick) else event.chat
        for feature in self.features:
            if not isinstance(event, feature.handles):
                continue
            ctx = self._context(store, community, feature, chat, event.at)
            if not ctx.settings.enabled:
                continue
            outcome.extend(await self._call(feature, event, ctx))
        return outcome

    async def _call(self, feature: Feature[Any], event: Event, ctx: Context[Any]) -> Outcome:
        try:
            return await feature.handle(event, ctx)
        except (OperationalError, InterfaceError, InternalError):
            # The database failed, not the feature: going on would store the event without
            # this feature's part. The event rolls back whole and is retried or reported.
            raise
        except Exception:
            # One feature's bug must not stop the others or lose the event.
            log.exception("feature %s failed on event %s", feature.name, event.key)
            return Outcome()

    def _context(
        self,
        store: Store,
        community: Community,
        feature: Feature[Any],
        chat: str | None,
        now: datetime,
    ) -> Context[Any]:
        settings = self.resolver.get(feature.settings_model, feature.name, community.name, chat)
        return Context(
            settings=settings,
            store=store,
            config=self.config,
            community=community,
            locale=get_locale(community.language),
            resolver=self.resolver,
            now=now,
        )

    async def _command(self, store: Store, community: Community, event: CommandIssued) -> Outcome:
        locale = get_locale(community.language)
        if event.name in ("help", "start"):
            return Outcome(actions=[self._help(event, community)])
        entry = self._commands.get(event.name)
        if entry is None:
            return Outcome()
        feature = entry[0]
        ctx = self._context(store, community, feature, event.chat, event.at)
        if not self._allowed(event, ctx):
            log.info("refused /%s to non-moderator %s", event.name, event.author.key)
            store.session.add(
                models.ModLogEntry(
                    community=community.name,
                    actor=event.author.key,
                    action="refused",
                    detail=f"/{event.name}",
                    at=event.at,
                )
            )
            text = locale.t("core.moderators_only", command=event.name)
            return Outcome(
                actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)],
                decisions=[
                    Decision(
                        "refused",
                        event.message_id,
                        {"command": event.name, "user": event.author.key},
                    )
                ],
            )
        if not ctx.settings.enabled:
            text = locale.t("core.feature_disabled", command=event.name)
            return Outcome(actions=[Reply(chat=event.chat, text=text, reply_to=event.message_id)])
        return await self._call(feature, event, ctx)

    def _help(self, event: CommandIssued, community: Community) -> Action:
        locale = get_locale(community.language)
        moderator = event.author_is_moderator or event.author.key in community.section.moderators
        lines = [locale.t("core.help_title")]
        for spec in self.command_specs():
            if spec.moderator_only and not moderator:
                continue
            lines.append(f"{spec.usage} — {locale.t(spec.help_key)}")
        return Reply(chat=event.chat, text="\n".join(lines), reply_to=event.message_id)

    async def _persist(
        self, store: Store, community: Community, event: Event, result: Result
    ) -> None:
        if self.outbox and result.actions:
            await store.outbox.add_many(
                models.OutboxItem(
                    event_key=event.key,
                    position=position,
                    kind=action.kind,
                    chat=action.chat,
                    payload=to_payload(action),
                    created_at=event.at,
                )
                for position, action in enumerate(result.actions)
            )
        if result.decisions:
            await store.decisions.add_many(
                [
                    {
                        "community": community.name,
                        "event_key": event.key,
                        "kind": d.kind,
                        "message_id": d.message_id,
                        "data": dict(d.data),
                        "at": event.at,
                    }
                    for d in result.decisions
                ]
            )


async def _flush(store: Store) -> None:
    """Write what the ORM holds back of an event (sessions do not flush on their own).

    The running bot commits each event; a replay shares one transaction among many, and
    each of its events must read what the ones before it wrote, as live (a case escalated
    or answered is not escalated again an hour later).
    """
    session = store.session.sync_session
    if session.new or session.dirty or session.deleted:
        await store.session.flush()


HELP = CommandSpec("help", "/help", "core.help_help")
