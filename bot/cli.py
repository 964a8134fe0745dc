"""The ``leumund`` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from adapters.imports.detect import Format, FormatError, Item, detect, merge_by_time
from adapters.imports.discord_export import DiscordExportReader
from adapters.imports.telegram_export import TelegramExportReader
from bot.app import App
from bot.cliutil import config_or_exit
from bot.config import Config, ConfigError
from bot.features import all_features
from bot.features.base import Analyser
from bot.features.summary.cli import summary_command
from bot.logs import setup_logging
from bot.replay import ReplayStats, counting, jsonl_reader, replay_items
from storage import models
from storage.db import Database, DatabaseError
from storage.faults import StorageFailure, fatal_reason

T = TypeVar("T")
err = Console(stderr=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


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
    config = config_or_exit(config_path)
    setup_logging(config.bot.log_level)
    for warning in config.warnings:
        err.print(f"[yellow]warning[/yellow]: {warning}")
    from bot.launch import launch

    try:
        _run(launch(config))
    except (ConfigError, DatabaseError) as exc:
        err.print(f"[red]cannot start[/red]: {exc}", markup=True, highlight=False)
        sys.exit(2)
    except StorageFailure as exc:
        err.print(
            f"[red]stopped[/red]: {exc}. Everything stored before is kept; "
            "fix the database and start again.",
            markup=True,
            highlight=False,
        )
        sys.exit(3)


@main.command()
@CONFIG_OPTION
@DB_OPTION
@click.option("--as", "who", default="alice", show_default=True, help="Whom you speak as first.")
def console(config_path: Path | None, database_url: str | None, who: str) -> None:
    """Chat with the bot in the terminal, speaking as several members."""
    from adapters.console import ConsoleChat, run_console

    with tempfile.TemporaryDirectory(prefix="leumund-console-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/console.db"
        config = config_or_exit(config_path, url)

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
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
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
@click.option(
    "--community",
    default=None,
    help="Community for JSONL lines that name none and for chats no community lists.",
)
@click.option(
    "--chat",
    "chats",
    multiple=True,
    metavar="NAME|ID",
    help="Telegram export: import this chat (name or id; repeatable). "
    "Default: every group; personal chats, channels and left chats only when named.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Replay into a temporary copy of the database (SQLite) or an empty one and print "
    "what would change; the database itself is not written.",
)
def replay_command(
    files: tuple[Path, ...],
    config_path: Path | None,
    database_url: str | None,
    decisions_path: Path | None,
    report_path: Path | None,
    community: str | None,
    chats: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Replay chat histories through the full pipeline.

    FILES are generic JSONL, Telegram Desktop exports (result.json of one chat or of the
    whole account) or DiscordChatExporter JSON files (one per channel), detected by their
    content. Several files are replayed together in time order. Importing the same history
    twice, or an overlapping newer export, counts nothing twice.
    """
    config = config_or_exit(config_path, database_url)
    url = database_url or config.bot.database_url
    if community is not None and config.community(community) is None:
        raise click.BadParameter(f"unknown community {community!r}", param_hint="--community")
    try:
        sources = [(file, detect(file)) for file in files]
    except FormatError as exc:
        err.print(f"[red]cannot replay[/red]: {exc}", highlight=False)
        sys.exit(2)
    if chats and not any(kind.value.startswith("telegram") for _, kind in sources):
        err.print("[yellow]warning[/yellow]: --chat applies to Telegram exports only")

    async def go(target: str) -> tuple[ReplayStats, dict[str, float], dict[str, float]]:
        from bot.launch import batch_collections, settle_heap

        app = await App.create(config, database_url=target)
        # As the running bot does: full collections during a long replay need not walk
        # everything start-up built.
        settle_heap()
        try:
            before = await _totals(app)
            with contextlib.ExitStack() as stack:
                stack.enter_context(batch_collections())
                out = (
                    stack.enter_context(decisions_path.open("w", encoding="utf-8"))
                    if decisions_path
                    else None
                )
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
                task = bar.add_task("replay", total=sum(f.stat().st_size for f in files))
                history = _History(config, community, chats, lambda n: bar.advance(task, n))
                items = history.open(sources, stack, lambda total: bar.update(task, total=total))
                stats = await replay_items(app, items, stats=history.stats, decisions_out=out)
                history.finish()
            return stats, before, await _totals(app)
        finally:
            await app.close()

    with tempfile.TemporaryDirectory(prefix="leumund-dry-run-") as tmp:
        target, copied = _dry_run_target(url, Path(tmp)) if dry_run else (url, "")
        try:
            stats, before, after = _run(go(target))
        except FormatError as exc:
            err.print(f"[red]cannot replay[/red]: {exc}", highlight=False)
            sys.exit(2)
        except Exception as exc:
            reason = fatal_reason(exc)
            if reason is None:
                raise
            err.print(
                f"[red]replay stopped[/red]: {reason} ({target}). What was stored before "
                "is kept; run the same command again once the database can be written, "
                "it continues where it stopped.",
                highlight=False,
            )
            sys.exit(3)
    _print_stats(stats, url, before, after)
    if dry_run:
        err.print(
            f"dry run: replayed into {copied}; {url} was not changed",
            highlight=False,
            soft_wrap=True,
        )
    if report_path is not None:
        report_path.write_text(_report(files, stats, before, after), encoding="utf-8")
        err.print(f"report written to {report_path}")
    if stats.errors:
        sys.exit(1)


