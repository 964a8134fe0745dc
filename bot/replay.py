"""Replaying a chat history through the full pipeline: events in, decisions and totals out."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

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
) -> ReplayStats:
    """Feed the items of any reader (JSONL, exports) through the engine; errors are kept.

    A reader that cannot go on yields its error and stops; what came before it is
    committed with the last batch.
    """
    stats = stats if stats is not None else ReplayStats()
    started = time.perf_counter()
    # Scheduled work (escalations, summaries) runs as history time passes: one tick per
    # community at every hour boundary the events cross. Tick keys are stable, so a
    # re-run does not repeat them.
    next_tick: dict[str, datetime] = {}
    async with app.engine.batch(batch_size):
        for item in items:
            if isinstance(item, LineError):
                stats.errors.append(item)
                continue
            event = item.event
            hour = event.at.replace(minute=0, second=0, microsecond=0)
            due = next_tick.get(event.community)
            if due is not None and event.at >= due:
                tick = Tick(
                    key=f"tick:{event.community}:{hour.isoformat()}",
                    community=event.community,
                    chat="",
                    at=hour,
                )
                ticked = await app.engine.process(tick)
                logged = _log(ticked.decisions, stats, decisions_out)
                if observer is not None and not ticked.duplicate:
                    observer(item.line, tick, ticked.actions, logged)
            if due is None or event.at >= due:
                next_tick[event.community] = hour + timedelta(hours=1)
            result = await app.engine.process(event)
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
                continue
            logged = _log(result.decisions, stats, decisions_out)
            if observer is not None:
                observer(item.line, event, result.actions, logged)
    stats.seconds = time.perf_counter() - started
    return stats


def _log(
    decisions: list[Decision], stats: ReplayStats, out: IO[str] | None
) -> list[dict[str, Any]]:
    logged = [d.as_json() for d in decisions]
    for decision in logged:
        stats.decisions[decision["kind"]] += 1
        if decision["kind"] == "karma_blocked":
            stats.blocks[str(decision.get("rule"))] += 1
    if out is not None:
        for decision in logged:
            out.write(json.dumps(decision, ensure_ascii=False, default=str) + "\n")
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
