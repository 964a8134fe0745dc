"""The adapter protocol: a platform turns its objects into events and executes actions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from bot.actions import Action, describe
from bot.events import Event

log = logging.getLogger(__name__)

# What the adapter hands each event to; the runtime runs the engine and routes the actions.
EventSink = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result of executing one action on a platform."""

    ok: bool
    detail: str = ""
    # The platform's id of a message the action created, if any.
    message_id: str | None = None


class Adapter(Protocol):
    """A platform connection: receives events, executes the actions it supports."""

    platform: ClassVar[str]
    # Action kinds (class names, e.g. "Reply", "React") this adapter can execute.
    capabilities: ClassVar[frozenset[str]]

    async def run(self, sink: EventSink) -> None:
        """Connect and feed every event to ``sink`` until stopped."""
        ...

    async def stop(self) -> None:
        """Disconnect cleanly."""
        ...

    async def execute(self, action: Action) -> Delivery:
        """Execute one action; never raises for platform errors, reports them instead."""
        ...


class Router:
    """Sends each action to the adapter of the platform its chat is on."""

    def __init__(self, adapters: Mapping[str, Adapter]) -> None:
        self.adapters = dict(adapters)

    async def deliver(self, actions: list[Action]) -> list[Delivery]:
        """Execute actions in order; one failing action does not block the others."""
        results = []
        for action in actions:
            platform = action.chat.partition(":")[0].removesuffix("-guild")
            adapter = self.adapters.get(platform)
            if adapter is None:
                result = Delivery(False, f"no {platform} adapter is running")
            elif action.kind not in adapter.capabilities:
                result = Delivery(False, f"{platform} cannot {action.kind}")
            else:
                try:
                    result = await adapter.execute(action)
                except Exception as exc:  # an adapter bug must not stop the others
                    log.exception("%s failed to execute %s", platform, describe(action))
                    result = Delivery(False, f"{type(exc).__name__}: {exc}")
            if not result.ok:
                log.warning("action not executed: %s (%s)", describe(action), result.detail)
            results.append(result)
        return results
