"""Replaying a chat history through the full pipeline: events in, decisions and totals out."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from adapters.imports.jsonl import JsonlReader, LineError, LineEvent
from bot.actions import Action, Reply
from bot.app import App
from bot.config import Config
from bot.events import (
    CommandIssued,
    MemberJoined,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    Tick,
)
from bot.features.base import Decision
from storage.retry import is_transient, retry

T = TypeVar("T")

# Tries per batch: a lost connection or a deadlock with another process on the same
# database rolls a batch back; it is fed again after a short, growing wait.
ATTEMPTS = 8
# Lines are parsed this many at a time, ahead of the events they become: parsed one at a
# time between two events' work, a line took 37 µs instead of 22 (the parser's code and
# data had left the CPU's caches).
READ_AHEAD = 500


@dataclass
class ReplayStats:
    """What a replay read and what the bot decided."""

    lines: int = 0
    messages: int = 0
    reactions: int = 0
    commands: int = 0
    joins: int = 0
    duplicates: int = 0
    errors: list[LineError] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    blocks: Counter[str] = field(default_factory=Counter)
    # What export readers counted without making events (reactions without a giver...).
    notes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        """Events handed to the engine."""
        return self.messages + self.reactions + self.commands + self.joins

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


# Called after every event with the event's line, its actions and decisions (for the demo).
Observer = Callable[[int, Any, list[Action], list[dict[str, Any]]], None]


async def replay(
    app: App,
    lines: Iterable[str | bytes],
    *,
    decisions_out: IO[str] | None = None,
    progress: Callable[[int], None] | None = None,
    observer: Observer | None = None,
    community: str | None = None,
    batch_size: int = 500,
) -> ReplayStats:
    """Feed JSONL lines through the engine; each event is atomic, a re-run changes nothing."""
    reader = jsonl_reader(app.config, community or app.config.default_community().name)
    stats = ReplayStats()
    return await replay_items(
        app,
        reader.read(counting(lines, stats, progress)),
        stats=stats,
        decisions_out=decisions_out,
        observer=observer,
        batch_size=batch_size,
    )


async def replay_items(
    app: App,
    items: Iterable[LineEvent | LineError],
    *,
    stats: ReplayStats | None = None,
    decisions_out: IO[str] | None = None,
    observer: Observer | None = None,
    batch_size: int = 500,
    attempts: int = ATTEMPTS,
) -> ReplayStats:
    """Feed the items of any reader (JSONL, exports) through the engine; errors are kept.

    Events are committed ``batch_size`` at a time. A batch that fails on a passing
    database error (a lost connection, a deadlock with another process) is rolled back
    and fed again from its first event, up to ``attempts`` times; the decisions log, the
    observer and the counts only see batches that were committed. A reader that cannot
    go on yields its error and stops; what came before it is committed with the last batch.
    """
    stats = stats if stats is not None else ReplayStats()
    started = time.perf_counter()
    feeder = _Feeder(app, stats, decisions_out, observer, max(1, batch_size))
    source = read_ahead(iter(items), READ_AHEAD)
    # As in the running bot, a worker thread copies SQLite's log into the database file:
    # otherwise every few commits would do it on the loop's thread (tens of milliseconds
    # each, growing with the file).
    done = asyncio.Event()
    checkpoints = asyncio.create_task(app.db.checkpoints(done))
    try:
        while not feeder.exhausted:
            await feeder.transaction(source, attempts)
            # Between batches nothing is being written: the log can start afresh.
            await app.db.limit_log()
    finally:
        done.set()
        await checkpoints
    stats.seconds = time.perf_counter() - started
    return stats


def read_ahead(items: Iterator[T], size: int) -> Iterator[T]:
    """The items, taken from ``items`` ``size`` at a time; an error of ``items`` is raised
    after the items taken before it."""
    while True:
        chunk: list[T] = []
        error: BaseException | None = None
        try:
            for _ in range(size):
                chunk.append(next(items))
        except StopIteration:
            yield from chunk
            return
        except BaseException as exc:  # as without reading ahead: after what came before it
            error = exc
        yield from chunk
        if error is not None:
            raise error


class _Feeder:
    """Feeds events batch by batch; keeps each batch's events until it is committed."""

    def __init__(
        self,
        app: App,
        stats: ReplayStats,
        out: IO[str] | None,
        observer: Observer | None,
        size: int,
    ) -> None:
        self.app, self.stats, self.out, self.observer, self.size = app, stats, out, observer, size
        # Scheduled work (escalations, summaries) runs as history time passes: one tick per
        # community at every hour boundary the events cross. Tick keys are stable, so a
        # re-run does not repeat them.
        self.next_tick: dict[str, datetime] = {}
        self.exhausted = False
        # An error of the input (a reader, a file on a network share) is never retried: the
        # reader cannot go on, and feeding the batch again would end the input early.
        self.input_failed = False

    async def transaction(self, source: Iterator[LineEvent | LineError], attempts: int) -> None:
        """Feed the next batch in one transaction, again from its start after a lost one."""
        fed: list[LineEvent] = []  # this batch's events so far, to feed again on a retry
        counts = self._counts()
        ticks = dict(self.next_tick)

        async def attempt() -> None:
            self._restore(counts)
            self.next_tick = dict(ticks)
            lines: list[dict[str, Any]] = []
            seen: list[tuple[int, Any, list[Action], list[dict[str, Any]]]] = []
            calls = 0
            # The engine never commits inside: the batch ends when this block does.
            async with self.app.engine.batch(sys.maxsize):
                for item in itertools.chain(list(fed), self._read(source, fed)):
                    calls += await self._feed(item, lines, seen)
                    if calls >= self.size:
                        break
            if self.out is not None:
                for decision in lines:
                    self.out.write(json.dumps(decision, ensure_ascii=False, default=str) + "\n")
            if self.observer is not None:
                for observed in seen:
                    self.observer(*observed)

        # A commit whose answer was lost counts as failed: fed again, its events are then
        # duplicates (stored once, but missing from this run's log and counts).
        await retry(
            attempt,
            attempts=attempts,
            delay=0.1,
            max_delay=2.0,
            transient=lambda exc: not self.input_failed and is_transient(exc),
        )

    def _read(
        self, source: Iterator[LineEvent | LineError], fed: list[LineEvent]
    ) -> Iterator[LineEvent]:
        while True:
            try:
                item = next(source)
            except StopIteration:
                self.exhausted = True
                return
            except BaseException:
                self.input_failed = True
                raise
            if isinstance(item, LineError):
                self.stats.errors.append(item)
                continue
            fed.append(item)
            yield item

    async def _feed(
        self,
        item: LineEvent,
        lines: list[dict[str, Any]],
        seen: list[tuple[int, Any, list[Action], list[dict[str, Any]]]],
    ) -> int:
        """Process one event (and the tick before it, if an hour passed); engine calls made."""
        engine, stats, calls = self.app.engine, self.stats, 1
        event = item.event
        hour = event.at.replace(minute=0, second=0, microsecond=0)
        due = self.next_tick.get(event.community)
        if due is not None and event.at >= due:
            tick = Tick(
                key=f"tick:{event.community}:{hour.isoformat()}",
                community=event.community,
                chat="",
                at=hour,
            )
            ticked = await engine.process(tick)
            calls += 1
            logged = _log(ticked.decisions, stats, lines)
            if not ticked.duplicate:
                seen.append((item.line, tick, ticked.actions, logged))
        if due is None or event.at >= due:
            self.next_tick[event.community] = hour + timedelta(hours=1)
        result = await engine.process(event)
        match event:
            case MessagePosted():
                stats.messages += 1
            case ReactionAdded() | ReactionRemoved():
                stats.reactions += 1
            case CommandIssued():
                stats.commands += 1
            case MemberJoined():
                stats.joins += 1
        if result.duplicate:
            stats.duplicates += 1
            return calls
        logged = _log(result.decisions, stats, lines)
        seen.append((item.line, event, result.actions, logged))
        return calls

    def _counts(self) -> tuple[int, int, int, int, int, Counter[str], Counter[str]]:
        s = self.stats
        return (
            s.messages,
            s.reactions,
            s.commands,
            s.joins,
            s.duplicates,
            Counter(s.decisions),
            Counter(s.blocks),
        )

    def _restore(self, counts: tuple[int, int, int, int, int, Counter[str], Counter[str]]) -> None:
        """Forget what a rolled-back attempt counted (read errors stay: they were read)."""
        s = self.stats
        s.messages, s.reactions, s.commands, s.joins, s.duplicates = counts[:5]
        s.decisions, s.blocks = Counter(counts[5]), Counter(counts[6])


