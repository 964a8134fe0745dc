"""The runtime: the outbox (no action twice, none lost in the commit-to-send window), a
platform error on one action, the bounded drain on stop, and a database that cannot store."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import event, func, select
from sqlmodel import col

from adapters.base import Delivery, EventSink
from bot.actions import (
    Action,
    Button,
    DirectMessage,
    PostSummary,
    React,
    Reply,
    Restrict,
    ReviewRequest,
    SetRole,
    from_payload,
    to_payload,
)
from bot.app import App
from bot.engine import Engine
from bot.events import CommandIssued, Event, Member, MessagePosted
from bot.runtime import Runtime
from storage import models
from storage.faults import StorageFailure, fatal_reason
from tests.conftest import MakeApp, MakeChat

NOW = datetime.now(UTC).replace(microsecond=0)


class Recorder:
    """An adapter that records what it executes; fails or stalls on request."""

    platform: ClassVar[str] = "console"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"Reply", "React", "ReviewRequest", "PostSummary", "DirectMessage", "Delete"}
    )

    def __init__(self, *, fail: Callable[[Action], bool] = lambda _a: False) -> None:
        self.executed: list[Action] = []
        self.fail = fail
        self.ready = asyncio.Event()
        self.sink: EventSink | None = None
        self._stop = asyncio.Event()
        self.stopped = False
        self.changed = asyncio.Event()

    async def run(self, sink: EventSink) -> None:
        self.sink = sink
        self.ready.set()
        await self._stop.wait()

    async def stop(self) -> None:
        self.stopped = True
        self._stop.set()

    async def execute(self, action: Action) -> Delivery:
        if self.fail(action):
            return Delivery(False, "403 Forbidden")
        self.executed.append(action)
        self.changed.set()
        return Delivery(True)


def member(name: str) -> Member:
    return Member(key=f"console:{name}", name=name, username=name)


def help_command(n: int, at: datetime = NOW) -> CommandIssued:
    return CommandIssued(
        key=f"console:general:{n}",
        community="demo",
        chat="console:general",
        at=at,
        name="help",
        args=(),
        author=member("alice"),
        message_id=str(n),
    )


def message(n: int, text: str, author: str, reply_to: int | None = None) -> MessagePosted:
    return MessagePosted(
        key=f"console:general:{n}",
        community="demo",
        chat="console:general",
        at=NOW + timedelta(minutes=n),
        message_id=str(n),
        author=member(author),
        text=text,
        reply_to=None if reply_to is None else str(reply_to),
    )


async def outbox(app: App) -> list[tuple[str, int, str]]:
    async with app.db.session() as session:
        rows = (await session.execute(select(models.OutboxItem))).scalars().all()
    return sorted((r.event_key, r.position, r.status) for r in rows)


async def run_until_sent(runtime: Runtime, adapter: Recorder, count: int) -> None:
    """Run the runtime until ``adapter`` executed ``count`` actions (bounded), then stop it."""
    task = asyncio.create_task(runtime.run())
    try:
        async with asyncio.timeout(20):
            while len(adapter.executed) < count:
                await adapter.changed.wait()
                adapter.changed.clear()
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 20)


# --- the outbox ----------------------------------------------------------------------------


def test_every_action_kind_survives_the_outbox_round_trip() -> None:
    until = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    actions: list[Action] = [
        Reply(chat="telegram:-1", text="hallo *du*", reply_to="5", thread="7"),
        React(chat="discord:1", message_id="9", emoji="👍"),
        Restrict(chat="telegram:-1", member="telegram:5", until=until, reason="spam"),
        ReviewRequest(
            chat="discord:2",
            case_id=4,
            text="flag",
            buttons=(Button(label="Confirm", custom_id="case:4:confirm"),),
        ),
        PostSummary(chat="telegram:-1", text="week", image=b"\x89PNG\x00\xff"),
        DirectMessage(chat="telegram:-1", member="telegram:5", text="data", attachment=b"{}"),
        SetRole(chat="discord-guild:1", member="discord:5", role="Helper", add=False),
    ]
    for action in actions:
        assert from_payload(action.kind, to_payload(action)) == action
    with pytest.raises(ValueError, match="unknown action kind"):
        from_payload("Explode", {})
    with pytest.raises(ValueError, match="Reply"):
        from_payload("Reply", {"chat": "x", "nonsense": 1})


async def test_actions_are_stored_with_the_event_and_marked_sent(make_app: MakeApp) -> None:
    app = await make_app()
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    await runtime.sink(help_command(1))
    assert [a.kind for a in adapter.executed] == ["Reply"]
    assert await outbox(app) == [("console:general:1", 0, "sent")]
    # Redelivery of the same platform event: nothing is stored or sent again.
    await runtime.sink(help_command(1))
    assert len(adapter.executed) == 1


async def test_actions_stored_but_not_sent_before_a_crash_are_sent_once_after_restart(
    make_app: MakeApp,
) -> None:
    app = await make_app()
    # The first process stored the event and its actions, then died before sending.
    app.engine.outbox = True
    await app.engine.process(help_command(1))
    await app.engine.process(help_command(2))
    assert [s for *_, s in await outbox(app)] == ["pending", "pending"]

    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600)

    await run_until_sent(runtime, adapter, 2)
    assert [s for *_, s in await outbox(app)] == ["sent", "sent"]
    # A second restart finds nothing left to send.
    again = Recorder()
    assert await Runtime(app, [again], tick_seconds=3600).recover() == 0
    assert again.executed == []


async def test_an_action_interrupted_while_sending_is_never_repeated(make_app: MakeApp) -> None:
    app = await make_app()
    app.engine.outbox = True
    await app.engine.process(help_command(1))
    # The process claimed the row (the platform may have got the message) and died.
    from storage.repositories import Store

    async with app.db.session() as session:
        assert await Store(session).outbox.claim("console:general:1", 0)
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    assert await runtime.recover() == 0
    assert adapter.executed == []
    assert await outbox(app) == [("console:general:1", 0, "unknown")]


async def test_stored_actions_older_than_the_limit_are_dropped_not_sent(
    make_app: MakeApp,
) -> None:
    app = await make_app()
    app.engine.outbox = True
    await app.engine.process(help_command(1, at=NOW - timedelta(days=3)))
    await app.engine.process(help_command(2))
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600, outbox_max_age=timedelta(days=1))
    assert await runtime.recover() == 1
    assert await outbox(app) == [
        ("console:general:1", 0, "expired"),
        ("console:general:2", 0, "sent"),
    ]


async def test_a_platform_error_on_one_action_does_not_block_the_others(
    make_app: MakeApp,
) -> None:
    app = await make_app()
    # A serious complaint: a reply in the chat and a review request to the moderators; the
    # platform refuses the reply (say, the bot may not write there any more).
    adapter = Recorder(fail=lambda action: isinstance(action, Reply))
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    await runtime.sink(message(1, "Ich wende mich jetzt an die Verbraucherzentrale.", "alice"))
    assert [a.kind for a in adapter.executed] == ["ReviewRequest"]
    assert await outbox(app) == [
        ("console:general:1", 0, "failed"),
        ("console:general:1", 1, "sent"),
    ]
    async with app.db.session() as session:
        error = (
            await session.execute(
                select(models.OutboxItem.error).where(models.OutboxItem.kind == "Reply")
            )
        ).scalar_one()
    assert error == "403 Forbidden"


async def test_two_runtimes_recovering_one_outbox_send_each_action_once(
    make_app: MakeApp,
) -> None:
    app = await make_app()
    other = await make_app()
    app.engine.outbox = True
    for n in range(1, 21):
        await app.engine.process(help_command(n))
    first, second = Recorder(), Recorder()
    await asyncio.gather(
        Runtime(app, [first], tick_seconds=3600).recover(),
        Runtime(other, [second], tick_seconds=3600).recover(),
    )
    assert len(first.executed) + len(second.executed) == 20
    assert {s for *_, s in await outbox(app)} == {"sent"}


async def test_settled_outbox_rows_are_purged_with_the_daily_retention(
    make_app: MakeApp,
) -> None:
    app = await make_app()
    runtime = Runtime(app, [Recorder()], tick_seconds=3600)
    await runtime.sink(help_command(1, at=NOW - timedelta(days=10)))
    await runtime.sink(help_command(2))
    assert len(await outbox(app)) == 2
    await runtime.tick(NOW + timedelta(hours=1))
    assert [key for key, *_ in await outbox(app)] == ["console:general:2"]


# --- stopping --------------------------------------------------------------------------


async def test_stop_lets_in_flight_events_finish(make_app: MakeApp) -> None:
    app = await make_app()
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600, shutdown_seconds=5)
    slow = asyncio.Event()
    original = app.engine.process

    async def slow_process(event: Event) -> object:
        slow.set()
        await asyncio.sleep(0.5)
        return await original(event)

    app.engine.process = slow_process  # type: ignore[method-assign]
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    assert adapter.sink is not None
    in_flight = asyncio.create_task(adapter.sink(help_command(1)))
    await asyncio.wait_for(slow.wait(), 5)
    runtime.stop()
    await asyncio.wait_for(task, 10)
    await in_flight
    assert adapter.stopped
    assert [a.kind for a in adapter.executed] == ["Reply"]
    assert await outbox(app) == [("console:general:1", 0, "sent")]


async def test_stop_is_bounded_when_work_hangs(make_app: MakeApp) -> None:
    app = await make_app()
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600, shutdown_seconds=0.5)
    started = asyncio.Event()

    async def hanging(event: Event) -> object:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app.engine.process = hanging  # type: ignore[method-assign]
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    assert adapter.sink is not None
    stuck = asyncio.create_task(adapter.sink(help_command(1)))
    await asyncio.wait_for(started.wait(), 5)
    began = time.monotonic()
    runtime.stop()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - began < 3
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)


# --- a database that cannot store ----------------------------------------------------------


async def _stored_messages(app: App) -> int:
    async with app.db.session() as session:
        count = select(func.count()).select_from(models.Message)
        return int((await session.execute(count)).scalar_one())


async def _ticked(app: App) -> None:
    """Return once a tick is stored (the runtime ticks when it starts)."""
    while True:
        async with app.db.session() as session:
            ticks = select(func.count()).select_from(models.ProcessedEvent)
            if await session.scalar(ticks.where(col(models.ProcessedEvent.kind) == "Tick")):
                return
        await asyncio.sleep(0.01)


async def test_a_full_disk_stops_the_bot_with_a_clear_error_and_keeps_what_was_stored(
    make_app: MakeApp, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("a full disk is simulated with SQLite's page limit")
    app = await make_app()
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    assert adapter.sink is not None
    await adapter.sink(message(1, "Hallo zusammen", "alice"))
    assert await _stored_messages(app) == 1

    # From now on the file cannot grow: SQLite answers as it does on a full disk.
    def full(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(app.db.engine.sync_engine, "connect", full)
    # Disposing the pool while the start-up outbox recovery or the first tick (which
    # reads for the weekly summary in a session of its own first) holds a connection
    # would orphan that connection; both are done by then.
    await asyncio.wait_for(runtime.recovered.wait(), 5)
    await asyncio.wait_for(_ticked(app), 5)
    await asyncio.wait_for(runtime._idle.wait(), 5)
    await app.db.engine.dispose()
    long_text = "x" * 200_000  # needs new pages
    await adapter.sink(message(2, long_text, "bob"))
    with pytest.raises(StorageFailure, match="the disk is full"):
        await asyncio.wait_for(task, 15)
    assert adapter.stopped
    event.remove(app.db.engine.sync_engine, "connect", full)
    await app.db.engine.dispose()
    assert await _stored_messages(app) == 1


def test_storage_failures_are_recognised_by_their_driver_messages() -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def wrapped(message: str) -> OperationalError:
        return OperationalError("INSERT", {}, sqlite3.OperationalError(message))

    assert fatal_reason(wrapped("attempt to write a readonly database")) == (
        "the database is read-only"
    )
    assert fatal_reason(wrapped("database or disk is full")) == "the disk is full"
    assert fatal_reason(wrapped("database is locked")) is None
    assert fatal_reason(ValueError("readonly database")) is None


def _immutable(path: Path, on: bool) -> bool:
    """Make a file read-only even for root (chattr), or by its mode for other users."""
    if os.geteuid() != 0:
        path.chmod(0o444 if on else 0o644)
        return True
    if shutil.which("chattr") is None:
        return False
    flag = "+i" if on else "-i"
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


async def test_a_read_only_database_file_gives_a_clear_error_and_a_clean_stop(
    tmp_path: Path,
) -> None:
    from bot.app import default_config

    path = tmp_path / "leumund.db"
    config = default_config(f"sqlite+aiosqlite:///{path}")
    app = await App.create(config)
    runtime = Runtime(app, [Recorder()], tick_seconds=3600)
    await runtime.sink(message(1, "Hallo zusammen", "alice"))
    await app.close()
    if not _immutable(path, True):
        pytest.skip("cannot make a file read-only here (no chattr for root)")
    try:
        app = await App.create(config)
        adapter = Recorder()
        runtime = Runtime(app, [adapter], tick_seconds=3600)
        task = asyncio.create_task(runtime.run())
        await asyncio.wait_for(adapter.ready.wait(), 5)
        assert adapter.sink is not None
        await adapter.sink(message(2, "Noch jemand da?", "bob"))
        with pytest.raises(StorageFailure, match=r"read-only|cannot be opened"):
            await asyncio.wait_for(task, 15)
        assert adapter.stopped
        assert await _stored_messages(app) == 1
        await app.close()
    finally:
        _immutable(path, False)


def test_a_replay_into_a_read_only_database_stops_with_a_clear_error(tmp_path: Path) -> None:
    from bot.bench.synth import SynthConfig, write_jsonl
    from tests.bot.test_crash_loop import child_env, replay_command

    jsonl = tmp_path / "community.jsonl"
    write_jsonl(jsonl, SynthConfig(lines=60, members=20))
    path = tmp_path / "leumund.db"
    command = replay_command(jsonl, path)
    env = child_env()
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert before > 0
    write_jsonl(jsonl, SynthConfig(lines=120, members=20, seed=2))
    if not _immutable(path, True):
        pytest.skip("cannot make a file read-only here (no chattr for root)")
    try:
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    finally:
        _immutable(path, False)
    assert second.returncode == 3, second.stderr
    said = "".join(second.stderr.split())  # the message is wrapped to the terminal
    assert "replaystopped" in said
    assert "read-only" in said or "cannotbeopened" in said
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == before


async def test_an_event_whose_connection_is_killed_is_stored_again_not_dropped(
    make_app: MakeApp, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("a killed server connection is a PostgreSQL matter")
    app = await make_app()
    adapter = Recorder()
    runtime = Runtime(app, [adapter], tick_seconds=3600)
    kills: list[str] = []

    # The third statement of the next transaction finds its server process terminated,
    # as after a server restart or pg_terminate_backend: the whole transaction is lost.
    def kill_once(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if kills or statement.startswith("SELECT pg_terminate_backend"):
            return
        calls.append(statement)
        if len(calls) == 3:
            kills.append(statement)
            conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")

    calls: list[str] = []
    event.listen(app.db.engine.sync_engine, "before_cursor_execute", kill_once)
    try:
        await runtime.sink(help_command(1))
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", kill_once)
    assert kills, "the connection must have been killed mid-transaction"
    assert [a.kind for a in adapter.executed] == ["Reply"]
    assert await outbox(app) == [("console:general:1", 0, "sent")]
    async with app.db.session() as session:
        claimed = select(func.count()).select_from(models.ProcessedEvent)
        assert (await session.execute(claimed)).scalar_one() == 1


async def test_the_bot_gets_the_configured_shutdown_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.launch
    from bot.app import default_config

    made: list[float] = []
    steps: list[str] = []

    class Started(Runtime):
        async def run(self) -> None:
            made.append(self.shutdown_seconds)
            steps.append("run")

    url = f"sqlite+aiosqlite:///{tmp_path / 'launch.db'}"
    config = default_config(url)
    config = dataclasses.replace(
        config, bot=config.bot.model_copy(update={"shutdown_seconds": 2.5})
    )
    monkeypatch.setattr(bot.launch, "Runtime", Started)
    monkeypatch.setattr(bot.launch, "build_adapters", lambda _config, _app: [Recorder()])
    # Lexicons and models are built and the start-up heap set aside once the bot is
    # built, before it runs.
    monkeypatch.setattr(bot.launch, "warm_up", lambda _engine: steps.append("warmed"))
    monkeypatch.setattr(bot.launch, "settle_heap", lambda: steps.append("settled"))

    async def preload(self: Engine, now: datetime | None = None) -> None:
        steps.append("preloaded")

    monkeypatch.setattr(Engine, "preload", preload)
    await bot.launch.launch(config)
    assert made == [2.5]
    assert steps == ["warmed", "preloaded", "settled", "run"]


async def test_warming_up_builds_what_the_first_message_would_wait_for(
    make_app: MakeApp,
) -> None:
    from bot.features.complaints import detect as complaints
    from bot.features.karma import detect as karma
    from bot.features.promo import classifier
    from bot.launch import WARM_UP_TEXTS, warm_up
    from bot.locales import LANGUAGES

    assert sorted(language for _, language in WARM_UP_TEXTS) == sorted(LANGUAGES)
    built = (complaints._lexicons, karma._lexicon, classifier.seed_model)
    app = await make_app()
    for cached in built:
        cached.cache_clear()
    warm_up(app.engine)
    assert [cached.cache_info().currsize > 0 for cached in built] == [True] * len(built)
    # Every language's thanks words: a German community's members also write in English.
    assert karma._lexicon.cache_info().currsize >= len(LANGUAGES)


async def test_a_feature_that_fails_to_warm_up_is_logged_and_the_bot_starts(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.features.complaints import ComplaintsFeature
    from bot.features.karma import KarmaFeature
    from bot.launch import warm_up

    def broken(self: Any, text: str, language: str | None) -> dict[str, Any]:
        raise RuntimeError("lexicon missing")

    monkeypatch.setattr(ComplaintsFeature, "analyse", broken)
    scored: list[str | None] = []
    monkeypatch.setattr(
        KarmaFeature, "analyse", lambda self, text, language: scored.append(language) or {}
    )
    app = await make_app(features=[ComplaintsFeature(), KarmaFeature()])
    warm_up(app.engine)
    assert "feature complaints failed to warm up" in caplog.text
    assert "lexicon missing" in caplog.text
    assert sorted(language or "" for language in scored) == ["de", "en"]  # the others go on


async def test_preloading_reads_what_the_first_award_and_message_would_wait_for(
    make_chat: MakeChat,
) -> None:
    from bot.features.karma import KarmaFeature
    from bot.features.promo import PromoFeature

    karma, promo = KarmaFeature(), PromoFeature()
    chat = await make_chat(features=[karma, promo])
    answer = await chat.say("bob", "Versuch mal einen Neustart.")
    await chat.react("carol", answer, "👍")
    karma.reset()  # a restart: nothing is kept in memory
    promo.reset()
    recent, loads = karma._recent, karma._recent.loads
    # Only a process that writes every ledger row keeps them (SQLite); on PostgreSQL other
    # processes write too, and the rules query.
    kept = chat.engine.db.is_sqlite
    await chat.engine.preload(chat.clock())
    assert recent.loads == loads + kept
    assert recent.rows("demo") == (1 if kept else 0)
    assert "demo" in karma._starts
    assert promo.classifier("demo") is not None
    await chat.react("dave", answer, "👍")
    assert recent.loads == loads + kept  # the award read no ledger rows
    assert recent.rows("demo") == (2 if kept else 0)
    assert [d.kind for d in chat.decisions[-1:]] == ["karma"]


async def test_a_feature_that_fails_to_preload_is_logged_and_forgets_what_it_read(
    make_chat: MakeChat, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.features.karma import KarmaFeature
    from bot.features.promo import PromoFeature

    karma, promo = KarmaFeature(), PromoFeature()
    chat = await make_chat(features=[karma, promo])
    answer = await chat.say("bob", "Versuch mal einen Neustart.")
    await chat.react("carol", answer, "👍")
    karma.reset()
    promo.reset()
    read = KarmaFeature.preload

    async def half_read(self: KarmaFeature, ctx: Any) -> None:
        await read(self, ctx)
        raise RuntimeError("ledger unreadable")

    monkeypatch.setattr(KarmaFeature, "preload", half_read)
    await chat.engine.preload(chat.clock())
    assert "feature karma failed to preload demo" in caplog.text
    assert "ledger unreadable" in caplog.text
    assert karma._recent.rows("demo") == 0  # not kept half-read: read again on first use
    assert promo.classifier("demo") is not None  # the others go on
    await chat.react("dave", answer, "👍")
    assert [d.kind for d in chat.decisions[-1:]] == ["karma"]


def test_settling_the_heap_keeps_start_up_objects_out_of_collections() -> None:
    import gc

    from bot.launch import settle_heap

    # From nothing frozen: a test before it in the same worker may have frozen objects
    # that were freed since, which leaves the count below what it was.
    gc.unfreeze()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_batch_jobs_collect_less_often_and_restore_the_collector() -> None:
    import gc

    from bot.launch import BATCH_THRESHOLD, batch_collections

    before = gc.get_threshold()
    with batch_collections():
        assert gc.get_threshold() == (BATCH_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), batch_collections():
        raise RuntimeError("a replay that fails")
    assert gc.get_threshold() == before
