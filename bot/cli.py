"""The ``leumund`` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from bot.app import App, default_config, feature_models
from bot.config import Config, ConfigError, load_config
from bot.features import all_features
from bot.features.base import Analyser
from bot.features.summary.cli import summary_command
from bot.logs import setup_logging
from bot.replay import ReplayStats, replay
from storage.db import Database, DatabaseError

T = TypeVar("T")
err = Console(stderr=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _config(path: Path | None, database_url: str | None = None) -> Config:
    """The config file's contents, or the embedded defaults; exits 2 on problems."""
    try:
        if path is None:
            return default_config(database_url or "sqlite+aiosqlite:///leumund.db")
        return load_config(path, feature_models())
    except ConfigError as exc:
        click.echo(f"{exc.source}: the config has {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default: embedded defaults, one community 'demo').",
)
DB_OPTION = click.option(
    "--db", "database_url", default=None, help="Database URL; overrides [bot].database_url."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Log verbosity.",
)
def main(log_level: str) -> None:
    """Leumund: karma for helpers, fair rules, promo and complaint handling for communities."""
    setup_logging(log_level)


@main.command()
@CONFIG_OPTION
def run(config_path: Path | None) -> None:
    """Run the bot on the platforms enabled in the config."""
    if config_path is None:
        raise click.UsageError("run needs --config FILE (see config.example.toml)")
    config = _config(config_path)
    setup_logging(config.bot.log_level)
    for warning in config.warnings:
        err.print(f"[yellow]warning[/yellow]: {warning}")
    from bot.launch import launch

    try:
        _run(launch(config))
    except (ConfigError, DatabaseError) as exc:
        err.print(f"[red]cannot start[/red]: {exc}", markup=True, highlight=False)
        sys.exit(2)


@main.command()
@CONFIG_OPTION
@DB_OPTION
@click.option("--as", "who", default="alice", show_default=True, help="Whom you speak as first.")
def console(config_path: Path | None, database_url: str | None, who: str) -> None:
    """Chat with the bot in the terminal, speaking as several members."""
    from adapters.console import ConsoleChat, run_console

    with tempfile.TemporaryDirectory(prefix="leumund-console-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/console.db"
        config = _config(config_path, url)

        async def go() -> None:
            app = await App.create(config, database_url=url)
            try:
                community = config.default_community()
                chat = ConsoleChat(
                    app.engine,
                    community=community.name,
                    chat=(community.section.console_chats or ["general"])[0],
                )
                await run_console(chat, first_speaker=who)
            finally:
                await app.close()

        _run(go())


@main.command("replay")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@CONFIG_OPTION
@DB_OPTION
@click.option(
    "--decisions",
    "decisions_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every decision as JSON lines to this file.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a Markdown report of the replay to this file.",
)
@click.option("--community", default=None, help="Community for lines that name none.")
def replay_command(
    file: Path,
    config_path: Path | None,
    database_url: str | None,
    decisions_path: Path | None,
    report_path: Path | None,
    community: str | None,
) -> None:
    """Replay a chat history (generic JSONL) through the full pipeline."""
    config = _config(config_path, database_url)
    url = database_url or config.bot.database_url
    if community is not None and config.community(community) is None:
        raise click.BadParameter(f"unknown community {community!r}", param_hint="--community")
    total = file.stat().st_size

    async def go() -> ReplayStats:
        app = await App.create(config, database_url=url)
        try:
            with contextlib.ExitStack() as stack:
                out = (
                    stack.enter_context(decisions_path.open("w", encoding="utf-8"))
                    if decisions_path
                    else None
                )
                lines = stack.enter_context(file.open("rb"))
                bar = stack.enter_context(
                    Progress(
                        TextColumn("replaying"),
                        BarColumn(),
                        TextColumn("{task.percentage:>3.0f}%"),
                        TransferSpeedColumn(),
                        TimeRemainingColumn(),
                        console=err,
                        transient=False,
                    )
                )
                task = bar.add_task("replay", total=total)
                return await replay(
                    app,
                    lines,
                    decisions_out=out,
                    progress=lambda n: bar.advance(task, n),
                    community=community,
                )
        finally:
            await app.close()

    stats = _run(go())
    _print_stats(stats, url)
    if report_path is not None:
        report_path.write_text(_report(file, stats), encoding="utf-8")
        err.print(f"report written to {report_path}")
    if stats.errors:
        sys.exit(1)


def _print_stats(stats: ReplayStats, url: str) -> None:
    table = Table(title="Replay", show_header=False)
    table.add_row("lines read", str(stats.lines))
    table.add_row(
        "messages / reactions / commands",
        f"{stats.messages} / {stats.reactions} / {stats.commands}",
    )
    table.add_row("already stored (skipped)", str(stats.duplicates))
    table.add_row("bad lines", str(len(stats.errors)))
    for kind, count in sorted(stats.decisions.items()):
        table.add_row(f"decisions: {kind}", str(count))
    for rule, count in sorted(stats.blocks.items()):
        table.add_row(f"karma blocked by rule {rule}", str(count))
    table.add_row("time", f"{stats.seconds:.1f} s ({stats.rate:,.0f} events/s)")
    table.add_row("database", url)
    err.print(table)
    for error in stats.errors[:20]:
        err.print(f"  [red]bad[/red] {error}", highlight=False)
    if len(stats.errors) > 20:
        err.print(f"  … and {len(stats.errors) - 20} more bad lines")


def _report(file: Path, stats: ReplayStats) -> str:
    lines = [f"# Replay of {file.name}", "", "| what | count |", "|---|---|"]
    lines += [
        f"| lines | {stats.lines} |",
        f"| messages | {stats.messages} |",
        f"| reactions | {stats.reactions} |",
        f"| commands | {stats.commands} |",
        f"| already stored | {stats.duplicates} |",
        f"| bad lines | {len(stats.errors)} |",
    ]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(stats.decisions.items())]
    lines += [f"| blocked: {rule} | {count} |" for rule, count in sorted(stats.blocks.items())]
    if stats.errors:
        lines += ["", "## Bad lines", ""] + [f"- {e}" for e in stats.errors]
    return "\n".join(lines) + "\n"


