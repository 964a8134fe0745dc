"""The running bot: adapters feed events to the engine; actions go out through the router.

Every action is stored in the outbox in the same transaction as its event. Delivery claims
the row first (pending -> sending), executes, then records the outcome; after a crash,
pending rows are delivered and interrupted ones are marked ``unknown``, never repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import Adapter, Delivery, Router
from bot.actions import Action, describe, from_payload
from bot.app import App
from bot.events import Event, Tick
from storage.faults import StorageFailure, fatal_reason
from storage.leader import Leadership
from storage.repositories import Store
from storage.retry import is_transient, retry

log = logging.getLogger(__name__)
# Tries to store one event while the database is unreachable: with waits doubling up to
# 10 s, some eight minutes before the bot stops instead of dropping events.
STORE_ATTEMPTS = 64


class Runtime:
    """Runs adapters in one event loop, hands their events to the engine, routes actions."""

    def __init__(
        self,
        app: App,
        adapters: Sequence[Adapter],
        *,
        tick_seconds: float = 60.0,
        shutdown_seconds: float = 10.0,
        outbox_max_age: timedelta = timedelta(hours=24),
        ready_seconds: float = 60.0,
    ) -> None:
        self.app = app
        self.adapters = list(adapters)
        self.router = Router({a.platform: a for a in adapters})
        self.tick_seconds = tick_seconds
        self.shutdown_seconds = shutdown_seconds
        self.outbox_max_age = outbox_max_age
        self.ready_seconds = ready_seconds
        self.failure: StorageFailure | None = None
        app.engine.outbox = True
        self._stopping = asyncio.Event()
        # Whether this process runs the scheduled work (released when the ticker ends).
        self.leadership = Leadership(app.db)
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Set once the actions a previous run left in the outbox were handled (or the wait
        # for the adapters ended with a stop).
        self.recovered = asyncio.Event()

    async def sink(self, event: Event) -> None:
        """Handle one event and execute what the engine decided."""
        self._busy += 1
        self._idle.clear()
        try:
            try:
                # A lost connection (a database restart, a failover) rolls the event back
                # whole; it is stored again, not dropped, once the database is back.
                result = await retry(
                    lambda: self.app.engine.process(event),
                    attempts=STORE_ATTEMPTS,
                    max_delay=10.0,
                )
            except Exception as exc:
                reason = fatal_reason(exc)
                if reason is None and is_transient(exc):
                    reason = "the database stayed unreachable"
                if reason is None:
                    raise
                self._fail(reason, exc, event)
                return
            if result.actions:
                await self.deliver_stored(event.key, result.actions)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def deliver(self, actions: list[Action]) -> list[Delivery]:
        """Execute actions on their platforms, without the outbox (nothing stored them)."""
        return await self.router.deliver(actions)

    async def deliver_stored(self, event_key: str, actions: Sequence[Action]) -> list[Delivery]:
        """Execute an event's stored actions in order, each at most once across restarts."""
        results = []
        for position, action in enumerate(actions):
            result = await self._deliver_one(event_key, position, action)
            if result is not None:
                results.append(result)
        return results

    async def recover(self) -> int:
        """Deliver what a previous run stored but never sent; returns how many were sent."""
        now = datetime.now(UTC)
        async with self.app.db.session() as session:
            settled = await Store(session).outbox.settle(now - self.outbox_max_age)
        if settled["unknown"]:
            log.warning(
                "%d action(s) were being sent when the bot stopped; they are not repeated",
                settled["unknown"],
            )
        if settled["expired"]:
            log.warning(
                "%d stored action(s) are older than %s and were dropped",
                settled["expired"],
                self.outbox_max_age,
            )
        async with self.app.db.session() as session:
            rows = await Store(session).outbox.pending(now - self.outbox_max_age)
        sent = 0
        for row in rows:
            try:
                action = from_payload(row.kind, row.payload)
            except ValueError as exc:
                log.error("outbox row %s cannot be read (%s); dropped", row.id, exc)
                await self._settle_one(row.event_key, row.position, Delivery(False, str(exc)))
                continue
            result = await self._deliver_one(row.event_key, row.position, action)
            sent += bool(result and result.ok)
        if rows:
            log.info("delivered %d of %d action(s) left by the previous run", sent, len(rows))
        return sent

    async def _deliver_one(self, event_key: str, position: int, action: Action) -> Delivery | None:
        """Claim, execute and record one stored action; None if it was not ours to send."""
        if not await retry(lambda: self._claim(event_key, position), max_delay=10.0):
            return None  # another process, or an earlier delivery, has it
        (result,) = await self.router.deliver([action])
        status = "sent" if result.ok else "failed"
        error = None if result.ok else result.detail

        async def finish() -> None:
            async with self.app.db.session() as session:
                await Store(session).outbox.finish(
                    event_key, position, status, error, datetime.now(UTC)
                )

        try:
            await retry(finish, max_delay=10.0)
        except Exception:
            # Left "sending": after a restart it becomes "unknown", never a repeat.
            log.exception("could not record the delivery of %s", describe(action))
        return result

    async def _claim(self, event_key: str, position: int) -> bool:
        async with self.app.db.session() as session:
            return await Store(session).outbox.claim(event_key, position)

    async def _settle_one(self, event_key: str, position: int, result: Delivery) -> None:
        async with self.app.db.session() as session:
            store = Store(session)
            if await store.outbox.claim(event_key, position):
                await store.outbox.finish(
                    event_key, position, "failed", result.detail, datetime.now(UTC)
                )

    async def tick(self, now: datetime | None = None) -> None:
        """Let scheduled work run for every community."""
        at = now or datetime.now(UTC)
        for community in self.app.config.communities:
            await self.sink(
                Tick(
                    key=f"tick:{community.name}:{at.isoformat()}",
                    community=community.name,
                    chat="",
                    at=at,
                )
            )

    async def _ticker(self) -> None:
        # Of several processes on one database only the leader ticks; the others try for
        # the lead at every tick, so one takes over when the leader is gone.
        try:
            while not self._stopping.is_set():
                try:
                    if await self.leadership.check():
                        await self.tick()
                except Exception:
                    log.exception("scheduled work failed; trying again at the next tick")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.tick_seconds)
        finally:
            await self.leadership.release()

    async def _recover_when_ready(self) -> None:
        """Wait (bounded) for the adapters to connect, then send what was left behind."""
        events = [getattr(a, "ready", None) for a in self.adapters]
        waits = [e.wait() for e in events if isinstance(e, asyncio.Event)]
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        ready: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*waits))
        try:
            await asyncio.wait(
                [stopping, ready], timeout=self.ready_seconds, return_when="FIRST_COMPLETED"
            )
        finally:
            stopping.cancel()
            ready.cancel()
        try:
            if not self._stopping.is_set():
                await self.recover()
        except Exception as exc:
            reason = fatal_reason(exc)
            if reason is None:
                log.exception("delivering the actions left by the previous run failed")
            else:
                self._fail(reason, exc, None)
        finally:
            self.recovered.set()

    def _fail(self, reason: str, exc: BaseException, event: Event | None) -> None:
        """Stop cleanly on a database that cannot store: going on would lose events."""
        where = f" while storing {event.key}" if event is not None else ""
        log.critical("%s%s; stopping (%s)", reason, where, exc)
        if self.failure is None:
            self.failure = StorageFailure(reason, f"{type(exc).__name__}{where}")
        self._stopping.set()

    async def run(self) -> None:
        """Run until SIGINT/SIGTERM or ``stop()``; then drain and stop every adapter.

        In-flight events get ``shutdown_seconds`` to finish; whatever is still running then
        is cancelled and its event rolls back whole (nothing half-stored). Actions of
        events already stored but not yet sent wait in the outbox for the next start.
        Raises StorageFailure after a database failure stopped the bot.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stopping.set)
        tasks: list[asyncio.Task[None]] = []
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            for adapter in self.adapters:
                tasks.append(
                    asyncio.create_task(adapter.run(self.sink), name=f"adapter-{adapter.platform}")
                )
            running = set(tasks)
            tasks.append(asyncio.create_task(self._ticker(), name="ticker"))
            tasks.append(asyncio.create_task(self._recover_when_ready(), name="outbox"))
            checkpoints = self.app.db.checkpoints(self._stopping)
            tasks.append(asyncio.create_task(checkpoints, name="checkpoints"))
            waiting: set[asyncio.Future[Any]] = {stopped, *running}
            # An adapter that ends quietly (a console at end of input) leaves the others
            # running; one that fails stops the bot.
            while not self._stopping.is_set():
                done, waiting = await asyncio.wait(waiting, return_when="FIRST_COMPLETED")
                if any(t is not stopped and t.exception() is not None for t in done):
                    break
            stopped.cancel()
            self._stopping.set()
            await self._drain(tasks)
        finally:
            stopped.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(stopped, *tasks, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        for task in tasks:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
        if self.failure is not None:
            raise self.failure

    async def _drain(self, tasks: list[asyncio.Task[None]]) -> None:
        """Stop the adapters and let in-flight work finish, within ``shutdown_seconds``."""
        try:
            async with asyncio.timeout(self.shutdown_seconds):
                for adapter in self.adapters:
                    await adapter.stop()
                await self._idle.wait()
                await asyncio.gather(*tasks, return_exceptions=True)
        except TimeoutError:
            log.warning(
                "shutdown took longer than %.0f s: %d event(s) still in flight were cancelled",
                self.shutdown_seconds,
                self._busy,
            )

    def stop(self) -> None:
        """Ask the runtime to stop."""
        self._stopping.set()