def _log(
    decisions: list[Decision], stats: ReplayStats, lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    logged = [d.as_json() for d in decisions]
    for decision in logged:
        stats.decisions[decision["kind"]] += 1
        if decision["kind"] == "karma_blocked":
            stats.blocks[str(decision.get("rule"))] += 1
    lines.extend(logged)
    return logged


def jsonl_reader(config: Config, default: str) -> JsonlReader:
    """A JSONL reader: lines without a community go to ``default``, unknown ones are errors."""

    def community_of(name: str | None) -> str | None:
        if name is None:
            return default
        return name if config.community(name) is not None else None

    return JsonlReader(community_of)


def counting(
    lines: Iterable[str | bytes], stats: ReplayStats, progress: Callable[[int], None] | None
) -> Iterable[str | bytes]:
    """Pass lines on, counting them and reporting their sizes to the progress bar."""
    for line in lines:
        stats.lines += 1
        if progress is not None:
            progress(len(line))
        yield line


def reply_texts(actions: list[Action]) -> list[str]:
    """The texts of the replies among actions."""
    return [a.text for a in actions if isinstance(a, Reply)]


def open_lines(path: Path) -> IO[bytes]:
    """Open a JSONL file for reading as bytes (sizes for the progress bar are byte counts)."""
    return path.open("rb")