def _analysers() -> list[Analyser]:
    return [f for f in all_features() if isinstance(f, Analyser)]


@main.command()
def analyze() -> None:
    """Score JSONL lines {"id", "text", "lang"} from stdin; one JSON line out per line in."""
    analysers = _analysers()
    bad = 0
    for number, raw in enumerate(sys.stdin, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError("expected an object with a string 'text'")
            lang = item.get("lang")
            if lang not in (None, "de", "en"):
                raise ValueError("lang must be 'de', 'en' or null")
        except (ValueError, RecursionError) as exc:
            bad += 1
            click.echo(json.dumps({"id": None, "line": number, "error": str(exc)}))
            continue
        out: dict[str, Any] = {"id": item.get("id")}
        for analyser in analysers:
            out.update(analyser.analyse(item["text"], lang))
        click.echo(json.dumps(out, ensure_ascii=False))
    if bad:
        sys.exit(1)


@main.command()
@click.argument("text")
@click.option("--lang", type=click.Choice(["de", "en"]), default=None, help="Language hint.")
def explain(text: str, lang: str | None) -> None:
    """Say why a text counts (or not) as thanks, promotion or a complaint."""
    analysers = _analysers()
    if not analysers:
        click.echo("no analysing features are installed")
        return
    for analyser in analysers:
        for line in analyser.explain(text, lang):
            click.echo(line)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@CONFIG_OPTION
@DB_OPTION
def db_upgrade(config_path: Path | None, database_url: str | None) -> None:
    """Create or upgrade the schema to this version (back up first)."""
    config = _config(config_path, database_url)
    url = database_url or config.bot.database_url

    async def go() -> tuple[str | None, str | None]:
        database = Database(url)
        try:
            before = await database.current_revision()
            await database.upgrade()
            return before, await database.current_revision()
        finally:
            await database.dispose()

    before, after = _run(go())
    click.echo(f"database at revision {after} (was {before or 'empty'})")


@main.group("config")
def config_group() -> None:
    """Configuration files."""


@config_group.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def config_check(file: Path) -> None:
    """Check a config file; print every problem with its key path; exit 2 if any."""
    config = _config(file)
    for warning in config.warnings:
        click.echo(f"warning: {warning}")
    names = ", ".join(c.name for c in config.communities)
    click.echo(f"{file}: ok — {len(config.communities)} community(ies): {names}")


main.add_command(summary_command)


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("leumund-demo"),
    show_default=True,
    help="Where the demo writes its database and reports.",
)
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
def demo(out_dir: Path, lang: str) -> None:
    """Replay the bundled sample community and show what the bot did."""
    from bot.demo import run_demo

    sys.exit(_run(run_demo(out_dir, lang, Console())))
