"""Start the real bot: the adapters the config enables, in one event loop."""

from __future__ import annotations

import gc
import logging

from adapters.base import Adapter
from bot.app import App
from bot.config import Config, ConfigError, Problem
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def build_adapters(config: Config, app: App) -> list[Adapter]:
    """One adapter per enabled platform; tokens come from the environment."""
    adapters: list[Adapter] = []
    specs = app.engine.command_specs()
    if config.telegram.enabled:
        from adapters.telegram import TelegramAdapter

        adapters.append(TelegramAdapter.for_app(app))
    if config.discord.enabled:
        from adapters.discord import DiscordAdapter

        adapters.append(
            DiscordAdapter(
                config,
                commands=specs,
                token=config.token("discord"),
                moderator_roles=config.discord.moderator_roles,
            )
        )
    if not adapters:
        raise ConfigError(
            config.source,
            [Problem("telegram.enabled / discord.enabled", "enable at least one platform")],
        )
    return adapters


def settle_heap() -> None:
    """Keep what start-up built (modules, schemas, the app) out of later garbage collections.

    A full collection walks every object; with the start-up objects it took some 100 ms,
    which the member whose event set it off and the events queued behind it waited for.
    These objects live as long as the process, so the collector need not look at them.
    """
    gc.collect()
    gc.freeze()


async def launch(config: Config) -> None:
    """Run until SIGINT/SIGTERM."""
    # Check the tokens before touching the database, so a bad start changes nothing.
    if config.telegram.enabled:
        config.token("telegram")
    if config.discord.enabled:
        config.token("discord")
    app = await App.create(config)
    try:
        runtime = Runtime(
            app, build_adapters(config, app), shutdown_seconds=config.bot.shutdown_seconds
        )
        settle_heap()
        log.info("Leumund is running for %d community(ies)", len(config.communities))
        await runtime.run()
    finally:
        await app.close()