class _History:
    """The readers of the files of one replay, merged into one stream in time order."""

    def __init__(
        self,
        config: Config,
        community: str | None,
        chats: tuple[str, ...],
        progress: Callable[[int], None],
    ) -> None:
        self.config = config
        self.default = (
            config.community(community) if community else None
        ) or config.default_community()
        self.chats = chats
        self.progress = progress
        self.stats = ReplayStats()
        self.readers: list[TelegramExportReader | DiscordExportReader] = []

    def community_of(self, chat: str) -> str:
        """The community of a chat key (``telegram:-100…``, ``discord-guild:…``)."""
        found = self.config.community_for_chat(chat)
        return (found or self.default).name

    def open(
        self,
        sources: list[tuple[Path, Format]],
        stack: contextlib.ExitStack,
        set_total: Callable[[int], None],
    ) -> Iterator[Item]:
        """One stream of items over all files (several files: merged by time).

        ``set_total`` gets the bytes the progress bar will see: an account export with
        several chats is read once to plan and then once per chat.
        """
        streams: list[Iterator[Item]] = []
        total = 0
        for path, kind in sources:
            size = path.stat().st_size
            total += size
            if kind is Format.JSONL:
                streams.append(self._jsonl(stack.enter_context(path.open("rb"))))
            elif kind is Format.DISCORD:
                discord = DiscordExportReader(
                    self.community_of,
                    ignore_bots=self.config.discord.ignore_other_bots,
                    progress=self.progress,
                )
                self.readers.append(discord)
                streams.append(discord.read(path))
            else:
                reader = TelegramExportReader(
                    self.community_of,
                    chats=self.chats,
                    ignore_bots=self.config.telegram.ignore_other_bots,
                    local_tz=ZoneInfo(self.config.bot.timezone),
                    progress=self.progress,
                )
                self.readers.append(reader)
                plan = reader.plan(path)
                total += size * (plan.passes - 1)
                for chat in plan.skipped:
                    err.print(
                        f"{path.name}: skipped chat {chat.label}; choose it with --chat",
                        highlight=False,
                        soft_wrap=True,
                    )
                self.stats.notes["Telegram chats skipped"] += len(plan.skipped)
                streams.append(reader.read(path, plan))
        set_total(total)
        return streams[0] if len(streams) == 1 else merge_by_time(streams)

    def _jsonl(self, lines: Iterable[bytes]) -> Iterator[Item]:
        reader = jsonl_reader(self.config, self.default.name)
        return reader.read(counting(lines, self.stats, self.progress))

    def finish(self) -> None:
        """Add what the export readers counted to the stats."""
        for reader in self.readers:
            self.stats.notes.update(reader.counts)


