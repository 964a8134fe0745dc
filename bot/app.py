"""The composition root: builds config, database, features and engine in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bot.config import Config, SettingsResolver, parse_config
from bot.engine import Engine
from bot.features import all_features
from bot.features.base import Feature
from storage.db import Database
from storage.repositories import Store


def feature_models(features: Sequence[Feature[Any]] | None = None) -> dict[str, type[BaseModel]]:
    """Each feature's settings model by feature name, for config validation."""
    return {f.name: f.settings_model for f in (all_features() if features is None else features)}


DEFAULT_CONFIG = """
[bot]
database_url = "{database_url}"
language = "{language}"

[[communities]]
name = "demo"
console_chats = ["general", "help", "offtopic", "mods"]
moderator_chat = "console:mods"
summary_chat = "console:general"
moderators = ["console:mod", "chat:mod"]
"""


def default_config(
    database_url: str = "sqlite+aiosqlite:///leumund.db",
    language: str = "de",
    extra: str = "",
    features: Sequence[Feature[Any]] | None = None,
) -> Config:
    """The embedded defaults: one community "demo", reachable from the console."""
    text = DEFAULT_CONFIG.format(database_url=database_url, language=language) + extra
    return parse_config(text, feature_models(features), source="<embedded defaults>")


@dataclass
class App:
    """Everything the bot is made of, built once and passed in."""

    config: Config
    db: Database
    engine: Engine

    @classmethod
    async def create(
        cls,
        config: Config,
        *,
        database_url: str | None = None,
        features: Sequence[Feature[Any]] | None = None,
    ) -> App:
        """Open the database (creating the schema if empty) and build the engine."""
        db = Database(database_url or config.bot.database_url, pool=config.bot.pool())
        try:
            await db.prepare()
        except BaseException:
            await db.dispose()
            raise
        built = list(features) if features is not None else all_features()
        resolver = SettingsResolver(config)
        engine = Engine(config, db, built, resolver=resolver)
        # Settings moderators changed with /config set survive restarts.
        from bot.features.moderation import load_overrides

        async with db.session() as session:
            await load_overrides(Store(session), resolver)
        return cls(config, db, engine)

    async def close(self) -> None:
        """Release the database."""
        await self.db.dispose()
