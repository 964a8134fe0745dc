"""Helpers shared by the ``leumund`` sub-commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.config import Config, ConfigError, load_config


def config_or_exit(path: Path | None, database_url: str | None = None) -> Config:
    """The config file's contents, or the embedded defaults; prints problems, exits 2."""
    from bot.app import default_config, feature_models

    try:
        if path is None:
            return default_config(database_url or "sqlite+aiosqlite:///leumund.db")
        return load_config(path, feature_models())
    except ConfigError as exc:
        click.echo(f"{exc.source}: the config has {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