def _dry_run_target(url: str, tmp: Path) -> tuple[str, str]:
    """A temporary SQLite database for --dry-run: a copy of a SQLite target, else empty."""
    target = tmp / "dry-run.db"
    parsed = make_url(url)
    source = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and source
        and source != ":memory:"
        and Path(source).exists()
    ):
        # The backup API copies a consistent state, also while the bot writes (WAL).
        with (
            contextlib.closing(sqlite3.connect(source)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
        return f"sqlite+aiosqlite:///{target}", f"a temporary copy of {source}"
    # PostgreSQL cannot be copied cheaply: the dry run shows what the files alone give.
    return f"sqlite+aiosqlite:///{target}", "an empty temporary database"


TOTALS = ("members", "messages", "karma", "flags", "complaints")


async def _totals(app: App) -> dict[str, float]:
    """Members, messages, karma points, promo flags and complaints in the database."""
    async with app.db.session() as session:
        row = (
            await session.execute(
                select(
                    select(func.count()).select_from(models.Member).scalar_subquery(),
                    select(func.count()).select_from(models.Message).scalar_subquery(),
                    select(
                        func.coalesce(func.sum(models.KarmaEntry.points), 0.0)
                    ).scalar_subquery(),
                    select(func.count()).select_from(models.Flag).scalar_subquery(),
                    select(func.count()).select_from(models.Complaint).scalar_subquery(),
                )
            )
        ).one()
    return {name: float(value or 0) for name, value in zip(TOTALS, row, strict=True)}


def _print_stats(
    stats: ReplayStats, url: str, before: dict[str, float], after: dict[str, float]
) -> None:
    table = Table(title="Replay", show_header=False)
    if stats.lines:
        table.add_row("lines read", str(stats.lines))
    table.add_row(
        "messages / reactions / commands / joins",
        f"{stats.messages} / {stats.reactions} / {stats.commands} / {stats.joins}",
    )
    table.add_row("already stored (skipped)", str(stats.duplicates))
    table.add_row("errors", str(len(stats.errors)))
    for note, count in sorted(stats.notes.items()):
        table.add_row(note, str(count))
    for kind, count in sorted(stats.decisions.items()):
        table.add_row(f"decisions: {kind}", str(count))
    for rule, count in sorted(stats.blocks.items()):
        table.add_row(f"karma blocked by rule {rule}", str(count))
    table.add_row("time", f"{stats.seconds:.1f} s ({stats.rate:,.0f} events/s)")
    table.add_row("database", url)
    for name in TOTALS:
        table.add_row(f"total {name}", _change(before[name], after[name]))
    err.print(table)
    for error in stats.errors[:20]:
        err.print(f"  [red]error[/red] {error}", highlight=False, soft_wrap=True)
    if len(stats.errors) > 20:
        err.print(f"  … and {len(stats.errors) - 20} more errors")


def _change(before: float, after: float) -> str:
    def number(value: float) -> str:
        return f"{value:g}" if value != int(value) else str(int(value))

    delta = after - before
    sign = "+" if delta >= 0 else "-"
    return f"{number(after)} ({sign}{number(abs(round(delta, 4)))})"


def _report(
    files: tuple[Path, ...], stats: ReplayStats, before: dict[str, float], after: dict[str, float]
) -> str:
    names = ", ".join(f.name for f in files)
    lines = [f"# Replay of {names}", "", "| what | count |", "|---|---|"]
    lines += [
        f"| lines | {stats.lines} |",
        f"| messages | {stats.messages} |",
        f"| reactions | {stats.reactions} |",
        f"| commands | {stats.commands} |",
        f"| joins | {stats.joins} |",
        f"| already stored | {stats.duplicates} |",
        f"| errors | {len(stats.errors)} |",
    ]
    lines += [f"| {note} | {count} |" for note, count in sorted(stats.notes.items())]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(stats.decisions.items())]
    lines += [f"| blocked: {rule} | {count} |" for rule, count in sorted(stats.blocks.items())]
    lines += [f"| total {n} | {_change(before[n], after[n])} |" for n in TOTALS]
    if stats.errors:
        lines += ["", "## Errors", ""] + [f"- {e}" for e in stats.errors]
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
    config = config_or_exit(config_path, database_url)
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
    config = config_or_exit(file)
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
