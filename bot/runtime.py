"""The running bot: adapters feed events to the engine; actions go out through the router."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime

from adapters.base import Adapter, Delivery, Router
from bot.actions import Action
from bot.app import App
from bot.events import Event, Tick

log = logging.getLogger(__name__)


class Runtime:
    """Runs adapters in one event loop, hands their events to the engine, routes actions."""

    def __init__(
        self, app: App, adapters: Sequence[Adapter], *, tick_seconds: float = 60.0
    ) -> None:
        self.app = app
        self.adapters = list(adapters)
        self.router = Router({a.platform: a for a in adapters})
        self.tick_seconds = tick_seconds
        self._stopping = asyncio.Event()

    async def sink(self, event: Event) -> None:
        """Handle one event and execute what the engine decided."""
        actions = await self.app.engine.handle(event)
        if actions:
            await self.deliver(actions)

    async def deliver(self, actions: list[Action]) -> list[Delivery]:
        """Execute actions on their platforms."""
        return await self.router.deliver(actions)

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
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("scheduled work failed; trying again at the next tick")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick_seconds)

    async def run(self) -> None:
        """Run until SIGINT/SIGTERM or ``stop()``; then stop every adapter cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stopping.set)
        try:
            async with asyncio.TaskGroup() as group:
                for adapter in self.adapters:
                    group.create_task(adapter.run(self.sink), name=f"adapter-{adapter.platform}")
                group.create_task(self._ticker(), name="ticker")
                await self._stopping.wait()
                for adapter in self.adapters:
                    await adapter.stop()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    def stop(self) -> None:
        """Ask the runtime to stop."""
        self._stopping.set()
