"""Start the real bot: the adapters the config enables, in one event loop."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.base import Adapter
from bot.app import App
from bot.config import Config, ConfigError, Problem
from bot.engine import Engine
from bot.features.base import Analyser
from bot.runtime import Runtime

log = logging.getLogger(__name__)
# Allocations between collections of the youngest generation in a batch job (Python: 700).
BATCH_THRESHOLD = 10_000


# A message with thanks, a complaint and a link in each language the bot reads.
WARM_UP_TEXTS = (
    ("Danke! Seit drei Tagen geht nichts, das ist eine Katastrophe 😡 https://example.org", "de"),
    ("Thanks! Nothing has worked for three days, this is a disaster 😡 https://example.org", "en"),
)


def warm_up(engine: Engine) -> None:
    """Build what the first message would wait for: lexicons, patterns, the seed model.

    Each is built on first use and kept; after a restart the first member's message (and
    the backlog queued behind it) waited some 300 ms for them. Scoring a message in each
    language with every feature that scores texts builds them all.
    """
    for feature in engine.features:
        if isinstance(feature, Analyser):
            for text, language in WARM_UP_TEXTS:
                try:
                    feature.analyse(text, language)
                except Exception:
                    # As while handling events: one feature's bug does not stop the bot.
                    log.exception("feature %s failed to warm up", feature.name)


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


@contextmanager
def batch_collections() -> Iterator[None]:
    """Collect garbage less often while a batch job (a replay, an import) runs.

    Every 700 allocations the collector walked the young objects, and every few thousand
    the whole heap (the karma flows, the promo windows): 6 % of a replay's time, most of it
    in full collections of 100 ms each. Nobody waits for an answer from a batch job, so a
    pause of a few milliseconds every 10,000 allocations is no cost (a replay of 120,000
    lines: 3.3 s in collections before, 0.6 s after; peak memory 229 and 227 MB). The
    running bot keeps the default: its members wait for answers.
    """
    old = gc.get_threshold()
    gc.set_threshold(BATCH_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


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
        warm_up(app.engine)
        await app.engine.preload()
        settle_heap()
        log.info("Leumund is running for %d community(ies)", len(config.communities))
        await runtime.run()
    finally:
        await app.close()
